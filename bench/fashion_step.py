"""Real training images/s of Fashion-MNIST step variants, measured in alternating rounds.

    python -m bench.fashion_step [--rounds=5] [--steps=20] [--variants=vit,sg2_32,sg2_16]

Each variant is the real step (`ViTGAN.train_step` through `Model.fit`) with the settings of
configs/fashion_mnist_vitd.flags and the variant's changes. The variants take turns, `--steps`
steps each per round, so a slow spell of a shared machine hits all of them alike; the table
gives each variant's median images/s over the rounds and its ratio to the first variant.
"""

import argparse
import json
import time

import numpy as np
import tensorflow as tf

from bench import common
from vitgan_tf import build, config, data

FASHION = dict(preset="fashion", batch_size=32, lr=5e-4, beta1=0.0, beta2=0.99, bcr_real=0.0,
               bcr_fake=0.0, augment_policy="")
def _hybrid(channels):
    return {"d_arch": "stylegan2", "d_conv_max_channels": 256, "d_conv_channels": channels}


VARIANTS = {
    "vit": {},
    "vit_mbstd": {"model": {"d_mbstd_group": 4}},
    "sg2_32": {"model": _hybrid(32), "r1_gamma": 0.05, "r1_interval": 16},
    "sg2_16": {"model": _hybrid(16), "r1_gamma": 0.05, "r1_interval": 16},
    "sg2_16_rpgan": {"model": _hybrid(16), "r1_gamma": 0.05, "r1_interval": 16,
                     "loss": "rpgan"},
    "sg2_16_b64": {"model": _hybrid(16), "r1_gamma": 0.05, "r1_interval": 16,
                   "batch_size": 64},
}


def make(name):
    cfg = config.TrainConfig(workdir="/tmp/unused", **{**FASHION, **VARIANTS[name]})
    gan = build.build_gan(cfg)
    images = np.random.default_rng(0).uniform(-1, 1, (cfg.batch_size * 4, 28, 28, 1))
    ds = data.without_autotune(tf.data.Dataset.from_tensor_slices(
        images.astype("float32")).batch(cfg.batch_size, drop_remainder=True).repeat())
    return cfg, gan, ds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="vit,sg2_32,sg2_16")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out", default=common.results_path("fashion_step"), help="JSON rows")
    args = parser.parse_args()
    names = args.variants.split(",")
    built = {name: make(name) for name in names}
    for _, gan, ds in built.values():  # compile and warm up
        gan.fit(ds, steps_per_epoch=2, epochs=1, verbose=0)
    rates = {name: [] for name in names}
    for _ in range(args.rounds):
        for name in names:
            cfg, gan, ds = built[name]
            start = time.perf_counter()
            gan.fit(ds, steps_per_epoch=args.steps, epochs=1, verbose=0)
            rates[name].append(args.steps * cfg.batch_size / (time.perf_counter() - start))
    base = np.median(rates[names[0]])
    rows = [{"variant": name,
             "settings": (json.dumps(VARIANTS[name]) if VARIANTS[name]
                          else "fashion_mnist_vitd.flags"),
             "images_per_second": float(np.median(rates[name])),
             "ratio": float(np.median(rates[name]) / base)} for name in names]
    print(common.markdown_table(rows, [
        ("variant", "variant"), ("settings", "settings"),
        (f"images/s (median of {args.rounds})", "images_per_second", 1), ("ratio", "ratio")]))
    print(f"Rows: {common.write_rows(args.out, rows)}")


if __name__ == "__main__":
    main()
