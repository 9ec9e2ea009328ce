import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import randn
from vitgan_tf.augment import diff_augment
from vitgan_tf.config import AUGMENTATIONS, parse_policy

SEED = tf.constant([3, 4], tf.int64)


def _images(n=8, size=16):
    return tf.constant(np.clip(randn(n, size, size, 3), -1, 1))


def test_shape_dtype_and_probability_zero_is_identity():
    x = _images()
    y = diff_augment(x, SEED, AUGMENTATIONS, probability=0.8)
    assert y.shape == x.shape and y.dtype == x.dtype
    np.testing.assert_array_equal(diff_augment(x, SEED, AUGMENTATIONS, probability=0.0).numpy(),
                                  x.numpy())


def test_geometric_ops_keep_the_range_and_color_changes_it_boundedly():
    x = _images()
    for policy in ("translation", "cutout", "scale"):
        y = diff_augment(x, SEED, policy, probability=1.0).numpy()
        assert y.min() >= -1.0 - 1e-5 and y.max() <= 1.0 + 1e-5, policy
    y = diff_augment(x, SEED, "color", probability=1.0).numpy()
    assert np.all(np.isfinite(y)) and np.abs(y).max() < 6


def test_translation_is_an_integer_shift_with_zero_fill():
    x = _images(n=16)
    y = diff_augment(x, SEED, "translation", probability=1.0).numpy()
    for i in range(16):
        found = False
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                shifted = np.zeros_like(x[i].numpy())
                src = x[i].numpy()
                ys, xs = slice(max(dy, 0), 16 + min(dy, 0)), slice(max(dx, 0), 16 + min(dx, 0))
                yd, xd = slice(max(-dy, 0), 16 + min(-dy, 0)), slice(max(-dx, 0), 16 + min(-dx, 0))
                shifted[ys, xs] = src[yd, xd]
                found |= np.allclose(y[i], shifted, atol=1e-6)
        assert found, i


def test_cutout_zeroes_a_half_size_square():
    x = tf.ones((8, 16, 16, 3))
    y = diff_augment(x, SEED, "cutout", probability=1.0).numpy()
    holes = (y[..., 0] == 0).sum(axis=(1, 2))
    assert np.all(holes <= 64) and np.all(holes > 0)  # at most 8x8, clipped at borders


def test_per_sample_randomness_and_determinism():
    x = tf.repeat(_images(n=1), 8, axis=0)
    y = diff_augment(x, SEED, AUGMENTATIONS, probability=1.0).numpy()
    assert len({y[i].tobytes() for i in range(8)}) == 8
    np.testing.assert_array_equal(diff_augment(x, SEED, AUGMENTATIONS, 1.0).numpy(), y)
    other = diff_augment(x, tf.constant([3, 5], tf.int64), AUGMENTATIONS, 1.0).numpy()
    assert not np.allclose(other, y)


def test_replica_slices_get_the_single_device_draws():
    x = _images(n=8)
    full = diff_augment(x, SEED, AUGMENTATIONS, 0.8).numpy()
    second_half = diff_augment(x[4:], SEED, AUGMENTATIONS, 0.8, batch_offset=4, global_batch=8)
    np.testing.assert_allclose(second_half.numpy(), full[4:], atol=1e-6)


def test_differentiable_and_xla_compiles():
    x = _images()
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(diff_augment(x, SEED, AUGMENTATIONS, 1.0) ** 2)
    grad = tape.gradient(loss, x)
    assert grad is not None and np.abs(grad.numpy()).sum() > 0
    compiled = tf.function(lambda a, s: diff_augment(a, s, AUGMENTATIONS, 0.8), jit_compile=True)
    np.testing.assert_allclose(compiled(x, SEED).numpy(), diff_augment(x, SEED).numpy(),
                               atol=1e-5)


def test_bad_policy_and_probability():
    with pytest.raises(ValueError, match="Unknown DiffAugment policy"):
        parse_policy("color,flip")
    with pytest.raises(ValueError, match="probability"):
        diff_augment(_images(), SEED, AUGMENTATIONS, 1.5)
