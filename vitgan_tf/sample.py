"""Sample grids and latent interpolations from a run's EMA generator.

    python -m vitgan_tf.sample --workdir=runs/digits --num=64 --out=grid.png
    python -m vitgan_tf.sample --workdir=runs/digits --interpolation_steps=8 --out=interp.png
"""

import sys

import numpy as np
from absl import app, flags

from vitgan_tf import images as images_lib
from vitgan_tf import train_lib

def define_flags():
    """Command-line flags (defined only when run as a program)."""
    flags.DEFINE_string("workdir", None, "Training run directory.")
    flags.DEFINE_string("checkpoint", "", "Checkpoint path; default the latest in the workdir.")
    flags.DEFINE_integer("num", 64, "Images in the grid (or interpolation rows).")
    flags.DEFINE_string("out", "grid.png", "Output PNG.")
    flags.DEFINE_float("truncation_psi", 1.0, "Truncation psi: 1 none, smaller trades variety for "
                       "quality.")
    flags.DEFINE_integer("seed", 0, "Latent seed.")
    flags.DEFINE_integer("interpolation_steps", 0,
                         "If > 1, write rows interpolating (in w space) between pairs of latents, "
                         "this many images per row, instead of a grid.")


def sample_grid(generator, num, truncation_psi=1.0, seed=0):
    z = np.random.default_rng(seed).standard_normal((num, generator.vitgan_config.latent_dim))
    images = generator(z.astype(np.float32), truncation_psi=truncation_psi).numpy()
    return images_lib.image_grid(images)


def interpolation_rows(generator, rows, steps, truncation_psi=1.0, seed=0):
    """Each row walks linearly in w space from one random latent's w to another's."""
    dim = generator.vitgan_config.latent_dim
    z = np.random.default_rng(seed).standard_normal((2 * rows, dim)).astype(np.float32)
    w = generator.truncate(generator.mapping(z), truncation_psi).numpy()
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[None, :, None]
    walk = (1 - t) * w[:rows, None] + t * w[rows:, None]  # (rows, steps, dim)
    images = generator.synthesize(walk.reshape(rows * steps, dim)).numpy()
    return images_lib.image_grid(images, columns=steps)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    FLAGS = flags.FLAGS
    try:
        if FLAGS.num < 1:
            raise ValueError(f"--num={FLAGS.num}: expected a positive integer.")
        if FLAGS.interpolation_steps == 1 or FLAGS.interpolation_steps < 0:
            raise ValueError(f"--interpolation_steps={FLAGS.interpolation_steps}: expected 0 "
                             "(a grid) or at least 2.")
        _, gan, checkpoint, step = train_lib.load_run(FLAGS.workdir, FLAGS.checkpoint or None)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    if FLAGS.interpolation_steps:
        grid = interpolation_rows(gan.ema_generator, FLAGS.num, FLAGS.interpolation_steps,
                                  FLAGS.truncation_psi, FLAGS.seed)
    else:
        grid = sample_grid(gan.ema_generator, FLAGS.num, FLAGS.truncation_psi, FLAGS.seed)
    images_lib.save_png(grid, FLAGS.out)
    print(f"Wrote {FLAGS.out} ({grid.shape[1]}x{grid.shape[0]}) from {checkpoint} (step {step}).")


if __name__ == "__main__":
    define_flags()
    flags.mark_flag_as_required("workdir")
    app.run(main)
