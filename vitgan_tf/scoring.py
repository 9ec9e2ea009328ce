"""How a generator is scored: the options of an evaluation (`Settings`), the metric registry
(`METRICS`: FD, KID, Inception Score, precision and recall; class accuracy and intra-class FD
for conditional runs), and scoring itself, the same for `evaluate` and training's monitor.

A metric is a function (fake features, real statistics, settings) -> {key: value}, registered
under its name with `@_metric(name)`; fake features are the extractor's {"pool", "logits"}
(and "labels", the classes the samples were drawn for, on a conditional run), real statistics
those of `real_stats`.
"""

import dataclasses
import re

import numpy as np
import scipy.special
from absl import logging

from vitgan_tf import config, errors, metrics
from vitgan_tf.config import setting
from vitgan_tf.errors import UserError

# Settings, the registry and parse_metrics need no TensorFlow (`evaluate` checks its flags
# before importing it); the generator, the extractors and the data are imported where used.

AT_LEAST_2 = {"low": 2}
SEEDS = 9 * 10**9  # latent seeds seed * 10**9 + i stay within int64 for seed < SEEDS


@dataclasses.dataclass(frozen=True)
class Settings:
    """How an evaluation is computed. Every field changes the numbers, so an evaluation's
    report file is named by its settings (`reports.report_path`); each is also a flag of
    `evaluate`, declared here once."""

    num_samples: int = setting(50_000, "Generated images.", **AT_LEAST_2)
    real_samples: int = setting(50_000, "Real images for the statistics (at most the "
                                "dataset's size).", **AT_LEAST_2)
    batch_size: int = setting(100, "Images per generator / extractor batch.", **AT_LEAST_2)
    truncation_psi: float = setting(1.0, "Truncation psi (1: none, as in the paper).")
    seed: int = setting(0, "Latent seed: image i has seed seed * 10**9 + i.", low=0,
                        high=SEEDS, high_open=True)
    kid_subsets: int = setting(100, "KID subsets.", low=1)
    kid_subset_size: int = setting(1000, "KID subset size.", **AT_LEAST_2)
    is_splits: int = setting(10, "Inception Score splits.", low=1)

    def check(self, metric_names=()):
        """Raise ConfigError naming the setting of a value it does not accept (for the
        `metric_names` to compute: is_splits at most num_samples for `is`). Returns self."""
        config.check_fields(self)
        fewest = config.METRIC_MIN_SAMPLES["pr"]
        for name in ("num_samples", "real_samples"):
            if "pr" in metric_names and getattr(self, name) < fewest:
                raise config.ConfigError(
                    f": precision and recall (pr) need at least {fewest} samples (each one's "
                    f"{config.PR_NEIGHBOURS}rd nearest neighbour in its own set).",
                    argument=name, value=getattr(self, name))
        if "is" in metric_names and self.is_splits > self.num_samples:
            raise config.ConfigError(f": expected at most the {self.num_samples} generated "
                                     "samples.", argument="is_splits", value=self.is_splits)
        return self


def parse_metrics(names, num_samples):
    """(metric names, generated sample count) from e.g. ["fid50k", "kid"]."""
    if not [name for name in names if name.strip()]:
        raise UserError(f": expected one or more of {', '.join(METRICS)}, comma-separated.",
                        argument="metrics", value=",".join(names))
    parsed, counts = [], set()
    for name in names:
        match = re.fullmatch(r"([a-z]+?)(?:(\d+)k)?", name.strip().lower())
        if not match or match.group(1) not in METRICS:
            raise UserError(f"; unknown metric {name!r}: expected one of {', '.join(METRICS)}, "
                            "optionally with a sample count such as fid50k.",
                            argument="metrics", value=",".join(names))
        parsed.append(match.group(1))
        if match.group(2):
            counts.add(int(match.group(2)) * 1000)
    if len(counts) > 1:
        raise UserError(f": conflicting sample counts {counts}.",
                        argument="metrics", value=','.join(names))
    return parsed, counts.pop() if counts else num_samples


def generated_images(generator, settings, stop=None):
    """The batches of `generated_batches` for `settings`, as a list (for several judges to
    score the same images); `stop` as in `score`."""
    images = []
    for batch in generated_batches(generator, settings.num_samples, settings.batch_size,
                                   settings.truncation_psi, settings.seed):
        if stop is not None and stop():
            raise Stopped()
        images.append(batch)
    return images


def generated_batches(generator, num_samples, batch_size, truncation_psi=1.0, seed=0):
    """EMA-generator images, batch by batch, of the latents of seeds seed * 10**9 + i,
    i < num_samples (`rng.latents_from_seeds`, the project's seed convention). A conditional
    generator draws sample i of class i mod num_classes: every class equally often."""
    from vitgan_tf import images as images_lib

    classes = generator.vitgan_config.user_classes
    index = np.arange(num_samples)
    return images_lib.seed_batches(generator, seed * 10**9 + index, truncation_psi,
                                   index % classes if classes else None, batch_size)


# -- the metrics: name -> function(fake features, real statistics, settings) -> {key: value} --

METRICS = {}


def _metric(name):
    if name not in config.METRIC_NAMES:  # the flags' checks know the names from there
        raise ValueError(f"metric {name!r}: add it to config.METRIC_NAMES too")

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
    probabilities = scipy.special.softmax(np.asarray(fake["logits"], np.float64), axis=1)
    score, std = metrics.inception_score(probabilities, settings.is_splits)
    counts = np.bincount(probabilities.argmax(1), minlength=probabilities.shape[1])
    return {"is": score, "is_std": std, "class_counts": counts.tolist(),
            "classes": int(np.sum(counts >= 0.01 * len(probabilities)))}


@_metric("pr")
def _precision_recall(fake, real, settings):
    precision, recall = metrics.precision_recall(real["kid_activations"], fake["pool"],
                                                 k=config.PR_NEIGHBOURS)
    return {"precision": precision, "recall": recall}


CONDITIONAL_METRICS = {"acc": "class accuracy", "ifd": "intra-class FD"}


def require_conditional(name, conditional):
    """UserError unless the run is conditional: `name` (acc, ifd) needs its classes."""
    if not conditional:
        raise UserError(f": {CONDITIONAL_METRICS[name]} needs a conditional run "
                        "(trained with --conditional).", argument="metrics", value=name)


@_metric("acc")
def _class_accuracy(fake, real, settings):
    """Conditional runs: the share of the samples drawn for class c that the extractor's
    classifier puts in class c, per class and overall (meaningful when the classifier's
    classes are the run's: the Fashion-MNIST classifier on a conditional Fashion-MNIST run)."""
    require_conditional("acc", "labels" in fake)
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
    require_conditional("ifd", "labels" in fake)
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


def metrics_of_features(fake, real_stats, metric_names, settings=Settings()):
    """The metrics named (keys of METRICS) of extracted features {"pool", "logits"} against
    `real_stats` (see `real_stats`)."""
    results = {}
    for name in metric_names:
        results.update(METRICS[name](fake, real_stats, settings))
    return results


Stopped = errors.Stopped  # an evaluation given up between two batches for a preemption


def score(generator, real_stats, extractor, metric_names, settings=Settings(), stop=None,
          images=None):
    """The requested metrics of `generator` against `real_stats` (see `real_stats`).

    stop: optional zero-argument callable, asked before each batch; when it returns True the
    evaluation raises `Stopped` (training's monitor gives way to a preemption signal).
    images: the generator's batches as `generated_batches` gives them, drawn once for several
    judges (`generated_images`); default: drawn here."""
    from vitgan_tf import features

    logging.info("Extracting features of %d generated images", settings.num_samples)
    batches = images if images is not None else generated_batches(
        generator, settings.num_samples, settings.batch_size, settings.truncation_psi,
        settings.seed)
    fake = features.extract(extractor, batches, settings.num_samples, stop=stop)
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
    from vitgan_tf import data as data_lib
    from vitgan_tf import features
    from vitgan_tf.real_stats import extract_labelled

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
