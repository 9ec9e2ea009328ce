"""The projector on Fashion-MNIST test images: distances before and after, against a random
style, and the time per image.

    python -m bench.projector [--workdir=pretrained/fashion_mnist] [--images=100] [--steps=300]

Projects the first `--images` test images (all at once: each target has its own w, and they do
not interact) with `vitgan_tf.project.project`: from the mean style, and as the command does
from the nearest of `--candidates` seeds' styles (W, then W+). Reports per image the pixel
distance (mean squared difference in [-1, 1]) and the perceptual distance (squared distance of
unit features in the first judge, `fashion_classifier`) of: the mean style, the image of a
random style (seed i's), the nearest candidate, and the projections. The second judge
(`fashion_resnet`) scores the same images, as a check that the projection is not fitted to
the first judge's features alone. Rows: bench/results/projector.json.
"""

import argparse
import time

import numpy as np

from bench import common
from vitgan_tf import data, features, project, rng, rundir


def summary(values):
    values = np.asarray(values, np.float64)
    return {"mean": float(values.mean()), "median": float(np.median(values))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="pretrained/fashion_mnist")
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--perceptual_weight", type=float, default=0.5)
    parser.add_argument("--candidates", type=int, default=256)
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--out", default=common.results_path("projector"))
    args = parser.parse_args()
    _, generator, checkpoint, step = rundir.load_generator(args.workdir)
    targets = data.idx_images("fashion_mnist", 28, args.data_dir, "test")[0][:args.images]
    cnn, resnet = features.FashionClassifier(), features.FashionClassifier(arch="resnet")
    dim = generator.vitgan_config.latent_dim
    random_images = np.asarray(generator(rng.latents_from_seeds(np.arange(len(targets)), dim)))
    start_images = np.asarray(generator.synthesize(project.start_styles(generator,
                                                                        len(targets))))
    rows = []

    def measure(name, images, seconds=None):
        pixel, perceptual = project.distances(images, targets, cnn.pool)
        _, resnet_perceptual = project.distances(images, targets, resnet.pool)
        row = {"what": name, "images": len(targets), "pixel": summary(pixel),
               "perceptual": summary(perceptual), "resnet_perceptual": summary(
                   resnet_perceptual), "seconds_per_image": seconds}
        rows.append(row)
        print(row, flush=True)

    measure("mean style (the start)", start_images)
    measure("a random style (seed i)", random_images)
    start = time.perf_counter()
    nearest = project.nearest_styles(generator, targets, args.candidates, cnn.pool,
                                     args.perceptual_weight)
    measure(f"the nearest of {args.candidates} seeds' styles",
            np.asarray(generator.synthesize(nearest)),
            (time.perf_counter() - start) / len(targets))
    for candidates, w_plus in ((0, False), (args.candidates, False), (args.candidates, True)):
        start = time.perf_counter()
        _, images, _ = project.project(generator, targets, args.steps, 0.05, w_plus, cnn.pool,
                                       args.perceptual_weight, candidates=candidates)
        seconds = (time.perf_counter() - start) / len(targets)
        measure(f"projected from {'the nearest' if candidates else 'the mean style'}, "
                f"{'W+' if w_plus else 'W'}, {args.steps} steps", images, seconds)
    table = [{"what": r["what"], "pixel": r["pixel"]["mean"],
              "perceptual": r["perceptual"]["mean"],
              "resnet": r["resnet_perceptual"]["mean"],
              "s": r["seconds_per_image"] or float("nan")} for r in rows]
    print(f"{checkpoint} (step {step})")
    print(common.markdown_table(table, [
        ("start", "what"), ("pixel MSE", "pixel", 4), ("perceptual (CNN)", "perceptual", 3),
        ("perceptual (ResNet)", "resnet", 3), ("s / image", "s", 2)]))
    print(f"Rows: {common.write_rows(args.out, rows)}")


if __name__ == "__main__":
    main()
