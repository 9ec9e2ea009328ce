import numpy as np
import pytest
import tensorflow as tf

from tests import reference as ref
from tests.helpers import assert_mixed_precision, assert_roundtrip, randn
from vitgan_tf.layers import EqualizedDense, MappingNetwork


def test_equalized_dense_matches_numpy():
    layer = EqualizedDense(6, lr_multiplier=0.01, bias_init=0.3, activation="leaky_relu")
    x = randn(4, 5)
    out = np.asarray(layer(x))
    expected = ref.equalized_dense(x, ref.w(layer.kernel), ref.w(layer.bias), 0.01, "leaky_relu")
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_equalized_storage_and_runtime_scale():
    # Stored weights ~N(0, 1/lr^2); the effective weights ~N(0, 1/fan_in) whatever lr is.
    layer = EqualizedDense(256, lr_multiplier=0.01, bias_init=0.5)
    layer.build((None, 128))
    assert np.std(layer.kernel.numpy()) == pytest.approx(100.0, rel=0.05)
    effective = layer.kernel.numpy() * layer.weight_gain
    assert np.std(effective) == pytest.approx(1 / np.sqrt(128), rel=0.05)
    # The effective bias starts at bias_init.
    out = np.asarray(layer(np.zeros((1, 128), "float32")))
    np.testing.assert_allclose(out, 0.5, rtol=1e-6)


def test_equalized_lr_multiplier_scales_gradient_steps():
    # Same effective weights, same SGD step on the stored ones: the effective weights of a layer
    # with multiplier m move m^2 times as far, which is what the multiplier is for.
    x = randn(8, 4)
    effective = randn(4, 3, seed=1) / 2
    moves = []
    for lr_mul in (1.0, 0.1):
        layer = EqualizedDense(3, lr_multiplier=lr_mul, use_bias=False)
        layer.build((None, 4))
        layer.kernel.assign(effective / layer.weight_gain)
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x) ** 2)
        grad = tape.gradient(loss, layer.kernel).numpy()
        moves.append(1e-3 * grad * layer.weight_gain)
    np.testing.assert_allclose(moves[1], moves[0] * 0.01, rtol=1e-4, atol=1e-9)


def test_mapping_network_matches_numpy():
    layer = MappingNetwork(units=8, num_layers=3, lr_multiplier=0.01)
    z = randn(5, 8)
    out = np.asarray(layer(z))
    x = ref.pixel_norm(z.astype(np.float64))
    for dense in layer.dense_layers:
        x = ref.equalized_dense(x, ref.w(dense.kernel), ref.w(dense.bias), 0.01, "leaky_relu")
    np.testing.assert_allclose(out, x, rtol=1e-4, atol=1e-5)


def test_mapping_network_keeps_unit_scale_through_depth():
    # The sqrt(2) gain of leaky ReLU: after 8 layers w has an RMS of order 1 (about 0.07
    # without the gain), so different z give clearly different w.
    layer = MappingNetwork(units=256, num_layers=8, lr_multiplier=0.01)
    w = np.asarray(layer(randn(512, 256)))
    rms = np.sqrt(np.mean(w**2))
    assert 0.5 < rms < 2.0, rms
    assert np.std(w, axis=0).mean() > 0.3


def test_pixel_norm_of_zero_is_finite_in_float16():
    # StyleGAN's 1e-8 underflows to 0 in float16; z = 0 must still give 0, not NaN.
    from vitgan_tf.layers.equalized import pixel_norm
    out = np.asarray(pixel_norm(tf.zeros((2, 8), tf.float16)))
    assert out.dtype == np.float16 and np.all(out == 0)
    small = np.full((1, 8), 0.5, np.float16)
    np.testing.assert_allclose(np.asarray(pixel_norm(tf.constant(small)), np.float32), 1.0,
                               rtol=1e-3)


def test_mapping_network_ignores_latent_scale():
    # Pixel norm: z and 7z map to the same w (up to epsilon / mean(z^2), kept tiny here).
    layer = MappingNetwork(units=8, num_layers=2)
    z = randn(3, 8)
    np.testing.assert_allclose(np.asarray(layer(10 * z)), np.asarray(layer(70 * z)), rtol=1e-4,
                               atol=1e-6)


def test_serialization_and_mixed_precision():
    x = randn(3, 8)
    assert_roundtrip(EqualizedDense(4, lr_multiplier=0.1, activation="leaky_relu"), x)
    assert_roundtrip(MappingNetwork(8, 2), x)
    assert_mixed_precision(lambda dtype: MappingNetwork(8, 2, dtype=dtype), x)


def test_bad_arguments():
    with pytest.raises(ValueError, match="lr_multiplier"):
        EqualizedDense(3, lr_multiplier=0)
    with pytest.raises(ValueError, match="activation"):
        EqualizedDense(3, activation="relu")
    with pytest.raises(ValueError, match="num_layers"):
        MappingNetwork(8, 0)


def conditional_mapping_reference(layer, z, labels):
    """NumPy: MLP(concat(pixel_norm(z), pixel_norm(onehot(y) @ E * 1/sqrt(C) + b)))."""
    onehot = np.eye(layer.num_classes)[labels]
    emb = ref.equalized_dense(onehot, ref.w(layer.embedding.kernel), ref.w(layer.embedding.bias),
                              1.0)
    x = np.concatenate([ref.pixel_norm(z.astype(np.float64)), ref.pixel_norm(emb)], axis=-1)
    for dense in layer.dense_layers:
        x = ref.equalized_dense(x, ref.w(dense.kernel), ref.w(dense.bias), 0.01, "leaky_relu")
    return x


def test_conditional_mapping_network_matches_numpy():
    layer = MappingNetwork(units=8, num_layers=3, lr_multiplier=0.01, num_classes=5)
    z, labels = randn(6, 4), np.array([0, 4, 2, 2, 1, 3])
    out = np.asarray(layer(z, labels=labels))
    # The first layer takes z (4 wide) and the embedding (8 wide).
    assert layer.dense_layers[0].kernel.shape == (12, 8)
    assert layer.embedding.kernel.shape == (5, 8)
    np.testing.assert_allclose(out, conditional_mapping_reference(layer, z, labels), rtol=1e-4,
                               atol=1e-5)


def test_conditional_mapping_same_class_same_w_other_class_other_w():
    layer = MappingNetwork(units=16, num_layers=2, num_classes=3)
    z = np.repeat(randn(1, 16), 3, axis=0)
    w = np.asarray(layer(z, labels=np.array([0, 1, 2])))
    again = np.asarray(layer(z, labels=np.array([2, 1, 0])))
    np.testing.assert_array_equal(again, w[::-1])  # the class alone decides: same (z, y), same w
    gaps = [np.abs(w[i] - w[j]).mean() for i, j in ((0, 1), (0, 2), (1, 2))]
    assert min(gaps) > 0.05 * np.abs(w).mean(), gaps  # each class moves w, from the first step


def test_conditional_mapping_learns_its_class_embedding():
    # One optimizer step on a loss of w moves the embedding rows of the classes in the batch only.
    layer = MappingNetwork(units=8, num_layers=2, num_classes=4)
    layer(randn(2, 8), labels=np.array([0, 1]))
    before = layer.embedding.kernel.numpy().copy()
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(randn(2, 8), labels=np.array([1, 3])) ** 2)
    grads = tape.gradient(loss, layer.trainable_weights)
    tf.keras.optimizers.SGD(0.1).apply(grads, layer.trainable_weights)
    moved = np.abs(layer.embedding.kernel.numpy() - before).sum(axis=1) > 0
    np.testing.assert_array_equal(moved, [False, True, False, True])


def test_conditional_mapping_serialization_and_mixed_precision():
    z, labels = randn(3, 8), np.array([0, 2, 1])
    clone = assert_roundtrip(MappingNetwork(8, 2, num_classes=3), z, labels=labels)
    assert clone.num_classes == 3
    assert_mixed_precision(lambda dtype: MappingNetwork(8, 2, num_classes=3, dtype=dtype), z,
                           labels=labels)


def test_conditional_mapping_refuses_missing_or_unexpected_labels():
    with pytest.raises(ValueError, match="conditional .3 classes.: pass `labels`"):
        MappingNetwork(8, 2, num_classes=3)(randn(2, 8))
    with pytest.raises(ValueError, match="unconditional"):
        MappingNetwork(8, 2)(randn(2, 8), labels=np.array([0, 1]))
    with pytest.raises(ValueError, match="num_classes"):
        MappingNetwork(8, 2, num_classes=-1)
