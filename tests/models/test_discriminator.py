import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import mixed_and_float32, randn
from vitgan_tf.models import Discriminator


def test_one_logit_per_image_independent_of_the_batch():
    d = Discriminator("tiny")
    images = randn(4, 16, 16, 3)
    logits = np.asarray(d(images))
    assert logits.shape == (4, 1) and logits.dtype == np.float32
    np.testing.assert_allclose(np.asarray(d(images[2:3])), logits[2:3], rtol=1e-5, atol=1e-6)


def test_logit_has_no_output_activation():
    d = Discriminator("tiny")
    d.head.layer.bias.assign([5.0])
    assert np.all(np.asarray(d(randn(3, 16, 16, 3))) > 2.0)
    d.head.layer.bias.assign([-5.0])
    assert np.all(np.asarray(d(randn(3, 16, 16, 3))) < -2.0)


def test_gradients_reach_every_trainable_weight():
    d = Discriminator("tiny")
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(d(randn(2, 16, 16, 3), training=True))
    grads = tape.gradient(loss, d.trainable_weights)
    missing = [v.path for v, g in zip(d.trainable_weights, grads)
               if g is None or not np.any(np.asarray(g))]
    assert not missing


def test_every_kernel_is_spectrally_normalized():
    d = Discriminator("tiny")
    # The position embedding's kernel maps constant coordinates, not the data: no ISN needed.
    kernels = [v for v in d.trainable_weights
               if v.name == "kernel" and "position" not in v.path]
    sigmas = [v for v in d.non_trainable_weights if v.name == "sigma_init"]
    # Patch projection, 5 per block, head.
    assert len(kernels) == len(sigmas) == 1 + 5 * d.vitgan_config.d_depth + 1


@pytest.mark.slow  # 30 s on 2 cores for a shape check; the 32 preset's are in the default run
def test_paper_preset_64():
    d = Discriminator("64")
    assert d.patch_embedding.projection.layer.kernel.shape == (16, 16, 3, 384)
    assert d.patch_embedding.projection.layer.strides == (8, 8)
    assert np.asarray(d(randn(2, 64, 64, 3))).shape == (2, 1)


def test_keras_save_load_round_trip_keeps_power_iteration_state(tmp_path):
    d = Discriminator("tiny")
    images = randn(2, 16, 16, 3)
    for v in d.trainable_weights:
        v.assign(v.numpy() * 1.3)
    d(images, training=True)
    path = str(tmp_path / "d.keras")
    d.save(path)
    loaded = keras.saving.load_model(path)
    for a, b in zip(d.weights, loaded.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(np.asarray(loaded(images)), np.asarray(d(images)))


def test_mixed_precision():
    mixed, ref = mixed_and_float32(Discriminator, "tiny")
    images = randn(2, 16, 16, 3)
    out = np.asarray(mixed(images))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, np.asarray(ref(images)), atol=5e-2)


def _attention_at_init(preset, images):
    d = Discriminator(preset)
    h = d.patch_embedding(images)
    weights = []
    for block in d.blocks:
        weights.append(tf.nn.softmax(block.attention.attention_logits(block.norm1(h)), -1).numpy())
        h = block(h)
    return d, weights


def test_attention_at_init_spreads_so_the_cls_token_sees_the_image():
    # ISN freezes each kernel's spectral norm at its initial value for the whole run, so the
    # initial W_qk sets the attention temperature for good. With a Glorot W_qk, tied-weight L2
    # attention puts ~99.7% of every token's weight on itself: the CLS token never sees a patch
    # and D's logit does not depend on the image (the cause of the collapsed demo runs).
    from vitgan_tf import data

    rgb = data.digits_images(16)[0][:32]
    for preset in ("digits", "32"):
        # The digits preset is grayscale; the 32 preset sees the digits as 32x32 RGB.
        images = rgb[..., :1] if preset == "digits" else tf.image.resize(rgb, (32, 32)).numpy()
        d, weights = _attention_at_init(preset, images)
        for w in weights:
            assert w[:, :, 0, 0].mean() < 0.5, preset  # CLS on itself
            assert w[:, :, 0, 1:].sum(-1).mean() > 0.5, preset  # CLS on the patches
        h = d.patch_embedding(images)
        for block in d.blocks:
            h = block(h)
        # The final CLS features vary from image to image (they were ~0.005 with Glorot W_qk).
        assert np.std(d.final_norm(h[:, 0]).numpy(), axis=0).mean() > 0.03, preset


@pytest.mark.parametrize("switch,wrappers,mode", [
    ({"d_norm": "sn"}, 1 + 5 * 1 + 1, "sn"), ({"d_norm": "none"}, 0, None),
    ({"d_attention": "dot"}, 1 + 6 * 1 + 1, "isn"),
    ({"d_overlapping_patches": False}, 1 + 5 * 1 + 1, "isn")])
def test_ablation_switches(switch, wrappers, mode):
    from vitgan_tf.layers import ImprovedSpectralNorm
    from vitgan_tf.models import get_config

    d = Discriminator(get_config("tiny").replace(**switch))
    found = [layer for layer in d._flatten_layers() if isinstance(layer, ImprovedSpectralNorm)]
    assert len(found) == wrappers
    assert all(layer.mode == mode for layer in found)
    kernel = 4 if switch.get("d_overlapping_patches") is False else 8
    conv = d.patch_embedding.projection
    assert getattr(conv, "layer", conv).kernel.shape[:2] == (kernel, kernel)
    logits = np.asarray(d(randn(2, 16, 16, 3), training=True))
    assert logits.shape == (2, 1) and np.all(np.isfinite(logits))
