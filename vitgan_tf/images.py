"""Image helpers shared by training, sampling, evaluation and export: a generator's images of
seeds (the one seed -> latent -> image path), [-1, 1] <-> uint8, sample grids and PNG files."""

import math
import os

import numpy as np
import tensorflow as tf

from vitgan_tf import rng


def to_uint8(images):
    """[-1, 1] float images -> uint8, rounded as PNG sample grids are (the inverse of the
    data pipelines' x / 127.5 - 1 up to rounding)."""
    return tf.cast(tf.round(tf.clip_by_value((images + 1.0) * 127.5, 0.0, 255.0)), tf.uint8)


def image_grid(images, columns=None, border=1):
    """(N, H, W, C) in [-1, 1] -> one uint8 grid, `columns` wide, with a `border`-pixel
    white gap between and around the images so that neighbours do not run together."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    columns = columns or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / columns))
    b = border
    grid = np.ones((rows * (h + b) + b, columns * (w + b) + b, c), np.float32)
    for i, image in enumerate(images):
        r, col = divmod(i, columns)
        top, left = b + r * (h + b), b + col * (w + b)
        grid[top:top + h, left:left + w] = image
    return np.round((np.clip(grid, -1, 1) + 1) * 127.5).astype(np.uint8)


def seed_batches(generator, seeds, truncation_psi=1.0, labels=None, batch_size=256):
    """The generator's images (float, [-1, 1] nominally) of the latents of `seeds`
    (`rng.latents_from_seeds`: seed S is the same image everywhere), batch by batch, with the
    class ids `labels` (one per seed) for a conditional generator."""
    dim = generator.vitgan_config.latent_dim
    seeds = np.asarray(seeds, np.int64)
    for i in range(0, len(seeds), batch_size):
        z = rng.latents_from_seeds(seeds[i:i + batch_size], dim)
        batch_labels = None if labels is None else np.asarray(labels[i:i + batch_size])
        yield np.asarray(generator(z, truncation_psi=truncation_psi, labels=batch_labels))


def seed_images(generator, seeds, truncation_psi=1.0, labels=None, batch_size=256):
    """All of `seed_batches` as one array."""
    return np.concatenate(list(seed_batches(generator, seeds, truncation_psi, labels,
                                            batch_size)))


def class_grid(generator, seeds, classes=None, truncation_psi=1.0):
    """The uint8 grid of the seeds' images; with `classes`, one row per class, the same seeds
    in every row (a column is one latent across classes). Training's sample grids and
    `sample` draw their grids here."""
    seeds = list(seeds)
    if classes is None:
        return image_grid(seed_images(generator, seeds, truncation_psi))
    classes = list(classes)
    labels = np.repeat(np.asarray(classes), len(seeds))
    images = seed_images(generator, seeds * len(classes), truncation_psi, labels)
    return image_grid(images, columns=len(seeds))


def save_png(array, path):
    """Write a uint8 (H, W, C) array as a PNG (C = 1 as grayscale); atomically."""
    from PIL import Image

    tmp = path + ".tmp.png"
    Image.fromarray(array.squeeze(-1) if array.shape[-1] == 1 else array).save(tmp)
    os.replace(tmp, path)
