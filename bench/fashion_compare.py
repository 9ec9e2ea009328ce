"""Score Fashion-MNIST generators in the domain metric: ViTGAN runs and DCGAN baselines.

    python -m bench.fashion_compare --vitgan=runs/fashion_mnist --dcgan=runs/dcgan \
        [--samples=10000] [--out=bench/results/fashion_compare.json]

For every checkpoint of each ViTGAN run (its EMA generator) and every snapshot of each DCGAN
run (bench/baselines/dcgan.py), it computes in the features of the shipped Fashion-MNIST
classifier (`--extractor=fashion_classifier`): Fréchet distance (FD), KID, IS, improved
precision and recall (k = 3) and the number of classes holding at least 1% of the samples,
against the 10,000 test images; and once the real-vs-real floor (`--samples` training images
in place of generated ones). Each row also gives the images seen and the training seconds
(time inside training steps, from the run's own logs). Prints a table and writes the rows as
JSON for the README's tables.
"""

import argparse
import json
import os

import numpy as np

from bench import common
from bench.baselines import dcgan
from vitgan_tf import checkpoints, data, features, real_stats, rundir, scoring

METRICS = ["fid", "kid", "is", "pr"]


def reference_stats(extractor, data_dir, cache_dir):
    return real_stats.reference_statistics("fashion_mnist", data_dir, 28, extractor, 10_000, 500,
                                         cache_dir)[0]


def score_features(fake, real, seed=0):
    r = scoring.metrics_of_features(fake, real, METRICS,
                                     scoring.Settings(seed=seed, kid_subsets=50))
    shares = np.asarray(r["class_counts"], np.float64) / max(1, sum(r["class_counts"]))
    return {"fd": r["fd"], "kid": r["kid"], "is": r["is"], "precision": r["precision"],
            "recall": r["recall"], "classes": r["classes"], "class_counts": r["class_counts"],
            "classes_5pct": int(np.sum(shares >= 0.05)),
            "share_min": float(shares.min()), "share_max": float(shares.max())}


def _images_per_second(workdir):
    return common.read_scalars(workdir, {"train/images_per_second"}).get(
        "train/images_per_second", [])


def vitgan_wall_seconds(workdir):
    """{step: wall-clock seconds from the run's start}: the start is when config.json was
    written (the run is known to start; before the model is built and the step compiled),
    each step's time that of its TensorBoard progress event. Everything counts: compiling,
    samples, in-training KID, checkpoints. Valid for a run that was not resumed."""
    start = os.path.getmtime(os.path.join(workdir, "config.json"))
    return {step: wall - start for step, wall, _ in _images_per_second(workdir)}


def vitgan_training_seconds(workdir):
    """({step: seconds spent in training steps up to it}, batch size), from the images/s that
    the run logs to TensorBoard for each chunk of steps (time in callbacks is left out)."""
    with open(os.path.join(workdir, "config.json")) as f:
        batch = json.load(f)["train"]["batch_size"]
    seconds, total, last = {}, 0.0, 0
    for step, _, rate in _images_per_second(workdir):
        total += (step - last) * batch / rate
        seconds[step], last = total, step
    return seconds, batch


def score_generator(generator, extractor, real, samples):
    """`score_features` of `samples` images of a ViTGAN generator (seeds 0.., batches of 500)."""
    fake = features.extract(extractor, scoring.generated_batches(generator, samples, 500),
                            samples, verbose=False)
    return score_features(fake, real)


def score_vitgan(workdir, extractor, real, samples, every=0):
    import tensorflow as tf

    seconds, batch = vitgan_training_seconds(workdir)
    wall = vitgan_wall_seconds(workdir)
    rows = []
    state = tf.train.get_checkpoint_state(os.path.join(workdir, "checkpoints"))
    paths = list(state.all_model_checkpoint_paths) if state else []
    for i, path in enumerate(paths):
        if every and checkpoints.checkpoint_step(path) % every and i != len(paths) - 1:
            continue  # --every: multiples of it and the last checkpoint
        _, generator, _, step = rundir.load_generator(workdir, path)
        row = {"model": "vitgan", "run": workdir, "checkpoint": path, "step": step,
               "images": step * batch, "train_seconds": round(seconds.get(step, float("nan")), 1),
               "wall_seconds": round(wall.get(step, float("nan")), 1),
               **score_generator(generator, extractor, real, samples)}
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def score_dcgan(workdir, extractor, real, samples):
    rows = []
    with open(os.path.join(workdir, "snapshots", "log.jsonl")) as f:
        entries = [json.loads(line) for line in f if line.strip()]
    arch = entries[0].get("arch", "tutorial") if entries else "tutorial"
    g = dcgan.build_generator(arch)
    z = np.random.default_rng(0).standard_normal((samples, dcgan.LATENTS[arch])).astype(
        np.float32)
    for entry in entries:
        g.load_weights(entry["weights"])
        fake = features.extract(extractor, (dcgan.generate(g, z[i:i + 500])
                                            for i in range(0, samples, 500)), samples,
                                verbose=False)
        row = {"model": "dcgan", "run": workdir, "checkpoint": entry["weights"],
               "images": entry["images"], "train_seconds": entry["seconds"],
               **score_features(fake, real)}
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vitgan", action="append", default=[], help="ViTGAN run directory")
    parser.add_argument("--dcgan", action="append", default=[], help="DCGAN run directory")
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--cache_dir", default="runs/stats")
    parser.add_argument("--out", default=common.results_path("fashion_compare"),
                        help="JSON rows")
    parser.add_argument("--every", type=int, default=0,
                        help="ViTGAN: score only steps that are multiples of this, and the last")
    args = parser.parse_args()
    extractor = features.FashionClassifier()
    real = reference_stats(extractor, args.data_dir, args.cache_dir)
    train_images, _ = data.idx_images("fashion_mnist", 28, args.data_dir, "train")
    pick = np.random.default_rng(0).permutation(len(train_images))[:args.samples]
    floor = features.extract(extractor, (train_images[pick][i:i + 500]
                                         for i in range(0, args.samples, 500)), args.samples,
                             verbose=False)
    rows = [{"model": "real (train split)", "images": 0, "train_seconds": 0,
             **score_features(floor, real)}]
    print(json.dumps(rows[0]), flush=True)
    for workdir in args.vitgan:
        rows += score_vitgan(workdir, extractor, real, args.samples, args.every)
    for workdir in args.dcgan:
        rows += score_dcgan(workdir, extractor, real, args.samples)
    for r in rows:
        r["kimg"] = r["images"] / 1000
        r["wall_or_train_seconds"] = r.get("wall_seconds", r["train_seconds"])
        r["min_share"], r["max_share"] = 100 * r["share_min"], 100 * r["share_max"]
    print(common.markdown_table(rows, [
        ("model", "model"), ("kimg", "kimg", 1), ("train s", "train_seconds", 0),
        ("wall s", "wall_or_train_seconds", 0), ("FD", "fd"), ("KID", "kid", 4), ("IS", "is"),
        ("precision", "precision"), ("recall", "recall"), ("classes >= 5%", "classes_5pct"),
        ("min %", "min_share", 1), ("max %", "max_share", 1), ("checkpoint", "checkpoint")]))
    print(f"Rows: {common.write_rows(args.out, rows)}")


if __name__ == "__main__":
    main()
