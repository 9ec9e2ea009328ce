"""Score Fashion-MNIST generators in the domain metric: ViTGAN runs and DCGAN baselines.

    python -m bench.fashion_compare --vitgan=runs/fashion_mnist --dcgan=runs/dcgan \
        [--samples=10000] [--out=bench/results/fashion_compare.json]

For every checkpoint of each ViTGAN run (its EMA generator) and every snapshot of each DCGAN
run (bench/baselines/dcgan.py), it computes in the features of the two shipped Fashion-MNIST
classifiers, the two judges (`--extractor=fashion_classifier`, the CNN, and
`--extractor=fashion_resnet`, whose keys carry the prefix `resnet_`): Fréchet distance (FD),
KID, IS, improved precision and recall (k = 3), the number of classes holding at least 1% of
the samples and the smallest and largest class shares, against the 10,000 test images; and
once the real-vs-real floor (`--samples` training images in place of generated ones). Both
judges score the same images. Each row also gives the images seen and the training seconds
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
# Both judges' FD, recall and class shares, for markdown_table.
JUDGE_COLUMNS = [
    (f"{label} {name}", prefix + key, *digits) for prefix, label in (("", "CNN"),
                                                                      ("resnet_", "ResNet"))
    for name, key, *digits in (("FD", "fd"), ("precision", "precision"), ("recall", "recall"),
                               ("min %", "min_pct", 1), ("max %", "max_pct", 1))]


def reference_stats(extractor, data_dir, cache_dir):
    return real_stats.reference_statistics("fashion_mnist", data_dir, 28, extractor, 10_000, 500,
                                         cache_dir)[0]


class Judges:
    """The two Fashion-MNIST judges (`features.FashionClassifier` CNN and ResNet) with their
    statistics of the test images; `score` gives both judges' numbers of one set of images,
    the first's keys as they are, the second's prefixed `resnet_`."""

    def __init__(self, data_dir=None, cache_dir="runs/stats"):
        self.extractors = [features.FashionClassifier(),
                           features.FashionClassifier(arch="resnet")]
        self.prefixes = ["", "resnet_"]
        self.reals = [reference_stats(e, data_dir, cache_dir) for e in self.extractors]

    def score(self, batches, samples):
        images = np.concatenate([np.asarray(b, np.float32) for b in batches])[:samples]
        row = {}
        for extractor, real, prefix in zip(self.extractors, self.reals, self.prefixes):
            fake = features.extract(extractor, (images[i:i + 500]
                                                for i in range(0, len(images), 500)),
                                    samples, verbose=False)
            row.update({prefix + k: v for k, v in score_features(fake, real).items()})
        return row


def score_features(fake, real, seed=0):
    r = scoring.metrics_of_features(fake, real, METRICS,
                                     scoring.Settings(seed=seed, kid_subsets=50))
    shares = np.asarray(r["class_counts"], np.float64) / max(1, sum(r["class_counts"]))
    return {"fd": r["fd"], "kid": r["kid"], "is": r["is"], "precision": r["precision"],
            "recall": r["recall"], "classes": r["classes"], "class_counts": r["class_counts"],
            "classes_5pct": int(np.sum(shares >= 0.05)),
            "share_min": float(shares.min()), "share_max": float(shares.max()),
            "min_pct": 100 * float(shares.min()), "max_pct": 100 * float(shares.max())}


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


def score_generator(generator, judges, samples):
    """Both judges' `score_features` of `samples` images of a ViTGAN generator (seeds 0..,
    batches of 500)."""
    return judges.score(scoring.generated_batches(generator, samples, 500), samples)


def score_vitgan(workdir, judges, samples, every=0, steps=()):
    import tensorflow as tf

    seconds, batch = vitgan_training_seconds(workdir)
    wall = vitgan_wall_seconds(workdir)
    rows = []
    state = tf.train.get_checkpoint_state(os.path.join(workdir, "checkpoints"))
    paths = list(state.all_model_checkpoint_paths) if state else []
    for i, path in enumerate(paths):
        if every and checkpoints.checkpoint_step(path) % every and i != len(paths) - 1:
            continue  # --every: multiples of it and the last checkpoint
        if steps and checkpoints.checkpoint_step(path) not in steps:
            continue  # --steps: those alone
        _, generator, _, step = rundir.load_generator(workdir, path)
        row = {"model": "vitgan", "run": workdir, "checkpoint": path, "step": step,
               "images": checkpoints.images_seen(path, step * batch),
               "train_seconds": round(seconds.get(step, float("nan")), 1),
               "wall_seconds": round(wall.get(step, float("nan")), 1),
               **score_generator(generator, judges, samples)}
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def nearest_snapshots(entries, kimg):
    """For each of `kimg` (thousands of images), the first snapshot entry at or past it (the
    DCGAN gets at least its time; the last one if none is), in order."""
    if not kimg:
        return entries
    picked = {next((i for i, e in enumerate(entries) if e["images"] >= 1000 * k),
                   len(entries) - 1) for k in kimg}
    return [entries[i] for i in sorted(picked)]


def score_dcgan(workdir, judges, samples, kimg=()):
    rows = []
    with open(os.path.join(workdir, "snapshots", "log.jsonl")) as f:
        entries = nearest_snapshots([json.loads(line) for line in f if line.strip()], kimg)
    arch = entries[0].get("arch", "tutorial") if entries else "tutorial"
    g = dcgan.build_generator(arch)
    z = np.random.default_rng(0).standard_normal((samples, dcgan.LATENTS[arch])).astype(
        np.float32)
    for entry in entries:
        g.load_weights(entry["weights"])
        row = {"model": "dcgan", "run": workdir, "checkpoint": entry["weights"],
               "images": entry["images"], "train_seconds": entry["seconds"],
               **judges.score((dcgan.generate(g, z[i:i + 500])
                               for i in range(0, samples, 500)), samples)}
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
    parser.add_argument("--steps", default="", help="ViTGAN: score only these steps, e.g. "
                        "4000,16000")
    parser.add_argument("--kimg", default="", help="DCGAN: score only the first snapshots at "
                        "or past these kimg, e.g. 197,796")
    args = parser.parse_args()
    judges = Judges(args.data_dir, args.cache_dir)
    train_images, _ = data.idx_images("fashion_mnist", 28, args.data_dir, "train")
    pick = np.random.default_rng(0).permutation(len(train_images))[:args.samples]
    rows = [{"model": "real (train split)", "images": 0, "train_seconds": 0,
             **judges.score([train_images[pick]], args.samples)}]
    print(json.dumps(rows[0]), flush=True)
    steps = [int(x) for x in args.steps.split(",") if x.strip()]
    kimg = [float(x) for x in args.kimg.split(",") if x.strip()]
    for workdir in args.vitgan:
        rows += score_vitgan(workdir, judges, args.samples, args.every, steps)
    for workdir in args.dcgan:
        rows += score_dcgan(workdir, judges, args.samples, kimg)
    for r in rows:
        r["kimg"] = r["images"] / 1000
        r["wall_or_train_seconds"] = r.get("wall_seconds", r["train_seconds"])
    print(common.markdown_table(rows, [
        ("model", "model"), ("kimg", "kimg", 1), ("train s", "train_seconds", 0),
        ("wall s", "wall_or_train_seconds", 0), ("IS", "is"), *JUDGE_COLUMNS,
        ("checkpoint", "checkpoint")]))
    print(f"Rows: {common.write_rows(args.out, rows)}")


if __name__ == "__main__":
    main()
