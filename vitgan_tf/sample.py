"""Sample grids and latent interpolations from a run's EMA generator.

    python -m vitgan_tf.sample --workdir=runs/digits --num=64 --out=grid.png
    python -m vitgan_tf.sample --workdir=runs/digits --seeds=0-7,42 --out=chosen.png
    python -m vitgan_tf.sample --workdir=runs/digits --interpolation_steps=8 --out=interp.png
    python -m vitgan_tf.sample --workdir=runs/fashion_mnist_cond --classes=0-9 --num=8 --out=c.png

Image i of a grid is the latent of seed `--seed` + i (or the i-th of `--seeds`), drawn with
`rng.latents_from_seeds`, the convention of the training grids and of the served
`generate_from_seeds` signature: seed S is the same image everywhere.

A conditional run's grid has one row per class (`--classes`, default all; `--class` for one),
with the same seeds in every row: image (seed S, class C) is the latent of seed S with label C.
"""

import os

import numpy as np
from absl import flags

from vitgan_tf import cli, rundir
from vitgan_tf.errors import UserError

# TensorFlow (through `images` and `rng`) is imported only once the flags and the run directory
# have been checked: a mistake is reported in a second, not after TensorFlow's start-up.

IMAGE_EXTENSIONS = (".png",)
MAX_IMAGES = 4096  # one PNG grid: 64 x 64 images (a 2048 x 2048 PNG at 32 px)
MAX_GRID_PIXELS = 2**26  # and at most 8192 x 8192 pixels, so that it fits memory at any size


def define_flags():
    """Command-line flags (defined only when run as a program)."""
    cli.define_run_flags("Truncation psi: 1 none, smaller trades variety for quality.")
    flags.DEFINE_integer("num", None, "Images in the grid (default 64; in a conditional run's "
                         "grid, images per class row: default 8), or interpolation rows "
                         "(default 8).")
    flags.DEFINE_string("seeds", "", "Seeds of the images, e.g. 0-7,42 (overrides --num and "
                        "--seed).")
    flags.DEFINE_string("out", "grid.png", "Output PNG.")
    flags.DEFINE_integer("seed", 0, "First seed: the grid shows seeds seed .. seed + num - 1.")
    flags.DEFINE_string("classes", "", "Conditional runs: the class ids of the rows, e.g. 0-9 "
                        "or 7,9 (default: every class); --num and --seeds then count images "
                        "per row.")
    flags.DEFINE_integer("class", None, "Conditional runs: one class id (one row); "
                         "the same as --classes=ID.")
    flags.DEFINE_integer("interpolation_steps", 0,
                         "If > 1, write rows interpolating (in w space) between pairs of latents, "
                         "this many images per row, instead of a grid.")


def parse_seeds(text, limit=None):
    """"0-3,7" -> [0, 1, 2, 3, 7]. More than `limit` seeds raise UserError before any list is
    built (a range such as 0-99999999 would otherwise take minutes and gigabytes)."""
    seeds = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        low, sep, high = part.partition("-")
        try:
            low, high = int(low), int(high) if sep else int(low)
        except ValueError:
            raise UserError(
                ": expected integers and ranges such as 0-7,42.",
                argument="seeds", value=text) from None
        if not 0 <= low < SEED_LIMIT or not 0 <= high < SEED_LIMIT:
            raise UserError(f": {part} is outside [0, 2**63); expected seeds such as 0-7,42.",
                            argument="seeds", value=text)
        if high < low:
            raise UserError(f": the range {part} is reversed; write {high}-{low}.",
                            argument="seeds", value=text)
        values = range(low, high + 1)
        if limit is not None and len(seeds) + len(values) > limit:
            raise UserError(f"--seeds={text!r}: more than {limit} images, the most that one "
                            "PNG grid holds; " + _MANY)
        seeds.extend(values)
    if not seeds:
        raise UserError(": expected seeds in [0, 2**63), e.g. 0-7,42.",
                        argument="seeds", value=text)
    return seeds


SEED_LIMIT = 2**63  # seeds are int64 (rng.latents_from_seeds)


_MANY = ("to write more images, run sample once per seed range (e.g. --seeds=0-4095, then "
         "--seeds=4096-8191), or export the generator and call generate_from_seeds.")


def max_images(image_size):
    """The most images one grid may hold at this image size."""
    return max(1, min(MAX_IMAGES, MAX_GRID_PIXELS // image_size**2))


def check_count(num, interpolation_steps, limit):
    """Refuse a grid of more than `limit` images (--num, times --interpolation_steps)."""
    count = num * max(interpolation_steps, 1)
    if count > limit:
        what = (f"--num={num} x --interpolation_steps={interpolation_steps}"
                if interpolation_steps else f"--num={num}")
        raise UserError(f"{what}: {count} images, more than the {limit} that one PNG grid "
                        "holds; " + _MANY)


def parse_classes(text, names, flag="--classes"):
    """"0-2,7" -> [0, 1, 2, 7], each checked against the run's class names."""
    ids = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        low, sep, high = part.partition("-")
        try:
            ids.extend(range(int(low), int(high) + 1) if sep else [int(low)])
        except ValueError:
            ids = None
            break
    if not ids or min(ids) < 0 or max(ids) >= len(names):
        shown = ", ".join(f"{i}: {name}" for i, name in enumerate(names[:10]))
        more = ", ..." if len(names) > 10 else ""
        raise UserError(f"{flag}={text!r}: expected class ids in [0, {len(names)}) such as "
                        f"0-{len(names) - 1} ({shown}{more}).")
    return ids


def seed_images(generator, seeds, truncation_psi=1.0, batch_size=256, labels=None):
    """The generator's images (float, [-1, 1] nominally) of the latents of `seeds`, with the
    class ids `labels` (one per seed) for a conditional generator (`images.seed_images`)."""
    from vitgan_tf import images as images_lib

    return images_lib.seed_images(generator, seeds, truncation_psi, labels, batch_size)


def sample_grid(generator, num, truncation_psi=1.0, seed=0, seeds=None, classes=None):
    """A grid of the seeds' images (`seeds`, or seed .. seed + num - 1); with `classes`, one
    row per class, the seeds in every row (`images.class_grid`)."""
    from vitgan_tf import images as images_lib

    seeds = list(seeds) if seeds is not None else list(range(seed, seed + num))
    return images_lib.class_grid(generator, seeds, classes, truncation_psi)


def interpolation_rows(generator, rows, steps, truncation_psi=1.0, seed=0, classes=None):
    """Row r walks linearly in w space from the w of seed `seed + r` to that of
    `seed + rows + r` (conditional: both of class classes[r mod len(classes)])."""
    from vitgan_tf import images as images_lib
    from vitgan_tf import rng

    dim = generator.vitgan_config.latent_dim
    z = rng.latents_from_seeds(np.arange(seed, seed + 2 * rows), dim)
    labels = None
    if classes is not None:
        labels = np.tile(np.resize(np.asarray(classes), rows), 2)
    labels = generator.labels_for(z, labels)  # a self-conditioned model's clusters
    w = np.asarray(generator.truncate(generator.mapping(z, labels=labels), truncation_psi,
                                      labels))
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[None, :, None]
    walk = (1 - t) * w[:rows, None] + t * w[rows:, None]  # (rows, steps, dim)
    images = generator.synthesize(walk.reshape(rows * steps, dim)).numpy()
    return images_lib.image_grid(images, columns=steps)


def grid_classes(flag_values, names):
    """The rows' class ids from --class / --classes (a conditional run's names), or None."""
    one, many = flag_values["class"].value, flag_values.classes
    if names is None:
        if one is not None or many:
            flag = "--class" if one is not None else "--classes"
            raise UserError(f"{flag}: the run is not conditional (it was trained without "
                            "--conditional); drop the flag.")
        return None
    if one is not None:
        return parse_classes(str(one), names, "--class")
    return parse_classes(many, names) if many else list(range(len(names)))


def check_output(path):
    """Refuse an output PNG path that cannot be written, before any work."""
    if not path.lower().endswith(IMAGE_EXTENSIONS):
        raise UserError(": expected a .png file name.", argument="out", value=path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UserError(f": the folder {folder} does not exist.", argument="out", value=path)
    if os.path.isdir(path) or not os.access(folder, os.W_OK):
        raise UserError(": cannot write a file there.", argument="out", value=path)


def main(argv):
    del argv  # Checked by cli.run_main.
    FLAGS = flags.FLAGS
    if FLAGS.num is not None and FLAGS.num < 1:
        raise UserError(": expected a positive integer.", argument="num", value=FLAGS.num)
    if FLAGS.seed < 0:
        raise UserError(": expected an integer >= 0.", argument="seed", value=FLAGS.seed)
    cli.check_truncation_psi(FLAGS.truncation_psi)
    if FLAGS.interpolation_steps == 1 or FLAGS.interpolation_steps < 0:
        raise UserError(": expected 0 "
                        "(a grid) or at least 2.",
                        argument="interpolation_steps", value=FLAGS.interpolation_steps)
    check_output(FLAGS.out)
    classes = grid_classes(FLAGS, rundir.load_classes(FLAGS.workdir))
    rows = 1 if classes is None or FLAGS.interpolation_steps else len(classes)
    num = FLAGS.num or (64 if rows == 1 and not FLAGS.interpolation_steps else 8)
    limit = max_images(rundir.load_config(FLAGS.workdir)[1].image_size) // rows
    seeds = parse_seeds(FLAGS.seeds, limit) if FLAGS.seeds else None
    if seeds is None:
        check_count(num, FLAGS.interpolation_steps, limit)
        last = FLAGS.seed + num * (2 if FLAGS.interpolation_steps else 1) - 1
        if last >= SEED_LIMIT:
            raise UserError(f": the grid's last seed would be {last}, outside [0, 2**63); "
                            "start lower.", argument="seed", value=FLAGS.seed)
    _, generator, checkpoint, step = rundir.load_generator(FLAGS.workdir,
                                                           FLAGS.checkpoint or None)
    if FLAGS.interpolation_steps:
        grid = interpolation_rows(generator, num, FLAGS.interpolation_steps,
                                  FLAGS.truncation_psi, FLAGS.seed, classes)
    else:
        grid = sample_grid(generator, num, FLAGS.truncation_psi, FLAGS.seed, seeds, classes)
    from vitgan_tf import images as images_lib

    images_lib.save_png(grid, FLAGS.out)
    print(f"Wrote {FLAGS.out} ({grid.shape[1]}x{grid.shape[0]}) from {checkpoint} (step {step}).")


def run():
    """Console script entry point (`vitgan-sample`)."""
    define_flags()
    cli.run_main(main)


if __name__ == "__main__":
    run()
