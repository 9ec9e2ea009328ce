"""Image helpers shared by training, sampling, evaluation and export: [-1, 1] <-> uint8,
sample grids and PNG files."""

import math
import os

import numpy as np
import tensorflow as tf


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


def save_png(array, path):
    """Write a uint8 (H, W, C) array as a PNG (C = 1 as grayscale); atomically."""
    from PIL import Image

    tmp = path + ".tmp.png"
    Image.fromarray(array.squeeze(-1) if array.shape[-1] == 1 else array).save(tmp)
    os.replace(tmp, path)
