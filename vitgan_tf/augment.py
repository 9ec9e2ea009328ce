"""DiffAugment (Zhao et al. 2020) with per-sample probability, in plain TF ops.

Every transformation is differentiable in the images, so generator gradients pass through it,
and uses only stateless random ops, matmuls and elementwise math, so XLA compiles it (Keras'
`Random*` preprocessing layers are neither). Geometric transforms are separable linear maps
applied as per-sample (H x H) matrices: translation uses one-hot shift matrices, scaling uses
bilinear (tent) interpolation matrices; pixels that come from outside the image are zero.
Images are (batch, H, W, C) in [-1, 1].
"""

import tensorflow as tf

from vitgan_tf import rng
from vitgan_tf.config import AUGMENTATIONS, parse_policy

_fold = rng.fold


class _Draw:
    """Per-sample draws for a slice of a global batch.

    Draws are made for all `global_batch` samples and sliced at `offset`, so a replica holding
    samples [offset, offset + batch) gets the numbers a single device would give them.
    """

    def __init__(self, batch, offset, global_batch):
        self.batch, self.offset = batch, offset
        self.global_batch = batch if global_batch is None else global_batch

    def __call__(self, seed, tail, minval=0.0, maxval=1.0, dtype=tf.float32):
        values = rng.uniform(seed, [self.global_batch] + tail, minval, maxval, dtype)
        return values[self.offset:self.offset + self.batch]


def _apply_with_probability(images, augmented, seed, probability, draw):
    keep = draw(seed, [1, 1, 1]) >= probability
    return tf.where(keep, images, augmented)


def _color(images, seed, draw):
    tail, dtype = [1, 1, 1], images.dtype
    x = images + (draw(_fold(seed, 0), tail, dtype=dtype) - 0.5)
    mean = tf.reduce_mean(x, axis=3, keepdims=True)
    x = (x - mean) * (draw(_fold(seed, 1), tail, dtype=dtype) * 2.0) + mean
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    return (x - mean) * (draw(_fold(seed, 2), tail, dtype=dtype) + 0.5) + mean


def _resample(images, source_rows, source_cols):
    """out[b, i, j] = sum_k,l M_rows[b, i, k] x[b, k, l] M_cols[b, j, l] with tent weights.

    source_rows: (batch, H) fractional source row of each output row; likewise columns.
    Integer sources give exact one-hot rows; sources outside the image give zero rows.
    """
    h, w = tf.shape(images)[1], tf.shape(images)[2]
    rows = tf.cast(tf.range(h), images.dtype)
    cols = tf.cast(tf.range(w), images.dtype)
    m_rows = tf.nn.relu(1.0 - tf.abs(source_rows[:, :, None] - rows[None, None, :]))
    m_cols = tf.nn.relu(1.0 - tf.abs(source_cols[:, :, None] - cols[None, None, :]))
    x = tf.einsum("bik,bklc->bilc", m_rows, images)
    return tf.einsum("bjl,bilc->bijc", m_cols, x)


def _translation(images, seed, draw, ratio=0.125):
    h, w = tf.shape(images)[1], tf.shape(images)[2]
    dtype = images.dtype
    shift_h = tf.cast(tf.cast(h, dtype) * ratio + 0.5, tf.int32)
    shift_w = tf.cast(tf.cast(w, dtype) * ratio + 0.5, tf.int32)
    dy = draw(_fold(seed, 0), [1], -shift_h, shift_h + 1, tf.int32)
    dx = draw(_fold(seed, 1), [1], -shift_w, shift_w + 1, tf.int32)
    rows = tf.cast(tf.range(h)[None, :] - dy, dtype)
    cols = tf.cast(tf.range(w)[None, :] - dx, dtype)
    return _resample(images, rows, cols)


def _scale(images, seed, draw, max_change=0.2):
    h, w = tf.shape(images)[1], tf.shape(images)[2]
    dtype = images.dtype
    factor = draw(seed, [1], 1.0 - max_change, 1.0 + max_change, dtype)

    def sources(size):
        centre = (tf.cast(size, dtype) - 1.0) / 2.0
        return centre + (tf.cast(tf.range(size), dtype)[None, :] - centre) / factor

    return _resample(images, sources(h), sources(w))


def _cutout(images, seed, draw, ratio=0.5):
    h, w = tf.shape(images)[1], tf.shape(images)[2]
    size_h = tf.cast(tf.cast(h, tf.float32) * ratio + 0.5, tf.int32)
    size_w = tf.cast(tf.cast(w, tf.float32) * ratio + 0.5, tf.int32)
    top = draw(_fold(seed, 0), [1], -(size_h // 2), h - size_h // 2, tf.int32)
    left = draw(_fold(seed, 1), [1], -(size_w // 2), w - size_w // 2, tf.int32)
    rows = tf.range(h)[None, :]
    cols = tf.range(w)[None, :]
    in_rows = (rows >= top) & (rows < top + size_h)
    in_cols = (cols >= left) & (cols < left + size_w)
    hole = in_rows[:, :, None] & in_cols[:, None, :]
    return images * tf.cast(~hole, images.dtype)[:, :, :, None]


_OPS = {"color": _color, "scale": _scale, "translation": _translation, "cutout": _cutout}


def diff_augment(images, seed, policy=AUGMENTATIONS, probability=0.8, batch_offset=0,
                 global_batch=None):
    """Apply each transformation of `policy` to each image with probability `probability`.

    Args:
        images: (batch, H, W, C) float images in [-1, 1].
        seed: int32 tensor of shape (2,), a stateless seed; the same seed gives the same draw.
        policy: names from `AUGMENTATIONS` (a tuple, or a comma-separated string), applied in the
            order color, scale, translation, cutout.
        probability: per-sample probability of each transformation, in [0, 1].
        batch_offset, global_batch: under data parallelism, where this replica's images sit
            in the global batch; each sample then gets the draw it would get on one device.

    Returns: augmented images, same shape and dtype.
    """
    if isinstance(policy, str):
        policy = parse_policy(policy)
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"DiffAugment probability must be in [0, 1], got {probability}.")
    draw = _Draw(tf.shape(images)[0], batch_offset, global_batch)
    x = images
    for index, name in enumerate(AUGMENTATIONS):
        if name not in policy or probability == 0.0:
            continue
        op_seed = _fold(seed, 1000 + index)
        augmented = _OPS[name](x, _fold(op_seed, 0), draw)
        x = _apply_with_probability(x, augmented, _fold(op_seed, 1), probability, draw)
    return x
