"""Train-step throughput: images/s, FLOP/s against this machine's matmul FLOP/s, peak memory.

    python -m bench.train_step                         # 32 preset, batch 32: float32 and XLA
    python -m bench.train_step --presets=32,64 --batch_sizes=32,64 \
        --precisions=float32,mixed_bfloat16 --jit=false,true

The step is the real one (`ViTGAN.train_step` through `Model.fit`'s compiled train function):
one D step and one G step with DiffAugment and bCR (for the fashion preset without them, as in
configs/fashion_mnist_vitd.flags), then EMA and w_avg. FLOPs are counted by
TF's graph profiler (`tf.compat.v1.profiler`, float_operation) on the traced step, i.e. the
multiply-adds of every op with registered FLOP statistics (MatMul, BatchMatMul, Conv2D and
their gradients, element-wise ops); ops without statistics count 0, so the FLOP/s is a lower
bound. The peak each row is read against is the best matmul FLOP/s over several shapes, in the
same run: large squares (512 to 3072) and the models' own dense shapes (tokens x batch rows by
the attention and MLP widths), in float32, and in bfloat16/float16 when a mixed precision is
benchmarked, so each row can be read against the limit of the dtype its matmuls run in. One
1024^2 matmul under-reads the peak of CPUs with wide vector units. Each step is also timed on
its own (s/step median, min-max), and "fit overhead" is the fit call's wall time minus its
steps' (time spent outside the steps: iterator set-up and teardown, callbacks).

The dataset goes through `vitgan_tf.data.without_autotune`, as in training: with tf.data's
autotuning thread on (`--data_autotune=on`), the fit call often does not return until that
thread's next wake-up (10.23 s, 20.47 s, 40.95 s, ... after the iterator starts), which made
whole runs read 2x slow (bench/README.md, "The 2× slow mode").
"""

import argparse
import os
import resource
import time

import keras
import numpy as np
import tensorflow as tf

from bench import common
from bench.common import cpu_name
from vitgan_tf import build, config, data
from vitgan_tf.models import get_config


def matmul_flops_per_second(m, k, n, dtype="float32", seconds=1.5):
    """FLOP/s of an (m, k) x (k, n) matmul, best of 3 timed rounds of about `seconds`/3."""
    a = tf.random.normal([m, k], dtype=dtype)
    b = tf.random.normal([k, n], dtype=dtype)
    step = tf.function(lambda: tf.reduce_sum(tf.cast(tf.matmul(a, b), tf.float32)))
    step().numpy()
    start = time.perf_counter()
    step().numpy()
    repeats = max(1, int(seconds / 3 / max(time.perf_counter() - start, 1e-6)))
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            step().numpy()
        best = max(best, 2 * m * k * n * repeats / (time.perf_counter() - start))
    return best


def matmul_shapes(presets, batch_sizes):
    """Large squares and the models' own dense shapes: (tokens x batch, in, out) of the
    attention projections and the MLP, for every preset and batch benchmarked."""
    shapes = {(n, n, n) for n in (512, 1024, 2048, 3072)}
    for preset in presets:
        cfg = get_config(preset)
        for batch in batch_sizes:
            for tokens, dim, mlp in ((cfg.g_grid_size**2, cfg.g_hidden_dim, cfg.g_mlp_dim),
                                     (cfg.d_grid_size**2 + 1, cfg.d_hidden_dim, cfg.d_mlp_dim)):
                rows = tokens * batch
                shapes |= {(rows, dim, 3 * dim), (rows, dim, mlp), (rows, mlp, dim)}
    return sorted(shapes)


def measured_peak(dtype, shapes, verbose=True):
    """The best FLOP/s over `shapes`: the limit each row is read against."""
    rates = {}
    for shape in shapes:
        rates[shape] = matmul_flops_per_second(*shape, dtype=dtype)
        if verbose:
            print(f"  matmul {shape[0]}x{shape[1]}x{shape[2]} {dtype}: "
                  f"{rates[shape] / 1e9:.1f} GFLOP/s", flush=True)
    best = max(rates, key=rates.get)
    return rates[best], best


class StepTimer(keras.callbacks.Callback):
    """Wall time of every training step, to see a slow mode step by step."""

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter() - self._start)

    def on_train_begin(self, logs=None):
        self.times = []


def compute_dtype(precision):
    """The matmuls' dtype of a --mixed_precision value ("auto" as it resolves here)."""
    return config.resolve_precision(precision).replace("mixed_", "")


def count_flops(concrete_function):
    from tensorflow.python.profiler import model_analyzer, option_builder

    options = option_builder.ProfileOptionBuilder(
        option_builder.ProfileOptionBuilder.float_operation()).with_empty_output().build()
    profile = model_analyzer.profile(concrete_function.graph, options=options)
    return profile.total_float_ops


def synthetic_run(preset, batch, precision, jit=False, data_autotune=False, **train_settings):
    """The training entry point's own GAN and optimizers (loss scaling for float16 included) and
    an endless dataset of one random batch. `precision` reaches the models through
    `build_gan` (their constructors), not Keras' global policy. `train_settings` are other
    TrainConfig fields (e.g. augment_policy="", bcr_real=0 for the Fashion-MNIST preset).
    data_autotune: leave tf.data's autotuning on (training turns it off).

    Returns (gan, images, dataset).
    """
    cfg = get_config(preset)
    gan = build.build_gan(config.TrainConfig(
        workdir="", preset=preset, batch_size=batch, mixed_precision=precision,
        jit_compile=jit, **train_settings))
    images = np.random.default_rng(0).uniform(
        -1, 1, (batch, cfg.image_size, cfg.image_size, cfg.channels)).astype(np.float32)
    dataset = tf.data.Dataset.from_tensors(images).repeat().prefetch(2)
    return gan, images, dataset if data_autotune else data.without_autotune(dataset)


# The training settings of each preset's flagfile that change the step's work.
PRESET_SETTINGS = {"fashion": {
    "augment_policy": "", "bcr_real": 0.0, "bcr_fake": 0.0, "loss": "rpgan", "d_lr": 0.005,
    "r1_gamma": 0.05, "r1_interval": 16, "beta1": 0.0, "beta2": 0.99, "lr": 0.0005,
    "model": {"d_arch": "stylegan2", "d_conv_channels": 16, "d_conv_max_channels": 256,
              "d_mbstd_group": 8}}}


def bench_one(preset, batch, precision, jit, steps, data_autotune=False):
    """images/s, FLOP per step, FLOP/s, per-step seconds and the fit call's overhead (its wall
    time minus the steps')."""
    gan, images, dataset = synthetic_run(preset, batch, precision, jit, data_autotune,
                                         **PRESET_SETTINGS.get(preset, {}))
    # Trace once without XLA to count FLOPs on the plain graph.
    step = tf.function(gan.train_step)
    flops = count_flops(step.get_concrete_function(tf.TensorSpec(images.shape, tf.float32)))
    gan.fit(dataset, steps_per_epoch=2, epochs=1, verbose=0)  # compile and warm up
    timer = StepTimer()
    start = time.perf_counter()
    gan.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[timer])
    wall = time.perf_counter() - start
    seconds = wall / steps
    return batch / seconds, flops, flops / seconds, timer.times, wall - sum(timer.times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="32")
    parser.add_argument("--batch_sizes", default="32")
    parser.add_argument("--precisions", default="float32")
    parser.add_argument("--jit", default="false,true")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--peak", default="full", choices=["full", "squares", "none"],
                        help="matmul shapes for the peak: squares and the models' own (full), "
                        "squares only, or none (rows then show no share)")
    parser.add_argument("--out", default=common.results_path("train_step"), help="JSON rows")
    parser.add_argument("--data_autotune", default="off", choices=["off", "on"],
                        help="tf.data autotuning of the input; training turns it off, and "
                        "'on' shows the slow mode it caused")
    args = parser.parse_args()
    gpus = tf.config.list_physical_devices("GPU")
    device = (", ".join(tf.config.experimental.get_device_details(g).get("device_name", "GPU")
                        for g in gpus) if gpus else f"{cpu_name()}, {os.cpu_count()} cores")
    print(f"Machine: {device}; TF {tf.__version__}; threads intra-op "
          f"{tf.config.threading.get_intra_op_parallelism_threads()} inter-op "
          f"{tf.config.threading.get_inter_op_parallelism_threads()} (0: TF's default); "
          f"tf.data autotune {args.data_autotune}")
    presets = args.presets.split(",")
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    precisions = args.precisions.split(",")
    shapes = matmul_shapes(presets, batch_sizes)
    if args.peak == "squares":
        shapes = [s for s in shapes if s[0] == s[1] == s[2]]
    # The hardware limit of each compute dtype: float32, and bfloat16/float16 for mixed
    # precision (on CPUs without bfloat16 matrix units those run slower than float32).
    peaks = {}
    if args.peak != "none":
        for dtype in dict.fromkeys(["float32"] + [compute_dtype(p) for p in precisions]):
            peaks[dtype], shape = measured_peak(dtype, shapes)
            print(f"Peak matmul {dtype}: {peaks[dtype] / 1e9:.1f} GFLOP/s (best of "
                  f"{len(shapes)} shapes, at {shape[0]}x{shape[1]}x{shape[2]})")
    rows = []
    for preset in presets:
        for batch in batch_sizes:
            for precision in precisions:
                for jit in [j.strip().lower() == "true" for j in args.jit.split(",")]:
                    rate, flops, flops_per_s, times, overhead = bench_one(
                        preset, batch, precision, jit, args.steps, args.data_autotune == "on")
                    row = {"preset": preset, "batch": batch, "precision": precision, "xla": jit,
                           "images_per_second": rate, "step_median": float(np.median(times)),
                           "step_min": min(times), "step_max": max(times),
                           "fit_overhead": overhead, "gflop_per_step": flops / 1e9,
                           "gflop_per_second": flops_per_s / 1e9,
                           "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6}
                    for key, dtype in (("share_float32_peak", "float32"),
                                       ("share_compute_peak", compute_dtype(precision))):
                        if dtype in peaks:
                            row[key] = f"{100 * flops_per_s / peaks[dtype]:.0f}%"
                    print(f"{preset} batch {batch} {precision} XLA {jit}: {rate:.2f} images/s",
                          flush=True)
                    rows.append(row)
    print()
    print(common.markdown_table(rows, [
        ("preset", "preset"), ("batch", "batch"), ("precision", "precision"), ("XLA", "xla"),
        ("images/s", "images_per_second"), ("s/step median", "step_median"),
        ("min", "step_min"), ("max", "step_max"), ("fit overhead s", "fit_overhead"),
        ("GFLOP/step", "gflop_per_step", 1), ("GFLOP/s", "gflop_per_second", 1),
        ("% of float32 peak", "share_float32_peak"),
        ("% of compute-dtype peak", "share_compute_peak"), ("peak RSS GB", "peak_rss_gb", 1)]))
    print(f"Rows: {common.write_rows(args.out, rows)}")


if __name__ == "__main__":
    main()
