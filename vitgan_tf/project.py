"""Projection: the style w whose image matches a target image (StyleGAN2's projector, for a
ViTGAN run).

    python -m vitgan_tf.project --workdir=runs/fashion_mnist --target=shoe.png --out=proj/
    python -m vitgan_tf.sample --workdir=runs/fashion_mnist --w=proj/w.npy --out=again.png

It starts from the style nearest to the target, in the loss below, among the mean style
(`w_avg`; a conditional run's mean for `--class`) and `--candidates` seeds' styles, and minimises,
with Adam, the pixel distance mean((G(w) - x)^2) plus `--perceptual_weight` times a perceptual
distance: the squared distance between the unit-length penultimate features of G(w) and of x
in a Fashion-MNIST classifier shipped with the package (`--perceptual`; it works offline). For a
28x28 grayscale run the default is the first judge, `fashion_classifier`; for other data the
default is pixels alone, and `--perceptual=fashion_classifier` reads their images as gray 28x28.
`--w_plus` optimises one style per place that takes one (`Generator.num_ws`) instead of one
for all. The learning rate ramps up over the first 5% of the steps and down (cosine) over the
last 25%, as StyleGAN2's projector does.

DIR gets: projected.png, target.png (the target as the model sees it), w.npy ((1, latent_dim),
or (1, num_ws, latent_dim) with --w_plus), projection.gif (target | projection every few
steps) and projection.json (the distances before and after, the steps, the seconds).
"""

import json
import math
import os
import time

import numpy as np
from absl import flags

from vitgan_tf import cli, rundir
from vitgan_tf.errors import UserError

PERCEPTUAL = ("auto", "fashion_classifier", "fashion_resnet", "none")


def define_flags():
    flags.DEFINE_string("workdir", None, "Training run directory.")
    flags.DEFINE_string("checkpoint", "", "Checkpoint path, or best (the lowest in-training "
                        "FD); default the latest in the workdir.")
    flags.DEFINE_string("target", None, "The image to project (PNG or JPEG), of the run's size "
                        "and channels.")
    flags.DEFINE_string("out", None, "Output folder (created).")
    flags.DEFINE_integer("steps", 300, "Optimisation steps.")
    flags.DEFINE_float("lr", 0.05, "Adam's peak learning rate.")
    flags.DEFINE_integer("candidates", 256, "Start from the nearest (in the loss) of the mean "
                         "style and this many seeds' styles; 0: the mean style.")
    flags.DEFINE_bool("w_plus", False, "Optimise one style per place (W+), not one for all.")
    flags.DEFINE_enum("perceptual", "auto", PERCEPTUAL, "The features of the perceptual "
                      "distance: auto (fashion_classifier for 28x28 grayscale runs, none "
                      "otherwise), fashion_classifier, fashion_resnet, none (pixels alone).")
    flags.DEFINE_float("perceptual_weight", 0.5, "Weight of the perceptual distance.")
    flags.DEFINE_integer("class", None, "Conditional runs: the class of the target.")
    flags.mark_flags_as_required(["workdir", "target", "out"])


# -- the math --------------------------------------------------------------------------------

def unit(features):
    """Rows scaled to unit length (a zero row stays zero)."""
    import tensorflow as tf

    features = tf.convert_to_tensor(features, tf.float32)
    return features / tf.maximum(tf.norm(features, axis=-1, keepdims=True), 1e-8)


def distances(images, targets, features=None, target_features=None):
    """Per image: (pixel, perceptual) distances, pixel = mean over pixels of (x - t)^2,
    perceptual = ||f(x)/|f(x)| - f(t)/|f(t)| ||^2 (0 without `features`, a differentiable
    callable images -> (N, d))."""
    import tensorflow as tf

    images = tf.convert_to_tensor(images, tf.float32)
    pixel = tf.reduce_mean(tf.square(images - targets), axis=[1, 2, 3])
    if features is None:
        return pixel, tf.zeros_like(pixel)
    mine = unit(features(images))
    theirs = unit(target_features if target_features is not None else features(targets))
    return pixel, tf.reduce_sum(tf.square(mine - theirs), axis=-1)


def projection_loss(images, targets, features=None, weight=0.0, target_features=None):
    """Sum over the batch of pixel + weight * perceptual (`distances`): each target's own w
    gets the gradient of its own distance."""
    import tensorflow as tf

    pixel, perceptual = distances(images, targets, features, target_features)
    return tf.reduce_sum(pixel + weight * perceptual)


def learning_rate(step, steps, peak):
    """StyleGAN2's projector schedule: linear ramp-up over the first 5%, cosine ramp-down over
    the last 25%."""
    t = step / max(steps, 1)
    ramp = min(1.0, (1.0 - t) / 0.25)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    return peak * ramp * min(1.0, t / 0.05)


def start_styles(generator, count, labels=None):
    """The mean style (of each row's class), (count, latent_dim)."""
    w_avg = np.asarray(generator.w_avg.numpy(), np.float32)
    return w_avg[np.asarray(labels)] if generator.num_classes else np.tile(w_avg[None],
                                                                            (count, 1))


def nearest_styles(generator, targets, candidates, features=None, perceptual_weight=0.0,
                   labels=None):
    """For each target, the style among the mean style and those of seeds 0 .. candidates-1
    (of each target's class, for a conditional generator) whose image is nearest in the
    projection's loss: a start in the right region (from the mean style alone, a boot's
    projection could end as a pullover). Returns (N, latent_dim) float32."""
    from vitgan_tf import rng

    targets = np.asarray(targets, np.float32)
    z = rng.latents_from_seeds(np.arange(candidates), generator.vitgan_config.latent_dim)
    target_features = None if features is None else features(targets)
    best = start_styles(generator, len(targets), labels=labels)
    best_loss = np.full(len(targets), np.inf)
    for k in range(-1, candidates):  # -1: the mean style
        w = best if k < 0 else np.asarray(generator.styles(
            np.repeat(z[k:k + 1], len(targets), 0), labels=labels))
        pixel, perceptual = distances(generator.synthesize(w), targets, features,
                                      target_features)
        loss = np.asarray(pixel + perceptual_weight * perceptual)
        better = loss < best_loss
        best = np.where(better[:, None], w, best)
        best_loss = np.where(better, loss, best_loss)
    return best.astype(np.float32)


def project(generator, targets, steps=300, lr=0.05, w_plus=False, features=None,
            perceptual_weight=0.0, labels=None, snapshot_every=0, progress=None,
            candidates=0):
    """Projects each of `targets` ((N, H, W, C) in [-1, 1]) independently, from the mean style
    or (`candidates` > 0) from the nearest of that many seeds' styles (`nearest_styles`).
    Returns (w, images, snapshots): the styles found, their images, and with `snapshot_every`
    the images every that many steps (a list). progress: optional callable(step, loss)."""
    import keras
    import tensorflow as tf

    start = (nearest_styles(generator, targets, candidates, features, perceptual_weight, labels)
             if candidates else start_styles(generator, len(targets), labels=labels))
    if w_plus:
        start = np.repeat(start[:, None], generator.num_ws, axis=1)
    targets = tf.constant(np.asarray(targets, np.float32))
    target_features = None if features is None else tf.stop_gradient(features(targets))
    w = keras.Variable(start, name="w")
    optimizer = keras.optimizers.Adam(lr, beta_1=0.9, beta_2=0.999)
    optimizer.build([w])

    @tf.function(reduce_retracing=True)
    def step(rate):
        optimizer.learning_rate.assign(rate)
        with tf.GradientTape() as tape:
            images = generator.synthesize(w.value)
            loss = projection_loss(images, targets, features, perceptual_weight,
                                   target_features)
        optimizer.apply([tape.gradient(loss, w.value)], [w])
        return loss

    snapshots = []
    for i in range(steps):
        if snapshot_every and i % snapshot_every == 0:
            snapshots.append(np.asarray(generator.synthesize(w.value)))
        loss = step(tf.constant(learning_rate(i, steps, lr), tf.float32))
        if progress is not None:
            progress(i + 1, float(loss))
    images = np.asarray(generator.synthesize(w.value))
    if snapshot_every:
        snapshots.append(images)
    return w.numpy(), images, snapshots


# -- the command -----------------------------------------------------------------------------

def read_target(path, image_size, channels):
    """The target image as (1, S, S, C) in [-1, 1]; UserError naming --target when it is not an
    image of the run's size and channel count."""
    from PIL import Image, UnidentifiedImageError

    if not os.path.isfile(path):
        raise UserError(": no such file.", argument="target", value=path)
    try:
        with Image.open(path) as image:
            image.load()
            mode, size = image.mode, image.size
            array = np.asarray(image)
    except (UnidentifiedImageError, OSError) as error:
        raise UserError(f": not an image ({error.__class__.__name__}).", argument="target",
                        value=path) from None
    if array.ndim == 2:
        array = array[..., None]
    if mode in ("RGBA", "LA"):
        array = array[..., :-1]
    if size != (image_size, image_size) or array.shape[-1] != channels:
        what = "grayscale" if channels == 1 else "RGB"
        raise UserError(f": a {size[0]}x{size[1]} image with {array.shape[-1]} channel(s); "
                        f"the run draws {image_size}x{image_size} {what} images ({channels} "
                        "channel(s)).", argument="target", value=path)
    return (array.astype(np.float32) / 127.5 - 1.0)[None]


def perceptual_extractor(name, model):
    """The extractor of --perceptual (None for pixels alone) and the name it resolved to."""
    if name == "auto":
        name = "fashion_classifier" if (model.image_size, model.channels) == (28, 1) else "none"
    if name == "none":
        return None, name
    from vitgan_tf import features

    return features.FashionClassifier(arch="resnet" if name == "fashion_resnet" else "cnn"), name


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    if FLAGS.candidates < 0:
        raise UserError(": expected 0 or more.", argument="candidates", value=FLAGS.candidates)
    if FLAGS.steps < 1:
        raise UserError(": expected a positive integer.", argument="steps", value=FLAGS.steps)
    if not (FLAGS.lr > 0 and math.isfinite(FLAGS.lr)):
        raise UserError(": expected a positive number.", argument="lr", value=FLAGS.lr)
    if not (FLAGS.perceptual_weight >= 0 and math.isfinite(FLAGS.perceptual_weight)):
        raise UserError(": expected a number >= 0.", argument="perceptual_weight",
                        value=FLAGS.perceptual_weight)
    _, model = rundir.load_config(FLAGS.workdir)
    names = rundir.load_classes(FLAGS.workdir)
    class_id = FLAGS["class"].value
    if names is not None and class_id is None:
        raise UserError(f"--class: the run is conditional; give the target's class with "
                        f"--class=ID (0-{len(names) - 1}).")
    if names is None and class_id is not None:
        raise UserError("--class: the run is not conditional; drop the flag.")
    if names is not None and not 0 <= class_id < len(names):
        raise UserError(f": expected a class id in [0, {len(names)}).", argument="class",
                        value=class_id)
    target = read_target(FLAGS.target, model.image_size, model.channels)
    if os.path.exists(FLAGS.out) and not os.path.isdir(FLAGS.out):
        raise UserError(": is a file; expected a folder.", argument="out", value=FLAGS.out)
    os.makedirs(FLAGS.out, exist_ok=True)
    _, generator, checkpoint, step = rundir.load_generator(FLAGS.workdir,
                                                           FLAGS.checkpoint or None)
    extractor, perceptual = perceptual_extractor(FLAGS.perceptual, model)
    features = None if extractor is None else extractor.pool
    weight = FLAGS.perceptual_weight if features is not None else 0.0
    labels = None if class_id is None else np.array([class_id])
    print(f"Projecting {FLAGS.target} onto {checkpoint} (step {step}): {FLAGS.steps} steps, "
          f"{'W+' if FLAGS.w_plus else 'W'}, perceptual distance: {perceptual}.", flush=True)
    start = time.perf_counter()
    every = max(1, FLAGS.steps // 50)

    def progress(i, loss):
        if i % max(1, FLAGS.steps // 10) == 0 or i == FLAGS.steps:
            print(f"step {i}/{FLAGS.steps}  loss {loss:.4f}", flush=True)

    import tensorflow as tf

    start_w = start_styles(generator, 1, labels)
    before = [float(d[0]) for d in distances(generator.synthesize(tf.constant(start_w)),
                                             target, features)]
    w, images, snapshots = project(generator, target, FLAGS.steps, FLAGS.lr, FLAGS.w_plus,
                                   features, weight, labels, every, progress,
                                   FLAGS.candidates)
    seconds = time.perf_counter() - start
    after = [float(d[0]) for d in distances(images, target, features)]
    write_outputs(FLAGS.out, target, images, w, snapshots)
    report = {"target": os.path.abspath(FLAGS.target), "checkpoint": checkpoint, "step": step,
              "steps": FLAGS.steps, "candidates": FLAGS.candidates, "w_plus": FLAGS.w_plus,
              "perceptual": perceptual,
              "perceptual_weight": weight, "class": class_id,
              "before": {"pixel": before[0], "perceptual": before[1]},
              "after": {"pixel": after[0], "perceptual": after[1]},
              "seconds": round(seconds, 2)}
    with open(os.path.join(FLAGS.out, "projection.json"), "w") as f:
        json.dump(report, f, indent=2)
    print(f"Pixel distance {before[0]:.4f} -> {after[0]:.4f}, perceptual {before[1]:.4f} -> "
          f"{after[1]:.4f} in {seconds:.1f} s. Wrote {FLAGS.out}/projected.png, target.png, "
          "w.npy, projection.gif, projection.json.")


def write_outputs(folder, target, images, w, snapshots):
    """projected.png, target.png, w.npy and projection.gif (target | image, per snapshot)."""
    from vitgan_tf import images as images_lib
    from vitgan_tf import sample

    images_lib.save_png(images_lib.image_grid(images[:1], columns=1, border=0),
                        os.path.join(folder, "projected.png"))
    images_lib.save_png(images_lib.image_grid(target[:1], columns=1, border=0),
                        os.path.join(folder, "target.png"))
    tmp = os.path.join(folder, "w.tmp.npy")
    np.save(tmp, np.asarray(w[:1], np.float32))
    os.replace(tmp, os.path.join(folder, "w.npy"))
    frames = [images_lib.image_grid(np.concatenate([target[:1], s[:1]]), columns=2)
              for s in snapshots]
    if frames:
        sample.write_video(frames, os.path.join(folder, "projection.gif"), fps=10)


def run():
    """Console script entry point (`vitgan-project`)."""
    define_flags()
    cli.run_main(main)


if __name__ == "__main__":
    run()
