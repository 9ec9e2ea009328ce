"""The class projection of conditional discriminators (Miyato & Koyama 2018), both d_arch:
logit = head(f) + <E[y], f> * scale."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import randn
from vitgan_tf.layers import ImprovedSpectralNorm
from vitgan_tf.models import get_config, make_discriminator

CASES = {"vit-isn": dict(d_arch="vit", d_norm="isn"), "vit-sn": dict(d_arch="vit", d_norm="sn"),
         "vit-none": dict(d_arch="vit", d_norm="none"),
         "stylegan2": dict(d_arch="stylegan2", d_conv_channels=4)}


def conditional_d(case, num_classes=3, **changes):
    return make_discriminator(get_config("tiny").replace(num_classes=num_classes,
                                                         **CASES[case], **changes))


def effective(layer):
    """(kernel, bias, weight scale) as the layer computes with them."""
    if isinstance(layer, ImprovedSpectralNorm):
        return np.asarray(layer.normalized_kernel()), layer.layer, 1.0
    if hasattr(layer, "weight_gain"):  # EqualizedDense
        return layer.kernel.numpy() * layer.weight_gain, layer, layer.lr_multiplier
    return layer.kernel.numpy(), layer, 1.0


def reference_logits(d, features, labels):
    head = d.out if d.vitgan_config.d_arch == "stylegan2" else d.head
    kernel, layer, bias_scale = effective(head)
    logits = features @ kernel + layer.bias.numpy() * bias_scale
    table, _, _ = effective(d.class_embedding)
    scale = d.dense.units**-0.5 if d.vitgan_config.d_arch == "stylegan2" else 1.0
    return logits + np.sum(table[labels] * features, axis=-1, keepdims=True) * scale


@pytest.mark.parametrize("case", CASES)
def test_projection_matches_numpy(case):
    d = conditional_d(case)
    images, labels = randn(4, 16, 16, 3), np.array([2, 0, 1, 2])
    logits = np.asarray(d(images, labels=labels))
    features = np.asarray(d.features(images), dtype=np.float64)
    assert d.class_embedding.compute_output_shape((None, 3)) == (None, features.shape[-1])
    np.testing.assert_allclose(logits, reference_logits(d, features, labels), rtol=1e-4,
                               atol=1e-5)


@pytest.mark.parametrize("case", ["vit-isn", "stylegan2"])
def test_the_class_changes_the_logit_by_the_projection_only(case):
    d = conditional_d(case)
    image = np.repeat(randn(1, 16, 16, 3), 3, axis=0)
    logits = np.asarray(d(image, labels=np.array([0, 1, 2])))[:, 0]
    assert np.ptp(logits) > 1e-4  # the class matters at init
    # Zero embedding: every class gets the unconditional head's logit.
    for v in d.class_embedding.trainable_weights:
        v.assign(np.zeros(v.shape, "float32"))
    flat = np.asarray(d(image, labels=np.array([0, 1, 2])))[:, 0]
    np.testing.assert_allclose(flat, flat[0], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("case", ["vit-isn", "vit-none", "stylegan2"])
def test_gradients_reach_the_rows_of_the_classes_in_the_batch(case):
    d = conditional_d(case, num_classes=4)
    kernel = d.class_embedding.trainable_weights[0]
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(d(randn(3, 16, 16, 3), labels=np.array([1, 3, 1]), training=True))
    grads = tape.gradient(loss, d.trainable_weights)
    missing = [v.path for v, g in zip(d.trainable_weights, grads)
               if g is None or not np.any(np.asarray(g))]
    assert not missing
    row_grad = np.abs(np.asarray(grads[[v.path for v in d.trainable_weights].index(kernel.path)]))
    assert np.all(row_grad[[1, 3]].sum(1) > 0)
    if case != "vit-isn":
        # Without spectral norm only the rows of the classes present get a gradient. (ISN
        # divides by sigma(E), which every row shares, so every row gets one through sigma.)
        np.testing.assert_array_equal(row_grad[[0, 2]], 0)


def test_the_vit_class_embedding_is_spectrally_normalized():
    d = conditional_d("vit-isn")
    assert isinstance(d.class_embedding, ImprovedSpectralNorm)
    kernel = d.class_embedding.layer.kernel.numpy()
    # ISN keeps sigma at its init value: scaling the raw matrix does not change e(y).
    before = np.asarray(d.class_embedding.normalized_kernel())
    d.class_embedding.layer.kernel.assign(3 * kernel)
    for _ in range(30):  # let the power iteration converge to the new matrix
        d.class_embedding.normalized_kernel(training=True)
    np.testing.assert_allclose(np.asarray(d.class_embedding.normalized_kernel()), before,
                               rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("case", ["vit-isn", "stylegan2"])
def test_labels_are_required_iff_conditional(case):
    images = randn(2, 16, 16, 3)
    with pytest.raises(ValueError, match="conditional .3 classes.: pass `labels`"):
        conditional_d(case)(images)
    with pytest.raises(ValueError, match="unconditional"):
        conditional_d(case, num_classes=0)(images, labels=np.array([0, 1]))
    assert not hasattr(conditional_d(case, num_classes=0), "class_embedding")


@pytest.mark.parametrize("case", ["vit-isn", "stylegan2"])
def test_conditional_keras_save_load_round_trip(case, tmp_path):
    d = conditional_d(case)
    images, labels = randn(2, 16, 16, 3), np.array([2, 1])
    d.save(str(tmp_path / "d.keras"))
    loaded = keras.saving.load_model(str(tmp_path / "d.keras"))
    assert loaded.vitgan_config.num_classes == 3
    np.testing.assert_allclose(np.asarray(loaded(images, labels=labels)),
                               np.asarray(d(images, labels=labels)), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("case", ["vit-isn", "stylegan2"])
def test_conditional_mixed_precision(case):
    # The ViT D's features are float32 (its final LayerNorm) and its head float16: the sum
    # with the projection once failed to build under mixed_float16.
    config = get_config("tiny").replace(num_classes=3, **CASES[case])
    mixed = make_discriminator(config, dtype="mixed_float16")
    ref = make_discriminator(config, dtype="float32")
    mixed.set_weights(ref.get_weights())
    images, labels = randn(3, 16, 16, 3), np.array([0, 2, 1])
    out = np.asarray(mixed(images, labels=labels))
    assert out.dtype == np.float32 and np.all(np.isfinite(out))
    expected = np.asarray(ref(images, labels=labels))
    np.testing.assert_allclose(out, expected, rtol=5e-2, atol=5e-2 * np.abs(expected).max())
