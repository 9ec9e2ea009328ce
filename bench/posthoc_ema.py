"""The generator's EMA at other half-lives, rebuilt from one run's checkpoints, and scored.

    python -m vitgan_tf.train --flagfile=configs/fashion_mnist.flags --log_every=25 \
        --checkpoint_every=25 --keep_checkpoints=200 --workdir=runs/dense
    python -m bench.posthoc_ema runs/dense --half_lives=5,10,20,40 [--at=4000]

The EMA of the generator's weights never feeds back into training: a run's trained weights
follow the same path whatever `--ema_half_life_kimg` says. So one run with dense checkpoints
gives the EMA of any half-life, compared on one trajectory, free of the run-to-run spread that
separate runs would add. Each snapshot's trained weights g stand for the steps since the one
before: e <- b^k e + (1 - b^k) g, with b = 0.5 ** (batch / (1000 half-life)) the per-step
decay and k the steps between snapshots (the train step does the same one step at a time).
State that is not trained (w_avg) is the last snapshot's, as the train step copies it.

Rows (Fashion-MNIST domain metric, as `bench.fashion_compare`): each half-life, the run's own
EMA (which shows what the snapshots' spacing costs against the rebuilt one at the run's
half-life) and the trained weights.
"""

import argparse
import os

import numpy as np

from bench import common, fashion_compare
from vitgan_tf import checkpoints, rundir
from vitgan_tf.models.generator import Generator


def checkpoint_steps(workdir, at=None):
    """[(step, path)] of the run's checkpoints that have an index file, by step, up to `at`."""
    folder = os.path.join(workdir, "checkpoints")
    return [(step, os.path.join(folder, f"ckpt-{step}"))
            for step, files in sorted(checkpoints.checkpoint_files(folder).items())
            if (at is None or step <= at) and any(f.endswith(".index") for f in files)]


def posthoc_ema(snapshots, half_life_kimg, batch_size, start=None):
    """The EMA over `snapshots`, an iterable of (step, [arrays]), each held constant since the
    previous one. `start`: the (step, [arrays]) the average begins from; default the first
    snapshot. Returns the averaged arrays (float64)."""
    decay = 0.5 ** (batch_size / (1000.0 * half_life_kimg))
    ema, last = None, None
    if start is not None:
        last, ema = start[0], [np.asarray(a, np.float64) for a in start[1]]
    for step, arrays in snapshots:
        if ema is None:
            ema, last = [np.asarray(a, np.float64) for a in arrays], step
            continue
        if step <= last:
            raise ValueError(f"snapshots must be in increasing step order; {step} after {last}.")
        keep = decay ** (step - last)
        ema = [keep * e + (1.0 - keep) * np.asarray(g, np.float64) for e, g in zip(ema, arrays)]
        last = step
    if ema is None:
        raise ValueError("no snapshots.")
    return ema


def trained_weights(generator, path):
    """The trained generator's trainable weights at checkpoint `path`, as arrays."""
    checkpoints.read_generator(generator, path, which="generator")
    return [v.numpy() for v in generator.trainable_weights]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir")
    parser.add_argument("--half_lives", default="5,10,20,40", help="kimg, comma-separated")
    parser.add_argument("--at", type=int, default=None, help="last step used (default: all)")
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--cache_dir", default="runs/stats")
    parser.add_argument("--out", default=common.results_path("posthoc_ema"))
    args = parser.parse_args()
    half_lives = [float(h) for h in args.half_lives.split(",")]
    cfg, model = rundir.load_config(args.workdir)
    found = checkpoint_steps(args.workdir, args.at)
    if len(found) < 2:
        raise SystemExit(f"{args.workdir}: needs two or more checkpoints, found {len(found)}.")
    generator = Generator(model, dtype="float32", name="generator")
    averages = {h: None for h in half_lives}
    for i, (step, path) in enumerate(found):
        arrays = trained_weights(generator, path)
        for h in half_lives:
            averages[h] = (step, posthoc_ema([(step, arrays)], h, cfg.batch_size, averages[h]))
        if i % 20 == 0 or i == len(found) - 1:
            print(f"read {i + 1}/{len(found)} snapshots (step {step})", flush=True)
    last_step, last_path = found[-1]
    judges = fashion_compare.Judges(None, args.cache_dir)

    def score(label, **extra):
        row = {"weights": label, "step": last_step, "snapshots": len(found), **extra,
               **fashion_compare.score_generator(generator, judges, args.samples)}
        print(f"{label}: FD {row['fd']:.2f}, recall {row['recall']:.3f}, precision "
              f"{row['precision']:.3f}, classes {100 * row['share_min']:.1f}-"
              f"{100 * row['share_max']:.1f}%", flush=True)
        return row

    rows = []
    # The trained weights of the last snapshot; their w_avg is the one every row uses.
    checkpoints.read_generator(generator, last_path, which="generator")
    rows.append(score("trained weights"))
    for h in half_lives:
        for variable, value in zip(generator.trainable_weights, averages[h][1]):
            variable.assign(value.astype(np.float32))
        rows.append(score(f"EMA {h:g} kimg, rebuilt", half_life_kimg=h))
    checkpoints.read_generator(generator, last_path)
    rows.append(score(f"EMA {cfg.ema_half_life_kimg:g} kimg, the run's",
                      half_life_kimg=cfg.ema_half_life_kimg))
    print(common.write_rows(args.out, rows))


if __name__ == "__main__":
    main()
