"""How far the TFLite variants of exported generators are from the generator itself.

    python -m bench.tflite_accuracy RUN [RUN ...] [--samples=256] [--variants=...]

For each run (its newest checkpoint's EMA generator) and each variant, the generator is
converted as `export` converts it, run in LiteRT on the latents of seeds 0 .. samples-1, and
compared with the generator's own float32 images on the displayed range (both clipped to
[-1, 1], as the uint8 output is): the largest and the mean absolute difference, and the
99.9th percentile. Rows go to bench/results/tflite_accuracy.json.
"""

import argparse
import os

import numpy as np

from bench import common


def lite_images(flatbuffer, z):
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_content=flatbuffer).get_signature_runner("serving_default")
    return np.concatenate([runner(z=z[i:i + 32])["raw"] for i in range(0, len(z), 32)])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--variants", default="float16,dynamic_range")
    args = parser.parse_args()
    from vitgan_tf import export, rng, rundir

    rows = []
    for workdir in args.runs:
        _, generator, path, step = rundir.load_generator(workdir)
        if generator.vitgan_config.num_classes:
            raise SystemExit(f"{workdir}: conditional runs are not measured here")
        z = rng.latents_from_seeds(np.arange(args.samples),
                                   generator.vitgan_config.latent_dim).numpy()
        reference = np.clip(generator(z).numpy(), -1, 1)
        for variant in args.variants.split(","):
            got = np.clip(lite_images(export.convert_tflite(generator, variant), z), -1, 1)
            error = np.abs(got - reference)
            row = {"run": workdir, "checkpoint": os.path.basename(path), "step": step,
                   "variant": variant, "samples": args.samples,
                   "max_error": float(error.max()), "p999_error": float(
                       np.quantile(error, 0.999)), "mean_error": float(error.mean())}
            print(row, flush=True)
            rows.append(row)
    common.write_rows(os.path.join(common.RESULTS, "tflite_accuracy.json"), rows)
    print(common.markdown_table(rows, [("run", "run"), ("variant", "variant"),
                                       ("max", "max_error", 3), ("99.9%", "p999_error", 3),
                                       ("mean", "mean_error", 4)]))


if __name__ == "__main__":
    main()
