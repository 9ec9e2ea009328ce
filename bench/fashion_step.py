"""Training images/s of the Fashion-MNIST preset's step, its variants and the fast DCGAN,
measured in alternating rounds in one process.

    python -m bench.fashion_step [--rounds=5] [--seconds=8] \
        [--variant="b64=--batch_size=64"] [--variant="bf16=--mixed_precision=mixed_bfloat16"]

"preset" is the real step (`ViTGAN.train_step` through `Model.fit`, as `train` runs it) with
the settings of configs/fashion_mnist.flags (parsed as the train command parses them); each
`--variant=NAME=FLAGS` adds train flags to those. "dcgan_xla" is the fast DCGAN baseline's step
as its runs train (bench/baselines/dcgan.py: batch 64, XLA), "dcgan" the same without XLA
(faster on some CPUs). All take turns, about
`--seconds` each per round on one synthetic batch, so that a slow spell of a shared machine
hits every one alike; the table gives each one's median images/s over the rounds, its ratio to
the faster of the two DCGAN steps, and its graph ops per step. Run under `taskset -c 0` for
one core.
"""

import argparse
import collections
import os
import time

import numpy as np
import tensorflow as tf
from absl import flags as absl_flags

from bench import common
from bench.baselines import dcgan
from vitgan_tf import build, config, data

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRESET = os.path.join(ROOT, "configs", "fashion_mnist.flags")


def train_config(flagfile=PRESET, extra=()):
    """The TrainConfig that `train --flagfile=flagfile *extra` would run (not validated for a
    workdir: it is a placeholder)."""
    values = absl_flags.FlagValues()
    config.define_flags(values)
    values(["fashion_step", f"--flagfile={flagfile}", "--workdir=/tmp/unused", *extra])
    return config.from_flags(values).validate()


def count_ops(graph):
    """Ops of a graph and of the functions it calls (cond branches included)."""
    counts = collections.Counter(op.type for op in graph.get_operations())
    for function in graph._functions.values():  # noqa: SLF001 - no public listing
        if getattr(function, "graph", None) is not None:
            counts.update(count_ops(function.graph))
    return counts


class VitStep:
    def __init__(self, extra):
        self.cfg = cfg = train_config(extra=extra)
        self.gan = build.build_gan(cfg)
        size = self.gan.vitgan_config.image_size
        images = np.random.default_rng(0).uniform(-1, 1, (cfg.batch_size, size, size, 1))
        self.dataset = data.without_autotune(tf.data.Dataset.from_tensors(
            images.astype("float32")).repeat())
        self.batch = cfg.batch_size
        self.gan.fit(self.dataset, steps_per_epoch=2, epochs=1, verbose=0)  # trace, warm up
        concrete = tf.function(self.gan.train_step).get_concrete_function(
            tf.TensorSpec(images.shape, tf.float32))
        self.ops = sum(count_ops(concrete.graph).values())

    def run(self, steps):
        self.gan.fit(self.dataset, steps_per_epoch=steps, epochs=1, verbose=0)


class DcganStep:
    def __init__(self, xla=True):
        self.batch = 64
        _, self.step = dcgan.make_step("fast", self.batch, xla=xla)
        self.real = tf.constant(np.random.default_rng(0).uniform(
            -1, 1, (self.batch, 32, 32, 1)).astype("float32"))
        self.step(self.real)
        self.ops = sum(count_ops(self.step.get_concrete_function(self.real).graph).values())

    def run(self, steps):
        for _ in range(steps):
            out = self.step(self.real)
        float(out[0])  # wait for the last step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", action="append", default=[],
                        help="NAME=train flags added to the preset's, e.g. b64=--batch_size=64")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=8.0, help="per turn, about")
    parser.add_argument("--out", default=common.results_path("fashion_step"), help="JSON rows")
    args = parser.parse_args()
    steps = {"preset": VitStep(())}
    for text in args.variant:
        name, _, flags = text.partition("=")
        steps[name] = VitStep(flags.split())
    steps["dcgan_xla"] = DcganStep(xla=True)
    steps["dcgan"] = DcganStep(xla=False)
    per_turn = {}
    for name, step in steps.items():  # steps per turn, from one timed call
        start = time.perf_counter()
        step.run(5)
        per_turn[name] = max(5, int(args.seconds * 5 / (time.perf_counter() - start)))
    rates = {name: [] for name in steps}
    for r in range(args.rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            step.run(per_turn[name])
            rates[name].append(per_turn[name] * step.batch / (time.perf_counter() - start))
        print(f"round {r + 1}: " + ", ".join(f"{n} {v[-1]:.0f}" for n, v in rates.items()),
              flush=True)
    dcgan_rate = max(np.median(rates["dcgan"]), np.median(rates["dcgan_xla"]))
    rows = [{"variant": name, "flags": " ".join(text.partition("=")[2].split())
             if name not in ("preset", "dcgan", "dcgan_xla") else "",
             "images_per_second": float(np.median(rates[name])),
             "range": f"{min(rates[name]):.0f}-{max(rates[name]):.0f}",
             "ratio_to_dcgan": float(np.median(rates[name]) / dcgan_rate),
             "ops_per_step": step.ops, "cores": len(os.sched_getaffinity(0)),
             "cpu": f"{common.cpu_name()} ({common.cpu_flags()})"}
            for (name, step), text in zip(steps.items(), ["", *args.variant, "", ""])]
    print(common.markdown_table(rows, [
        ("variant", "variant"), ("flags", "flags"),
        (f"images/s (median of {args.rounds})", "images_per_second", 0), ("range", "range"),
        ("x DCGAN", "ratio_to_dcgan"), ("graph ops per step", "ops_per_step", 0)]))
    print(f"Rows: {common.write_rows(args.out, rows)}")


if __name__ == "__main__":
    main()
