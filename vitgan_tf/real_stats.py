"""Real-data statistics that generated images are scored against, and their cache.

The reference set is the dataset's test split where it has one (Fashion-MNIST, MNIST), else its
training images. Statistics are computed once per dataset setting, split, resolution,
extractor and sample count, and cached as npz files (written whole or not at all).
"""

import dataclasses
import hashlib
import json
import os

import numpy as np
import tensorflow as tf
from absl import logging

from vitgan_tf import data as data_lib
from vitgan_tf import features, metrics
from vitgan_tf.errors import UserError

KID_CACHE = 10_000  # real activations kept in the cache for KID


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


def real_statistics(source, extractor, num_samples, batch_size, cache_path=None, stop=None):
    """{"mu", "sigma", "kid_activations", "num_samples"} of real images, cached in an npz.
    stop: asked before each batch (`features.extract`); nothing is cached when it stops."""
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
    pool = features.extract(extractor, batches, num_samples, stop=stop)["pool"]
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
                         cache_dir, stop=None):
    """`real_statistics` of the dataset's reference split (`reference_split`), cached in
    `cache_dir` under `real_stats_cache_path`. Returns (stats, split)."""
    split = reference_split(dataset)
    cache = real_stats_cache_path(cache_dir, dataset, image_size, extractor, num_samples,
                                  data_dir, split)
    source = data_lib.image_source(dataset, image_size, data_dir, split=split)
    return real_statistics(source, extractor, num_samples, batch_size, cache, stop), split


def extract_labelled(source, extractor, num_samples, batch_size, stop=None):
    """Features {"pool", "logits", "labels"} of up to `num_samples` (image, label) pairs of
    the unbatched `source`."""
    labels = []

    def images():
        for batch, batch_labels in source.batch(batch_size).as_numpy_iterator():
            labels.append(batch_labels)
            yield batch

    size = int(source.cardinality())
    num_samples = min(num_samples, size) if size >= 0 else num_samples
    found = features.extract(extractor, images(), num_samples, verbose=False, stop=stop)
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
                               num_samples, batch_size, cache_dir, stop=None):
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
    found = extract_labelled(source, extractor, num_samples, batch_size, stop)
    stats = class_statistics(found["pool"], found["labels"], num_classes)
    _save_cache(cache, stats)
    return stats


def for_settings(dataset, data_dir, image_size, extractor, settings, cache_dir, num_classes=0,
                 stop=None):
    """What an evaluation with `settings` (a `scoring.Settings`) scores against, the same for
    `evaluate` and training's monitor: (real statistics, split, settings), where the settings'
    real_samples is the count actually used (at most the split's size) and kid_subset_size at
    most either count. With `num_classes`, the per-class statistics (for `ifd`) too."""
    real, split = reference_statistics(dataset, data_dir, image_size, extractor,
                                       settings.real_samples, settings.batch_size, cache_dir,
                                       stop)
    settings = dataclasses.replace(
        settings, real_samples=int(real["num_samples"]),
        kid_subset_size=min(settings.kid_subset_size, settings.num_samples,
                            int(real["num_samples"])))
    if num_classes:
        real = {**real, **reference_class_statistics(
            dataset, data_dir, image_size, extractor, num_classes, settings.real_samples,
            settings.batch_size, cache_dir, stop)}
    return real, split, settings
