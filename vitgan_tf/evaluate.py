"""Evaluate a run's EMA generator: FID, KID, Inception Score, precision and recall; for a
class-conditional run also class accuracy and intra-class FD.

    python -m vitgan_tf.evaluate --workdir=runs/cifar10 --metrics=fid50k,kid,is \
        --extractor=fid_inception --inception_path=/data/classify_image_graph_def.pb
    python -m vitgan_tf.evaluate --workdir=runs/fashion --extractor=fashion_classifier \
        --metrics=fid10k,kid,is,pr
    python -m vitgan_tf.evaluate --workdir=runs/fashion_mnist_cond \
        --extractor=fashion_classifier --metrics=fid,pr,acc,ifd --num_samples=10000

Writes WORKDIR/eval/step_<N>_<extractor>_n<samples>_psi<psi>_<settings hash>.json (a later
evaluation of the same step, extractor and settings adds its metrics to that file and replaces
only the ones it recomputed; other settings get their own file) and logs
eval/* scalars to TensorBoard at the checkpoint's step. Real-data statistics are computed once
and cached (npz) per dataset settings, split, resolution, extractor and sample count.

The reference set is the dataset's test split where it has one (Fashion-MNIST, MNIST), else its
training images. With a test split, the report also gives the real-vs-real floor: the same
metrics for `num_samples` real training images in place of generated ones.
"""

import dataclasses
import hashlib
import json
import os
import re

import numpy as np
import tensorflow as tf
from absl import flags, logging

from vitgan_tf import cli, features, metrics, rundir
from vitgan_tf import data as data_lib
from vitgan_tf import images as images_lib
from vitgan_tf.config import EXTRACTORS
from vitgan_tf.errors import UserError

KID_CACHE = 10_000  # real activations kept in the cache for KID


def define_flags():
    """Command-line flags (defined only when run as a program)."""
    cli.define_run_flags("Truncation psi (1: none, as in the paper).")
    flags.DEFINE_list("metrics", ["fid", "kid", "is"],
                      "fid, kid, is, pr (precision and recall); for conditional runs acc (class "
                      "accuracy) and ifd (intra-class FD: each class against that class's real "
                      "images); a suffix such as fid50k sets the number of generated samples.")
    flags.DEFINE_integer("num_samples", 50_000, "Generated images.")
    flags.DEFINE_integer("real_samples", 50_000, "Real images for the statistics (at most the "
                         "dataset's size).")
    flags.DEFINE_enum("extractor", "fid_inception", list(EXTRACTORS),
                      "fid_inception: the 2015 Inception graph (paper-comparable); "
                      "keras_inception: keras.applications.InceptionV3 (monitoring only); "
                      "fashion_classifier: the "
                      "Fashion-MNIST domain metric.")
    flags.DEFINE_string("inception_path", "", "classify_image_graph_def.pb for fid_inception.")
    flags.DEFINE_string("inception_weights", "imagenet",
                        "keras_inception weights: imagenet, a file, or none (random; tests only).")
    flags.DEFINE_integer("batch_size", 100, "Images per generator / extractor batch.")
    flags.DEFINE_string("cache_dir", "", "Real-statistics cache; default WORKDIR/stats.")
    flags.DEFINE_integer("seed", 0, "Latent seed.")
    flags.DEFINE_integer("kid_subsets", 100, "KID subsets.")
    flags.DEFINE_integer("kid_subset_size", 1000, "KID subset size.")
    flags.DEFINE_integer("is_splits", 10, "Inception Score splits.")


def parse_metrics(names, num_samples):
    """(metric names, generated sample count) from e.g. ["fid50k", "kid"]."""
    parsed, counts = [], set()
    for name in names:
        match = re.fullmatch(r"([a-z]+?)(?:(\d+)k)?", name.strip().lower())
        if not match or match.group(1) not in METRICS:
            raise UserError(f"--metrics: unknown metric {name!r}; expected one of "
                            f"{', '.join(METRICS)}, optionally with a sample count such as "
                            "fid50k.")
        parsed.append(match.group(1))
        if match.group(2):
            counts.add(int(match.group(2)) * 1000)
    if len(counts) > 1:
        raise UserError(f": conflicting sample counts {counts}.",
                        argument="metrics", value=','.join(names))
    return parsed, counts.pop() if counts else num_samples


def generated_batches(generator, num_samples, batch_size, truncation_psi=1.0, seed=0):
    """EMA-generator images, batch by batch, of the latents of seeds seed * 10**9 + i,
    i < num_samples (`rng.latents_from_seeds`, the project's seed convention). A conditional
    generator draws sample i of class i mod num_classes: every class equally often."""
    classes = generator.vitgan_config.user_classes
    index = np.arange(num_samples)
    return images_lib.seed_batches(generator, seed * 10**9 + index, truncation_psi,
                                   index % classes if classes else None, batch_size)


def reference_split(dataset):
    """The split that generated images are compared with: the test split where there is one."""
    return "test" if dataset in data_lib.IDX_DATASETS else "train"


def real_stats_cache_path(cache_dir, dataset, image_size, extractor, num_samples,
                          data_dir=None, split="train"):
    """The npz caching real statistics for one dataset setting, split, resolution, extractor
    and count. The data folder is part of the key (hashed), so two folders never share one."""
    where = os.path.abspath(data_dir) if data_dir else ""
    digest = hashlib.sha256(json.dumps([dataset, where, split]).encode()).hexdigest()[:10]
    return os.path.join(
        cache_dir, f"{dataset}_{split}_{digest}_{image_size}px_{extractor.name}_{num_samples}.npz")


def real_statistics(source, extractor, num_samples, batch_size, cache_path=None):
    """{"mu", "sigma", "kid_activations", "num_samples"} of real images, cached in an npz."""
    stats = _load_cache(cache_path, "real-statistics")
    if stats is not None:
        logging.info("Real statistics from %s", cache_path)
        return stats
    size = int(source.cardinality())
    if size >= 0 and size < num_samples:
        logging.warning("The dataset has %d images; using all of them instead of %d.", size,
                        num_samples)
        num_samples = size
    batches = source.batch(batch_size).prefetch(tf.data.AUTOTUNE).as_numpy_iterator()
    logging.info("Computing real statistics on %d images", num_samples)
    pool = features.extract(extractor, batches, num_samples)["pool"]
    mu, sigma = metrics.activation_statistics(pool)
    keep = np.random.default_rng(0).permutation(len(pool))[:KID_CACHE]
    stats = {"mu": mu, "sigma": sigma, "kid_activations": pool[keep],
             "num_samples": np.asarray(num_samples)}
    if cache_path:
        _save_cache(cache_path, stats)
    return stats


def _load_cache(path, what):
    """The arrays of the npz cache at `path`, or None where there is none; a cache that cannot
    be read is a UserError naming it (`what`: which cache)."""
    if not path or not os.path.exists(path):
        return None
    try:
        with np.load(path) as cached:
            return dict(cached)
    except Exception as error:  # noqa: BLE001 - any unreadable cache gets the same advice
        raise UserError(f"{path}: the {what} cache cannot be read ({error}); delete it and it "
                        "will be computed again.") from None


def _save_cache(path, stats):
    """Write `stats` to the npz `path` whole or not at all (a temporary file, then a rename)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp.npz"
    np.savez(tmp, **stats)
    os.replace(tmp, path)


def reference_statistics(dataset, data_dir, image_size, extractor, num_samples, batch_size,
                         cache_dir):
    """`real_statistics` of the dataset's reference split (`reference_split`), cached in
    `cache_dir` under `real_stats_cache_path`. Returns (stats, split)."""
    split = reference_split(dataset)
    cache = real_stats_cache_path(cache_dir, dataset, image_size, extractor, num_samples,
                                  data_dir, split)
    source = data_lib.image_source(dataset, image_size, data_dir, split=split)
    return real_statistics(source, extractor, num_samples, batch_size, cache), split


def extract_labelled(source, extractor, num_samples, batch_size):
    """Features {"pool", "logits", "labels"} of up to `num_samples` (image, label) pairs of
    the unbatched `source`."""
    labels = []

    def images():
        for batch, batch_labels in source.batch(batch_size).as_numpy_iterator():
            labels.append(batch_labels)
            yield batch

    size = int(source.cardinality())
    num_samples = min(num_samples, size) if size >= 0 else num_samples
    found = features.extract(extractor, images(), num_samples, verbose=False)
    return {**found, "labels": np.concatenate(labels)[:len(found["pool"])]}


def class_statistics(pool, labels, num_classes):
    """{"class_mu": (C, D), "class_sigma": (C, D, D), "class_counts": (C,)} of activations by
    label; a class with fewer than 2 images has NaN statistics."""
    dim = pool.shape[1]
    mu = np.full((num_classes, dim), np.nan)
    sigma = np.full((num_classes, dim, dim), np.nan)
    counts = np.bincount(labels, minlength=num_classes)[:num_classes]
    for c in range(num_classes):
        if counts[c] >= 2:
            mu[c], sigma[c] = metrics.activation_statistics(pool[labels == c])
    return {"class_mu": mu, "class_sigma": sigma, "class_counts": counts}


def reference_class_statistics(dataset, data_dir, image_size, extractor, num_classes,
                               num_samples, batch_size, cache_dir):
    """`class_statistics` of the reference split's images by their labels (for `ifd`), cached
    in `cache_dir` next to the pooled statistics."""
    split = reference_split(dataset)
    pooled = real_stats_cache_path(cache_dir, dataset, image_size, extractor, num_samples,
                                   data_dir, split)
    cache = os.path.splitext(pooled)[0] + "_classes.npz"
    stats = _load_cache(cache, "per-class statistics")
    if stats is not None:
        return stats
    logging.info("Computing per-class real statistics (%s split)", split)
    source = data_lib.image_source(dataset, image_size, data_dir, split=split, with_labels=True)
    found = extract_labelled(source, extractor, num_samples, batch_size)
    stats = class_statistics(found["pool"], found["labels"], num_classes)
    _save_cache(cache, stats)
    return stats


@dataclasses.dataclass(frozen=True)
class Settings:
    """How an evaluation is computed; every field changes the numbers, so the report file of an
    evaluation is named by its settings (`report_path`).

    num_samples: generated images; real_samples: real images for the statistics (at most the
    dataset's size); batch_size: images per generator / extractor batch; truncation_psi: 1 is
    none, as in the paper; seed: latent seed (image i has seed seed * 10**9 + i); kid_subsets,
    kid_subset_size: KID's subsets; is_splits: Inception Score splits.
    """
    num_samples: int = 50_000
    real_samples: int = 50_000
    batch_size: int = 100
    truncation_psi: float = 1.0
    seed: int = 0
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    is_splits: int = 10


# -- the metrics: name -> function(fake features, real statistics, settings) -> {key: value} --

METRICS = {}


def _metric(name):
    def register(function):
        METRICS[name] = function
        return function
    return register


@_metric("fid")
def _fid(fake, real, settings):
    mu, sigma = metrics.activation_statistics(fake["pool"])
    # Written as "fd" (a Frechet distance in the extractor's features: FID for Inception's),
    # the key and TensorBoard tag (eval/fd_<extractor>) that training's monitor writes too.
    return {"fd": metrics.frechet_distance(mu, sigma, real["mu"], real["sigma"])}


@_metric("kid")
def _kid(fake, real, settings):
    kid, std = metrics.kernel_inception_distance(
        fake["pool"], real["kid_activations"], settings.kid_subsets, settings.kid_subset_size,
        settings.seed)
    return {"kid": kid, "kid_std": std}


@_metric("is")
def _inception_score(fake, real, settings):
    """With the count of samples per class (argmax of the logits) and the number of classes
    that hold at least 1% of the samples."""
    probabilities = tf.nn.softmax(fake["logits"]).numpy()
    score, std = metrics.inception_score(probabilities, settings.is_splits)
    counts = np.bincount(probabilities.argmax(1), minlength=probabilities.shape[1])
    return {"is": score, "is_std": std, "class_counts": counts.tolist(),
            "classes": int(np.sum(counts >= 0.01 * len(probabilities)))}


@_metric("pr")
def _precision_recall(fake, real, settings):
    precision, recall = metrics.precision_recall(real["kid_activations"], fake["pool"])
    return {"precision": precision, "recall": recall}


CONDITIONAL_METRICS = {"acc": "class accuracy", "ifd": "intra-class FD"}


def _require_conditional(name, conditional):
    if not conditional:
        raise UserError(f": {CONDITIONAL_METRICS[name]} needs a conditional run "
                        "(trained with --conditional).", argument="metrics", value=name)


@_metric("acc")
def _class_accuracy(fake, real, settings):
    """Conditional runs: the share of the samples drawn for class c that the extractor's
    classifier puts in class c, per class and overall (meaningful when the classifier's
    classes are the run's: the Fashion-MNIST classifier on a conditional Fashion-MNIST run)."""
    _require_conditional("acc", "labels" in fake)
    predicted, labels = np.argmax(fake["logits"], axis=1), fake["labels"]
    per_class = [float(np.mean(predicted[labels == c] == c)) if np.any(labels == c) else None
                 for c in range(int(labels.max()) + 1)]
    return {"class_accuracy": float(np.mean(predicted == labels)),
            "class_accuracy_per_class": per_class}


@_metric("ifd")
def _intra_class_fd(fake, real, settings):
    """Conditional runs: FD between the samples drawn for class c and the real images of class c
    (`class_statistics` of the reference split), per class and their mean over the classes
    that have both."""
    _require_conditional("ifd", "labels" in fake)
    per_class = []
    for c in range(len(real["class_mu"])):
        pool = fake["pool"][fake["labels"] == c]
        if len(pool) < 2 or real["class_counts"][c] < 2:
            per_class.append(None)
            continue
        mu, sigma = metrics.activation_statistics(pool)
        per_class.append(metrics.frechet_distance(mu, sigma, real["class_mu"][c],
                                                  real["class_sigma"][c]))
    scored = [fd for fd in per_class if fd is not None]
    return {"ifd": float(np.mean(scored)) if scored else float("nan"),
            "ifd_per_class": per_class}


def _until(batches, stop):
    for batch in batches:
        if stop():
            raise Stopped()
        yield batch


def metrics_of_features(fake, real_stats, metric_names, settings=Settings()):
    """The metrics named (keys of METRICS) of extracted features {"pool", "logits"} against
    `real_stats` (see `real_statistics`)."""
    results = {}
    for name in metric_names:
        results.update(METRICS[name](fake, real_stats, settings))
    return results


class Stopped(Exception):
    """An evaluation given up between two batches because its `stop` callable said so."""


def evaluate(generator, real_stats, extractor, metric_names, settings=Settings(), stop=None):
    """The requested metrics of `generator` against `real_stats` (see `real_statistics`).

    stop: optional zero-argument callable, asked before each batch; when it returns True the
    evaluation raises `Stopped` (training's monitor gives way to a preemption signal)."""
    logging.info("Extracting features of %d generated images", settings.num_samples)
    batches = generated_batches(generator, settings.num_samples, settings.batch_size,
                                settings.truncation_psi, settings.seed)
    if stop is not None:
        batches = _until(batches, stop)
    fake = features.extract(extractor, batches, settings.num_samples)
    classes = generator.vitgan_config.user_classes
    if classes:  # sample i was drawn for class i mod classes (generated_batches)
        fake = {**fake, "labels": np.arange(settings.num_samples) % classes}
    return metrics_of_features(fake, real_stats, metric_names, settings)


def real_floor(dataset, data_dir, image_size, real_stats, extractor, metric_names,
               settings=Settings()):
    """The metrics of `settings.num_samples` real training images against the test-split
    reference: the best a generator can score with this many samples. For `acc` and `ifd`, the
    images are scored against their true labels: the classifier's own accuracy, the ceiling of
    a conditional generator's, and real images' intra-class FD."""
    with_labels = bool(set(CONDITIONAL_METRICS) & set(metric_names))
    source = data_lib.image_source(dataset, image_size, data_dir, split="train",
                                   with_labels=with_labels)
    source = source.shuffle(100_000, seed=settings.seed)
    if with_labels:
        real = extract_labelled(source, extractor, settings.num_samples, settings.batch_size)
    else:
        real = features.extract(extractor, source.batch(settings.batch_size).as_numpy_iterator(),
                                settings.num_samples, verbose=False)
    return metrics_of_features(real, real_stats, metric_names, settings)


def report_path(out_dir, step, extractor_name, settings):
    """eval/step_<N>_<extractor>_n<samples>_psi<psi>_<hash of all settings>.json: evaluations
    with other settings never share a file, so each number keeps the settings it was computed
    with."""
    digest = hashlib.sha256(json.dumps(dataclasses.asdict(settings), sort_keys=True)
                            .encode()).hexdigest()[:8]
    return os.path.join(out_dir, f"step_{step:08d}_{extractor_name}_n{settings.num_samples}_"
                        f"psi{settings.truncation_psi:g}_{digest}.json")


def run(workdir, extractor, metric_names=("fid", "kid", "is"), settings=Settings(),
        checkpoint=None, cache_dir=None):
    """Evaluate the EMA generator of a run; writes the JSON (`report_path`) and TensorBoard
    scalars. Returns (report, path)."""
    cfg, generator, checkpoint, step = rundir.load_generator(workdir, checkpoint)
    for name in metric_names:  # before any work
        if name in CONDITIONAL_METRICS:
            _require_conditional(name, generator.vitgan_config.user_classes > 0)
    size = generator.vitgan_config.image_size
    cache_dir = cache_dir or os.path.join(workdir, "stats")
    out_dir = os.path.join(workdir, "eval")
    for folder in (cache_dir, out_dir):  # Fail on an unwritable place before the work.
        os.makedirs(folder, exist_ok=True)
    real, split = reference_statistics(cfg.dataset, cfg.data_dir, size, extractor,
                                       settings.real_samples, settings.batch_size, cache_dir)
    settings = dataclasses.replace(
        settings, real_samples=int(real["num_samples"]),
        kid_subset_size=min(settings.kid_subset_size, settings.num_samples,
                            int(real["num_samples"])))
    if "ifd" in metric_names:
        real = {**real, **reference_class_statistics(
            cfg.dataset, cfg.data_dir, size, extractor, generator.vitgan_config.num_classes,
            settings.real_samples, settings.batch_size, cache_dir)}
    results = evaluate(generator, real, extractor, metric_names, settings)
    if split != "train":
        floor = real_floor(cfg.dataset, cfg.data_dir, size, real, extractor, metric_names,
                           settings)
        results.update({f"real_floor_{name}": value for name, value in floor.items()})
    path = report_path(out_dir, step, extractor.name, settings)
    report = {}
    if os.path.exists(path):  # same settings: keep the metrics that this evaluation skips
        try:
            with open(path) as f:
                report = json.load(f)
        except (OSError, ValueError):
            report = {}
    report.update({"step": step, "checkpoint": checkpoint, "dataset": cfg.dataset,
                   "extractor": extractor.name,
                   "paper_comparable": extractor.name == features.FIDInception.name,
                   "reference_split": split, "settings": dataclasses.asdict(settings),
                   "num_samples": settings.num_samples, "real_samples": settings.real_samples,
                   "truncation_psi": settings.truncation_psi, **results})
    with open(path + ".tmp", "w") as f:
        json.dump(report, f, indent=2)
    os.replace(path + ".tmp", path)
    with tf.summary.create_file_writer(os.path.join(workdir, "logs")).as_default():
        for name, value in results.items():
            if np.ndim(value) == 0:
                tf.summary.scalar(f"eval/{name}_{extractor.name}", value, step=step)
    logging.info("Wrote %s: %s", path, results)
    return report, path


def main(argv):
    del argv  # Checked by cli.run_main.
    FLAGS = flags.FLAGS
    try:  # a read-only or full --cache_dir or --workdir: say which folders must be writable
        names, num_samples = parse_metrics(FLAGS.metrics, FLAGS.num_samples)
        for flag in ("num_samples", "real_samples", "batch_size", "kid_subset_size"):
            if FLAGS[flag].value < 2:
                raise UserError(": expected an integer >= 2.", argument=flag,
                                value=FLAGS[flag].value)
        for flag in ("kid_subsets", "is_splits"):
            if FLAGS[flag].value < 1:
                raise UserError(": expected an integer >= 1.", argument=flag,
                                value=FLAGS[flag].value)
        cli.check_truncation_psi(FLAGS.truncation_psi)
        if "is" in names and FLAGS.is_splits > num_samples:
            raise UserError(f": expected at most the "
                            f"{num_samples} generated samples.",
                            argument="is_splits", value=FLAGS.is_splits)
        rundir.load_config(FLAGS.workdir)  # A bad --workdir first, before loading weights.
        extractor = features.make_extractor(FLAGS.extractor, FLAGS.inception_path,
                                            FLAGS.inception_weights)
        settings = Settings(num_samples=num_samples, **{
            field.name: FLAGS[field.name].value for field in dataclasses.fields(Settings)
            if field.name != "num_samples"})
        report, path = run(FLAGS.workdir, extractor, names, settings, FLAGS.checkpoint or None,
                           FLAGS.cache_dir or None)
    except OSError as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise UserError(f"{error.filename}: {error.strerror}; --cache_dir (default WORKDIR/stats) "
                        "and WORKDIR/eval must be writable.") from None
    print(json.dumps(report, indent=2))
    print(f"Wrote {path}")


def run_cli():
    """Console script entry point (`vitgan-evaluate`)."""
    define_flags()
    cli.run_main(main)


if __name__ == "__main__":
    run_cli()
