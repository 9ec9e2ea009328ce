"""Train-step throughput: images/s, FLOP/s against this machine's matmul FLOP/s, peak memory.

    python bench/train_step.py                         # 32 preset, batch 32: float32 and XLA
    python bench/train_step.py --presets=32,64 --batch_sizes=32,64 \
        --precisions=float32,mixed_bfloat16 --jit=false,true

The step is the real one (`ViTGAN.train_step` through `Model.fit`'s compiled train function):
one D step and one G step with DiffAugment and bCR, then EMA and w_avg. FLOPs are counted by
TF's graph profiler (`tf.compat.v1.profiler`, float_operation) on the traced step, i.e. the
multiply-adds of every op with registered FLOP statistics (MatMul, BatchMatMul, Conv2D and
their gradients, element-wise ops); ops without statistics count 0, so the FLOP/s is a lower
bound. Matmul FLOP/s is measured with square matmuls of the given size on the same machine, in
the same run: in float32, and in bfloat16/float16 when a mixed precision is benchmarked, so each
row can be read against the limit of the dtype its matmuls run in.
"""

import argparse
import os
import resource
import time

import numpy as np
import tensorflow as tf
from _machine import cpu_name

from vitgan_tf import train_lib
from vitgan_tf.models import get_config


def matmul_flops_per_second(n=1024, dtype="float32", repeats=20):
    a = tf.random.normal([n, n], dtype=dtype)
    b = tf.random.normal([n, n], dtype=dtype)
    step = tf.function(lambda: tf.reduce_sum(tf.cast(tf.matmul(a, b), tf.float32)))
    step().numpy()
    start = time.perf_counter()
    for _ in range(repeats):
        step().numpy()
    return 2 * n**3 * repeats / (time.perf_counter() - start)


def compute_dtype(precision):
    return precision.replace("mixed_", "")


def count_flops(concrete_function):
    from tensorflow.python.profiler import model_analyzer, option_builder

    options = option_builder.ProfileOptionBuilder(
        option_builder.ProfileOptionBuilder.float_operation()).with_empty_output().build()
    profile = model_analyzer.profile(concrete_function.graph, options=options)
    return profile.total_float_ops


def synthetic_run(preset, batch, precision, jit=False):
    """The training entry point's own GAN and optimizers (loss scaling for float16 included) and
    an endless dataset of one random batch. `precision` reaches the models through
    `build_gan` (their constructors), not Keras' global policy.

    Returns (gan, images, dataset).
    """
    cfg = get_config(preset)
    gan = train_lib.build_gan(train_lib.TrainConfig(
        workdir="", preset=preset, batch_size=batch, mixed_precision=precision,
        jit_compile=jit))
    images = np.random.default_rng(0).uniform(
        -1, 1, (batch, cfg.image_size, cfg.image_size, cfg.channels)).astype(np.float32)
    return gan, images, tf.data.Dataset.from_tensors(images).repeat().prefetch(2)


def bench_one(preset, batch, precision, jit, steps):
    gan, images, data = synthetic_run(preset, batch, precision, jit)
    # Trace once without XLA to count FLOPs on the plain graph.
    step = tf.function(gan.train_step)
    flops = count_flops(step.get_concrete_function(tf.TensorSpec(images.shape, tf.float32)))
    gan.fit(data, steps_per_epoch=2, epochs=1, verbose=0)  # compile and warm up
    start = time.perf_counter()
    gan.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
    seconds = (time.perf_counter() - start) / steps
    return batch / seconds, flops, flops / seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="32")
    parser.add_argument("--batch_sizes", default="32")
    parser.add_argument("--precisions", default="float32")
    parser.add_argument("--jit", default="false,true")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--matmul_size", type=int, default=1024)
    args = parser.parse_args()
    gpus = tf.config.list_physical_devices("GPU")
    device = (", ".join(tf.config.experimental.get_device_details(g).get("device_name", "GPU")
                        for g in gpus) if gpus else f"{cpu_name()}, {os.cpu_count()} cores")
    print(f"Machine: {device}; TF {tf.__version__}")
    precisions = args.precisions.split(",")
    # The hardware limit of each compute dtype: float32, and bfloat16/float16 for mixed
    # precision (on CPUs without bfloat16 matrix units those run slower than float32).
    peaks = {}
    for dtype in dict.fromkeys(["float32"] + [compute_dtype(p) for p in precisions]):
        peaks[dtype] = matmul_flops_per_second(args.matmul_size, dtype)
        print(f"Dense matmul ({args.matmul_size}^2, {dtype}): {peaks[dtype] / 1e9:.1f} GFLOP/s")
    print("\n| preset | batch | precision | XLA | images/s | GFLOP/step | GFLOP/s | "
          "% of float32 matmul | % of compute-dtype matmul | peak RSS GB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for preset in args.presets.split(","):
        for batch in [int(b) for b in args.batch_sizes.split(",")]:
            for precision in precisions:
                for jit in [j.strip().lower() == "true" for j in args.jit.split(",")]:
                    rate, flops, flops_per_s = bench_one(preset, batch, precision, jit,
                                                         args.steps)
                    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
                    share = 100 * flops_per_s / peaks["float32"]
                    own = 100 * flops_per_s / peaks[compute_dtype(precision)]
                    print(f"| {preset} | {batch} | {precision} | {jit} | {rate:.1f} | "
                          f"{flops / 1e9:.1f} | {flops_per_s / 1e9:.1f} | {share:.0f}% | "
                          f"{own:.0f}% | {rss:.1f} |", flush=True)


if __name__ == "__main__":
    main()
