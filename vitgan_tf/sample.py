"""Sample grids and latent interpolations from a run's EMA generator.

    python -m vitgan_tf.sample --workdir=runs/digits --num=64 --out=grid.png
    python -m vitgan_tf.sample --workdir=runs/digits --seeds=0-7,42 --out=chosen.png
    python -m vitgan_tf.sample --workdir=runs/digits --interpolation_steps=8 --out=interp.png
    python -m vitgan_tf.sample --workdir=runs/fashion_mnist_cond --classes=0-9 --num=8 --out=c.png
    python -m vitgan_tf.sample --workdir=runs/fashion_mnist --interpolation_steps=60 --out=walk.gif
    python -m vitgan_tf.sample --workdir=runs/fashion_mnist --style_mix=0-5:10-15 --mix_blocks=0-1

Image i of a grid is the latent of seed `--seed` + i (or the i-th of `--seeds`), drawn with
`rng.latents_from_seeds`, the convention of the training grids and of the served
`generate_from_seeds` signature: seed S is the same image everywhere.

A conditional run's grid has one row per class (`--classes`, default all; `--class` for one),
with the same seeds in every row: image (seed S, class C) is the latent of seed S with label C.

Walks (`--interpolation_steps=N`) go from seed `--seed` + r to seed `--seed` + num + r,
spherically in z by default (`--walk=z`, as the browser page walks) or linearly in w
(`--walk=w`); to a .png as one row per walk, or to a .gif, .webp or (with imageio-ffmpeg) .mp4
animation whose frame t shows every walk's t-th image.

Style mixing (`--style_mix=A_SEEDS:B_SEEDS`) draws a grid whose first column holds the images
of seeds A, whose first row those of seeds B, and whose cell (a, b) takes a's styles except at
the places listed by `--mix_blocks`, which take b's. A style goes into each generator block's
self-modulated LayerNorms and into the final one before the SIREN decoder: places 0 .. depth-1
are the blocks, place depth the decoder's (`Generator.num_ws`).
"""

import os

import numpy as np
from absl import flags

from vitgan_tf import cli, rundir
from vitgan_tf.errors import UserError

# TensorFlow (through `images` and `rng`) is imported only once the flags and the run directory
# have been checked: a mistake is reported in a second, not after TensorFlow's start-up.

IMAGE_EXTENSIONS = (".png",)
VIDEO_EXTENSIONS = (".gif", ".webp", ".mp4")
WALKS = ("z", "w")
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
                         "If > 1, write walks between pairs of latents, this many images each, "
                         "instead of a grid: rows of a .png, or frames of a .gif, .webp or .mp4 "
                         "--out.")
    flags.DEFINE_enum("walk", "z", WALKS, "Walks: z spherical in z (as the browser page), w "
                      "linear in w.")
    flags.DEFINE_integer("fps", 12, "Frames per second of a .gif, .webp or .mp4 walk.")
    flags.DEFINE_string("style_mix", "", "A_SEEDS:B_SEEDS, e.g. 0-5:10-15: a style-mixing grid "
                        "whose rows take seeds A and whose columns give the --mix_blocks places "
                        "their style from seeds B.")
    flags.DEFINE_string("w", "", "A .npy of styles to draw (e.g. the projector's w.npy): "
                        "(N, latent_dim), or (N, places, latent_dim) for one style per place.")
    flags.DEFINE_string("mix_blocks", "", "Style mixing: the places that take seed B's style, "
                        "e.g. 0-1 (0 .. depth-1: the generator's blocks; depth: the decoder's "
                        "final SLN). Default: the first half.")


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


def _id_list(text, count):
    """"0-2,7" -> [0, 1, 2, 7] when every id is in [0, count); None otherwise."""
    ids = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        low, sep, high = part.partition("-")
        try:
            ids.extend(range(int(low), int(high) + 1) if sep else [int(low)])
        except ValueError:
            return None
    return ids if ids and min(ids) >= 0 and max(ids) < count else None


def parse_classes(text, names, flag="--classes"):
    """"0-2,7" -> [0, 1, 2, 7], each checked against the run's class names."""
    ids = _id_list(text, len(names))
    if ids is None:
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


def slerp(a, b, t):
    """Spherical interpolation from a to b (rows of latents) at fractions t, computed in
    float64 as the browser page computes it (web/app.js `interpolate`): the angle between a and
    b, and linear interpolation where it is under 1e-6. Returns (len(t), *a.shape) float32."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    t = np.asarray(t, np.float64).reshape((-1,) + (1,) * a.ndim)
    cos = np.sum(a * b, -1, keepdims=True) / np.sqrt(
        np.sum(a * a, -1, keepdims=True) * np.sum(b * b, -1, keepdims=True))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    small = omega < 1e-6
    sin = np.where(small, 1.0, np.sin(omega))
    wa = np.where(small, 1 - t, np.sin((1 - t) * omega) / sin)
    wb = np.where(small, t, np.sin(t * omega) / sin)
    return (wa * a + wb * b).astype(np.float32)


def walk_images(generator, rows, steps, truncation_psi=1.0, seed=0, classes=None, walk="z"):
    """(rows, steps, H, W, C) images: walk r goes from seed `seed + r` to seed
    `seed + rows + r` (conditional: both of class classes[r mod len(classes)]), spherically in
    z (walk="z") or linearly in w (walk="w"); its ends are the seeds' own images."""
    from vitgan_tf import rng

    if walk not in WALKS:
        raise ValueError(f"walk: expected one of {WALKS}, got {walk!r}.")
    dim = generator.vitgan_config.latent_dim
    z = rng.latents_from_seeds(np.arange(seed, seed + 2 * rows), dim)
    labels = None
    if classes is not None:
        labels = np.resize(np.asarray(classes), rows)
    t = np.linspace(0.0, 1.0, steps)
    if walk == "z":
        path = np.swapaxes(slerp(z[:rows], z[rows:], t), 0, 1).reshape(rows * steps, dim)
        images = generator(path, truncation_psi=truncation_psi,
                           labels=None if labels is None else np.repeat(labels, steps))
    else:
        both = None if labels is None else np.tile(labels, 2)
        w = np.asarray(generator.styles(z, truncation_psi, both))
        t = t.astype(np.float32)[None, :, None]
        path = (1 - t) * w[:rows, None] + t * w[rows:, None]  # (rows, steps, dim)
        images = generator.synthesize(path.reshape(rows * steps, dim))
    images = np.asarray(images)
    return images.reshape((rows, steps) + images.shape[1:])


def interpolation_rows(generator, rows, steps, truncation_psi=1.0, seed=0, classes=None,
                       walk="z"):
    """The uint8 grid of `walk_images`, one row per walk."""
    from vitgan_tf import images as images_lib

    images = walk_images(generator, rows, steps, truncation_psi, seed, classes, walk)
    return images_lib.image_grid(images.reshape((-1,) + images.shape[2:]), columns=steps)


def walk_frames(generator, rows, steps, truncation_psi=1.0, seed=0, classes=None, walk="z"):
    """The frames of a walk animation: frame t is the uint8 row of every walk's t-th image."""
    from vitgan_tf import images as images_lib

    images = walk_images(generator, rows, steps, truncation_psi, seed, classes, walk)
    return [images_lib.image_grid(images[:, t], columns=rows) for t in range(steps)]


def write_video(frames, path, fps=12):
    """Frames (uint8 (H, W, C)) as an animation: .gif or .webp with Pillow, looping; .mp4 with
    imageio-ffmpeg (H.264, frames padded to even sizes with white). Written atomically."""
    extension = os.path.splitext(path)[1].lower()
    tmp = path + ".tmp" + extension
    if extension == ".mp4":
        imageio_ffmpeg = _imageio_ffmpeg(path)
        frames = [_even(frame) for frame in frames]
        height, width = frames[0].shape[:2]
        writer = imageio_ffmpeg.write_frames(tmp, (width, height), fps=fps, quality=8,
                                             macro_block_size=1)
        writer.send(None)
        for frame in frames:
            writer.send(np.ascontiguousarray(np.broadcast_to(
                frame, frame.shape[:2] + (3,))).tobytes())
        writer.close()
    else:
        from PIL import Image

        pictures = [Image.fromarray(f.squeeze(-1) if f.shape[-1] == 1 else f) for f in frames]
        options = {"lossless": True} if extension == ".webp" else {}
        pictures[0].save(tmp, save_all=True, append_images=pictures[1:],
                         duration=round(1000 / fps), loop=0, **options)
    os.replace(tmp, path)


def _even(frame):
    """A frame padded with white to even height and width (H.264's 4:2:0 needs them)."""
    h, w = frame.shape[:2]
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), constant_values=255)


def _imageio_ffmpeg(path):
    try:
        import imageio_ffmpeg
    except ImportError:
        raise UserError(": writing .mp4 needs imageio-ffmpeg, which is not installed (pip "
                        "install imageio-ffmpeg); or write a .gif or .webp.",
                        argument="out", value=path) from None
    return imageio_ffmpeg


def parse_blocks(text, num_ws):
    """"0-1,3" -> [0, 1, 3]: places that take a style (0 .. num_ws - 1); UserError otherwise."""
    ids = _id_list(text, num_ws)
    if ids is None:
        raise UserError(f": expected places in [0, {num_ws}) such as 0-{num_ws // 2 - 1} "
                        f"(0-{num_ws - 2}: the generator's blocks; {num_ws - 1}: the "
                        "decoder's final SLN).", argument="mix_blocks", value=text)
    return sorted(set(ids))


def default_mix_blocks(num_ws):
    """The first half of the places (the first block at least): the coarser styles."""
    return list(range(max(1, num_ws // 2)))


def mix_styles(w_a, w_b, blocks, num_ws):
    """(len(A), len(B), num_ws, dim) styles: cell (a, b) holds w_a[a] at every place but those
    in `blocks`, which hold w_b[b]."""
    w_a, w_b = np.asarray(w_a, np.float32), np.asarray(w_b, np.float32)
    take_b = np.isin(np.arange(num_ws), blocks)[None, None, :, None]
    return np.where(take_b, w_b[None, :, None, :], w_a[:, None, None, :])


def style_mixing_grid(generator, seeds_a, seeds_b, blocks, truncation_psi=1.0, class_id=None):
    """The uint8 style-mixing grid: a blank corner, seeds B's images along the first row,
    seeds A's down the first column, and in cell (a, b) the image of `mix_styles`."""
    from vitgan_tf import images as images_lib
    from vitgan_tf import rng

    dim, num_ws = generator.vitgan_config.latent_dim, generator.num_ws
    z = rng.latents_from_seeds(np.asarray(list(seeds_a) + list(seeds_b), np.int64), dim)
    labels = None if class_id is None else np.full(len(z), class_id, np.int32)
    w = np.asarray(generator.styles(z, truncation_psi, labels))
    w_a, w_b = w[:len(seeds_a)], w[len(seeds_a):]
    sources = np.asarray(generator.synthesize(w))
    cells = synthesize_batches(generator, mix_styles(w_a, w_b, blocks, num_ws).reshape(
        -1, num_ws, dim))
    cells = cells.reshape((len(seeds_a), len(seeds_b)) + cells.shape[1:])
    blank = np.ones((1,) + sources.shape[1:], np.float32)
    rows = [np.concatenate([blank, sources[len(seeds_a):]])]
    rows += [np.concatenate([sources[a:a + 1], cells[a]]) for a in range(len(seeds_a))]
    return images_lib.image_grid(np.concatenate(rows), columns=len(seeds_b) + 1)


def synthesize_batches(generator, w, batch_size=256):
    """The images (numpy) of styles w, `batch_size` at a time."""
    return np.concatenate([np.asarray(generator.synthesize(w[i:i + batch_size]))
                           for i in range(0, len(w), batch_size)])


def parse_style_mix(text, limit):
    """"0-5:10-15" -> ([0..5], [10..15]); UserError otherwise or beyond one grid's `limit`."""
    a, sep, b = text.partition(":")
    if not sep or not a.strip() or not b.strip():
        raise UserError(": expected A_SEEDS:B_SEEDS such as 0-5:10-15.", argument="style_mix",
                        value=text)
    seeds_a, seeds_b = parse_seeds(a, limit), parse_seeds(b, limit)
    if (len(seeds_a) + 1) * (len(seeds_b) + 1) > limit:
        raise UserError(f": {len(seeds_a) + 1} x {len(seeds_b) + 1} images, more than the "
                        f"{limit} that one PNG grid holds.", argument="style_mix", value=text)
    return seeds_a, seeds_b


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


def check_output(path, video=False):
    """Refuse an output path that cannot be written, before any work: a .png, or with
    `video` (a walk) also a .gif, .webp or .mp4 (the last only where imageio-ffmpeg is)."""
    extensions = IMAGE_EXTENSIONS + (VIDEO_EXTENSIONS if video else ())
    if not path.lower().endswith(extensions):
        raise UserError(": expected a " + (".png, .gif, .webp or .mp4" if video else ".png")
                        + " file name" + ("" if video else " (an animation is written for "
                                          "--interpolation_steps)") + ".",
                        argument="out", value=path)
    if path.lower().endswith(".mp4"):
        _imageio_ffmpeg(path)
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
    if FLAGS.fps < 1:
        raise UserError(": expected a positive integer.", argument="fps", value=FLAGS.fps)
    if FLAGS.w:
        return _draw_styles(FLAGS)
    if FLAGS.style_mix:
        return _style_mix(FLAGS)
    if FLAGS.mix_blocks:
        raise UserError(": it chooses the places of --style_mix; add --style_mix=A:B.",
                        argument="mix_blocks", value=FLAGS.mix_blocks)
    video = FLAGS.interpolation_steps > 0
    check_output(FLAGS.out, video=video)
    video = video and not FLAGS.out.lower().endswith(IMAGE_EXTENSIONS)
    classes = grid_classes(FLAGS, rundir.load_classes(FLAGS.workdir))
    rows = 1 if classes is None or FLAGS.interpolation_steps else len(classes)
    num = FLAGS.num or (1 if video else 64 if rows == 1 and not FLAGS.interpolation_steps
                        else 8)
    limit = max_images(rundir.load_config(FLAGS.workdir)[1].image_size) // rows
    seeds = parse_seeds(FLAGS.seeds, limit) if FLAGS.seeds else None
    if seeds is None:
        check_count(num, 1 if video else FLAGS.interpolation_steps, limit)
        last = FLAGS.seed + num * (2 if FLAGS.interpolation_steps else 1) - 1
        if last >= SEED_LIMIT:
            raise UserError(f": the grid's last seed would be {last}, outside [0, 2**63); "
                            "start lower.", argument="seed", value=FLAGS.seed)
    _, generator, checkpoint, step = rundir.load_generator(FLAGS.workdir,
                                                           FLAGS.checkpoint or None)
    from vitgan_tf import images as images_lib

    if video:
        frames = walk_frames(generator, num, FLAGS.interpolation_steps, FLAGS.truncation_psi,
                             FLAGS.seed, classes, FLAGS.walk)
        write_video(frames, FLAGS.out, FLAGS.fps)
        print(f"Wrote {FLAGS.out} ({len(frames)} frames of {frames[0].shape[1]}x"
              f"{frames[0].shape[0]}, {FLAGS.walk} walk) from {checkpoint} (step {step}).")
        return
    if FLAGS.interpolation_steps:
        grid = interpolation_rows(generator, num, FLAGS.interpolation_steps,
                                  FLAGS.truncation_psi, FLAGS.seed, classes, FLAGS.walk)
    else:
        grid = sample_grid(generator, num, FLAGS.truncation_psi, FLAGS.seed, seeds, classes)
    images_lib.save_png(grid, FLAGS.out)
    print(f"Wrote {FLAGS.out} ({grid.shape[1]}x{grid.shape[0]}) from {checkpoint} (step {step}).")


def read_styles(path, latent_dim, num_ws, limit):
    """The styles of a .npy file as float32 (N, latent_dim) or (N, num_ws, latent_dim);
    UserError naming --w when the file is not that."""
    try:
        w = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise UserError(f": not a readable .npy file ({error.__class__.__name__}).",
                        argument="w", value=path) from None
    shapes = f"(N, {latent_dim}) or (N, {num_ws}, {latent_dim})"
    if w.dtype.kind != "f" or w.ndim not in (2, 3) or w.shape[-1] != latent_dim or (
            w.ndim == 3 and w.shape[1] != num_ws) or not 0 < len(w) <= limit:
        raise UserError(f": styles of shape {w.shape} ({w.dtype}); expected floats of shape "
                        f"{shapes}, N from 1 to {limit}.", argument="w", value=path)
    if not np.all(np.isfinite(w)):
        raise UserError(": holds NaN or infinity.", argument="w", value=path)
    return w.astype(np.float32)


def _draw_styles(FLAGS):  # noqa: N803 - absl's FLAGS
    """sample --w: the images of saved styles, as they are (no truncation)."""
    for flag in ("style_mix", "seeds", "interpolation_steps"):
        if FLAGS[flag].value:
            raise UserError(f"--{flag}: not with --w, which gives the styles; drop one.")
    check_output(FLAGS.out)
    _, model = rundir.load_config(FLAGS.workdir)
    w = read_styles(FLAGS.w, model.latent_dim, model.num_ws, max_images(model.image_size))
    _, generator, checkpoint, step = rundir.load_generator(FLAGS.workdir,
                                                           FLAGS.checkpoint or None)
    from vitgan_tf import images as images_lib

    grid = images_lib.image_grid(synthesize_batches(generator, w))
    images_lib.save_png(grid, FLAGS.out)
    print(f"Wrote {FLAGS.out} ({len(w)} images of {FLAGS.w}) from {checkpoint} (step {step}).")


def _style_mix(FLAGS):  # noqa: N803 - absl's FLAGS
    """sample --style_mix: checks, then the grid."""
    if FLAGS.interpolation_steps or FLAGS.seeds or FLAGS["classes"].value:
        flag = ("--interpolation_steps" if FLAGS.interpolation_steps
                else "--seeds" if FLAGS.seeds else "--classes")
        raise UserError(f"{flag}: not with --style_mix, whose seeds are its own "
                        "(A_SEEDS:B_SEEDS); drop one.")
    check_output(FLAGS.out)
    names = rundir.load_classes(FLAGS.workdir)
    class_id = None
    if names is not None:
        if FLAGS["class"].value is None:
            raise UserError("--style_mix: the run is conditional; give the class of every "
                            f"image with --class=ID (0-{len(names) - 1}).")
        class_id = parse_classes(str(FLAGS["class"].value), names, "--class")[0]
    elif FLAGS["class"].value is not None:
        grid_classes(FLAGS, names)  # refused: not conditional
    _, model = rundir.load_config(FLAGS.workdir)
    num_ws = model.num_ws
    if num_ws < 2:
        raise UserError("--style_mix: this model takes its style in one place "
                        f"(g_conditioning={model.g_conditioning}); nothing to mix.")
    blocks = (parse_blocks(FLAGS.mix_blocks, num_ws) if FLAGS.mix_blocks
              else default_mix_blocks(num_ws))
    seeds_a, seeds_b = parse_style_mix(FLAGS.style_mix, max_images(model.image_size))
    _, generator, checkpoint, step = rundir.load_generator(FLAGS.workdir,
                                                           FLAGS.checkpoint or None)
    grid = style_mixing_grid(generator, seeds_a, seeds_b, blocks, FLAGS.truncation_psi,
                             class_id)
    from vitgan_tf import images as images_lib

    images_lib.save_png(grid, FLAGS.out)
    print(f"Wrote {FLAGS.out} ({grid.shape[1]}x{grid.shape[0]}; places {blocks} from seeds B) "
          f"from {checkpoint} (step {step}).")


def run():
    """Console script entry point (`vitgan-sample`)."""
    define_flags()
    cli.run_main(main)


if __name__ == "__main__":
    run()
