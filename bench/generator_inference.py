"""Generator inference speed: SavedModel and each TFLite variant, batch 1 and 64.

    python -m bench.generator_inference                       # 32 preset, random weights
    python -m bench.generator_inference --workdir=runs/digits # a trained run's EMA generator

Exports through the same code as `python -m vitgan_tf.export` into a temporary folder, then
times each artifact (median of --repeats calls after a warm-up call) and reports the largest
absolute difference of each TFLite variant from the SavedModel's float output.
"""

import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import tensorflow as tf

from bench import common
from vitgan_tf import export, rundir
from vitgan_tf.models import Generator


def _median_seconds(fn, repeats):
    fn()  # warm-up: tracing, allocation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="32")
    parser.add_argument("--workdir", default="")
    parser.add_argument("--batches", default="1,64")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=common.results_path("generator_inference"),
                        help="JSON rows")
    args = parser.parse_args()
    from ai_edge_litert.interpreter import Interpreter

    if args.workdir:
        _, generator, _, _ = rundir.load_generator(args.workdir)
        label = f"EMA generator of {args.workdir}"
    else:
        generator, label = Generator(args.preset), f"preset {args.preset}, random weights"
    latent = generator.vitgan_config.latent_dim
    print(f"Generator: {label}; {generator.count_params():,} weights; "
          f"{generator.vitgan_config.image_size}px")
    print(f"Machine: {common.describe_machine()}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        module = export.GeneratorModule(generator)
        tf.saved_model.save(module, os.path.join(tmp, "sm"), signatures=module.signatures())
        saved = tf.saved_model.load(os.path.join(tmp, "sm")).signatures
        paths = {}
        for variant in export.TFLITE_VARIANTS:
            paths[variant] = os.path.join(tmp, f"{variant}.tflite")
            with open(paths[variant], "wb") as f:
                f.write(export.convert_tflite(generator, variant))
        for batch in [int(b) for b in args.batches.split(",")]:
            z = tf.constant(np.random.default_rng(0).standard_normal((batch, latent)), tf.float32)
            reference = saved["generate_raw"](z=z)["images"].numpy()
            seconds = _median_seconds(lambda z=z: saved["serving_default"](z=z)["images"].numpy(),
                                      args.repeats)
            size = export.artifact_size(os.path.join(tmp, "sm")) / 1e6
            rows.append({"artifact": "SavedModel (uint8)", "size_mb": size, "batch": batch,
                         "ms_per_batch": 1e3 * seconds, "images_per_second": batch / seconds})
            for variant, path in paths.items():
                interpreter = Interpreter(model_path=path, num_threads=os.cpu_count())
                z_in = interpreter.get_input_details()[0]
                interpreter.resize_tensor_input(z_in["index"], [batch, latent])
                interpreter.allocate_tensors()
                interpreter.set_tensor(z_in["index"], z.numpy())
                seconds = _median_seconds(interpreter.invoke, args.repeats)
                raw = next(interpreter.get_tensor(d["index"])
                           for d in interpreter.get_output_details()
                           if d["dtype"] == np.float32)
                error = np.abs(raw - reference).max()
                rows.append({"artifact": f"TFLite {variant}",
                             "size_mb": os.path.getsize(path) / 1e6, "batch": batch,
                             "ms_per_batch": 1e3 * seconds, "images_per_second": batch / seconds,
                             "max_abs_error": f"{error:.2e}"})
    print(common.markdown_table(rows, [
        ("artifact", "artifact"), ("size MB", "size_mb", 1), ("batch", "batch"),
        ("ms / batch", "ms_per_batch", 1), ("images / s", "images_per_second", 1),
        ("max abs err vs SavedModel", "max_abs_error")]))
    print(f"Rows: {common.write_rows(args.out, rows)}")


if __name__ == "__main__":
    main()
