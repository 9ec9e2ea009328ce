"""DCGAN baselines on Fashion-MNIST: what the ViTGAN preset is compared with.

    python -m bench.baselines.dcgan --workdir=runs/dcgan --minutes=60 [--arch=fast] [--data_dir=...]

Two architectures (Radford et al. 2016), both with the non-saturating loss, Adam 2e-4,
beta_1 0.5, batch 64, no EMA:

- `fast` (default): the stronger, faster baseline of issue 20 at 32x32 (Fashion-MNIST padded
  by 2 background pixels per side, which the classifier's features crop back to 28x28).
  G: z 128 -> Dense 4*4*256 -> three stride-2 4x4 transposed convs (128, 64, 32; batch norm,
  ReLU) -> 3x3 conv, tanh. D: three stride-2 4x4 convs (64, 128, 256; leaky ReLU 0.2) ->
  Dense 1. About 1.2M weights in G.
- `tutorial`: the TensorFlow DCGAN tutorial at 28x28: G Dense(7*7*256)-BN-LReLU, ConvT 128
  (stride 1), ConvT 64 (stride 2), ConvT 1 (stride 2, tanh); D Conv 64 / Conv 128 (stride 2,
  5x5, leaky ReLU 0.2, dropout 0.3) and a linear logit; latent 100.

It trains for `--minutes` of wall time (or `--max_kimg` thousand images) and writes a snapshot
of G every `--snapshot_kimg` thousand images and at the end: `snapshots/g_<images>.weights.h5`
with `snapshots/log.jsonl` (images seen, seconds, images/s), and `samples/latest.png`. Score
them with `python -m bench.fashion_compare`.
"""

import argparse
import json
import os
import time

import keras
import numpy as np
import tensorflow as tf

from vitgan_tf import data
from vitgan_tf import images as image_lib

LATENTS = {"tutorial": 100, "fast": 128}
LATENT = LATENTS["tutorial"]
SIZES = {"tutorial": 28, "fast": 32}


def build_fast_generator():
    z = keras.Input((LATENTS["fast"],))
    x = keras.layers.Reshape((4, 4, 256))(keras.layers.Dense(4 * 4 * 256, use_bias=False)(z))
    x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    for filters in (128, 64, 32):
        x = keras.layers.Conv2DTranspose(filters, 4, 2, padding="same", use_bias=False)(x)
        x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    x = keras.layers.Conv2D(1, 3, padding="same", activation="tanh")(x)
    return keras.Model(z, x, name="dcgan_fast_generator")


def build_fast_discriminator():
    image = keras.Input((32, 32, 1))
    x = image
    for filters in (64, 128, 256):
        x = keras.layers.LeakyReLU(0.2)(keras.layers.Conv2D(filters, 4, 2, padding="same")(x))
    x = keras.layers.Dense(1)(keras.layers.Flatten()(x))
    return keras.Model(image, x, name="dcgan_fast_discriminator")


def build_generator(arch="tutorial"):
    if arch == "fast":
        return build_fast_generator()
    z = keras.Input((LATENT,))
    x = keras.layers.Dense(7 * 7 * 256, use_bias=False)(z)
    x = keras.layers.LeakyReLU(0.2)(keras.layers.BatchNormalization()(x))
    x = keras.layers.Reshape((7, 7, 256))(x)
    for filters, stride in ((128, 1), (64, 2)):
        x = keras.layers.Conv2DTranspose(filters, 5, stride, padding="same", use_bias=False)(x)
        x = keras.layers.LeakyReLU(0.2)(keras.layers.BatchNormalization()(x))
    x = keras.layers.Conv2DTranspose(1, 5, 2, padding="same", activation="tanh")(x)
    return keras.Model(z, x, name="dcgan_generator")


def build_discriminator(arch="tutorial"):
    if arch == "fast":
        return build_fast_discriminator()
    image = keras.Input((28, 28, 1))
    x = image
    for filters in (64, 128):
        x = keras.layers.Conv2D(filters, 5, 2, padding="same")(x)
        x = keras.layers.Dropout(0.3)(keras.layers.LeakyReLU(0.2)(x))
    x = keras.layers.Dense(1)(keras.layers.Flatten()(x))
    return keras.Model(image, x, name="dcgan_discriminator")


def generate(generator, z, batch_size=500):
    """Images in [-1, 1] for latents z, in inference mode."""
    return np.concatenate([generator(z[i:i + batch_size], training=False).numpy()
                           for i in range(0, len(z), batch_size)])


def make_step(arch="fast", batch_size=64, lr=2e-4, xla=True):
    """(G, the training step: real batch -> (d_loss, g_loss, mean D(real), mean D(fake)))
    of a new DCGAN: both networks updated once per call, Adam (lr, beta_1 0.5), the
    non-saturating loss; XLA-compiled with `xla`."""
    g, d = build_generator(arch), build_discriminator(arch)
    g_opt = keras.optimizers.Adam(lr, beta_1=0.5)
    d_opt = keras.optimizers.Adam(lr, beta_1=0.5)
    print(f"G {g.count_params():,} parameters, D {d.count_params():,}")
    latent = LATENTS[arch]

    @tf.function(jit_compile=xla)
    def step(real):
        z = tf.random.normal([batch_size, latent])
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = g(z, training=True)
            real_logits, fake_logits = d(real, training=True), d(fake, training=True)
            d_loss = tf.reduce_mean(tf.nn.softplus(-real_logits) + tf.nn.softplus(fake_logits))
            g_loss = tf.reduce_mean(tf.nn.softplus(-fake_logits))
        g_opt.apply(g_tape.gradient(g_loss, g.trainable_variables), g.trainable_variables)
        d_opt.apply(d_tape.gradient(d_loss, d.trainable_variables), d.trainable_variables)
        return d_loss, g_loss, tf.reduce_mean(real_logits), tf.reduce_mean(fake_logits)

    return g, step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--max_kimg", type=float, default=0.0, help="0: no limit")
    parser.add_argument("--snapshot_kimg", type=float, default=64.0)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--arch", choices=sorted(LATENTS), default="fast")
    parser.add_argument("--xla", action=argparse.BooleanOptionalAction, default=True,
                        help="XLA-compile the step (on the 2-core VM: 140 img/s against 122 "
                        "without, 2026-11-27)")
    args = parser.parse_args()
    keras.utils.set_random_seed(args.seed)
    latent = LATENTS[args.arch]
    # 32x32: padded with background (-1), as the library's 32x32 IDX pipeline does.
    images, _ = data.idx_images("fashion_mnist", SIZES[args.arch], args.data_dir, "train")
    ds = tf.data.Dataset.from_tensor_slices(images).shuffle(len(images), seed=args.seed)
    ds = ds.repeat().batch(args.batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    g, step = make_step(args.arch, args.batch_size, args.lr, args.xla)

    snap_dir = os.path.join(args.workdir, "snapshots")
    os.makedirs(snap_dir, exist_ok=True)
    os.makedirs(os.path.join(args.workdir, "samples"), exist_ok=True)
    fixed_z = np.random.default_rng(args.seed).standard_normal((64, latent)).astype(np.float32)
    log = open(os.path.join(snap_dir, "log.jsonl"), "a")
    budget = args.minutes * 60
    seen, elapsed, next_snapshot = 0, 0.0, args.snapshot_kimg * 1000
    it = iter(ds)

    def snapshot():
        path = os.path.join(snap_dir, f"g_{seen:09d}.weights.h5")
        g.save_weights(path)
        entry = {"arch": args.arch, "images": seen, "seconds": round(elapsed, 1),
                 "images_per_s": round(seen / max(elapsed, 1e-9), 1), "weights": path}
        log.write(json.dumps(entry) + "\n")
        log.flush()
        image_lib.save_png(image_lib.image_grid(generate(g, fixed_z), border=1),
                           os.path.join(args.workdir, "samples", "latest.png"))
        print(json.dumps(entry), flush=True)

    while elapsed < budget and (not args.max_kimg or seen < args.max_kimg * 1000):
        start = time.perf_counter()
        for _ in range(50):
            d_loss, g_loss, d_real, d_fake = step(next(it))
        d_loss = float(d_loss)  # sync before timing
        elapsed += time.perf_counter() - start  # training time only; snapshots excluded
        seen += 50 * args.batch_size
        if seen % (50 * args.batch_size * 20) == 0:
            print(f"images {seen}  {elapsed:.0f}s  {seen / elapsed:.0f} img/s  d_loss {d_loss:.3f}"
                  f"  g_loss {float(g_loss):.3f}  d_real {float(d_real):.3f}"
                  f"  d_fake {float(d_fake):.3f}", flush=True)
        if seen >= next_snapshot:
            snapshot()
            next_snapshot += args.snapshot_kimg * 1000
    snapshot()


if __name__ == "__main__":
    main()
