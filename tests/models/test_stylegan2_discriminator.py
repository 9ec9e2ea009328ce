import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import reference as ref
from tests.helpers import mixed_and_float32, randn
from vitgan_tf.models import (
    Discriminator,
    StyleGAN2Discriminator,
    get_config,
    make_discriminator,
)
from vitgan_tf.models.stylegan2_discriminator import resolutions

# 16x16 RGB -> blocks at 16 and 8 -> epilogue at 4x4; widths 4, 8, 8.
CFG = get_config("tiny").replace(d_arch="stylegan2", d_conv_channels=4, d_conv_max_channels=8)


def test_resolutions_halve_down_to_4_or_an_odd_size():
    assert resolutions(32) == ([32, 16, 8], 4)
    assert resolutions(28) == ([28, 14], 7)  # Fashion-MNIST
    assert resolutions(16) == ([16, 8], 4)
    assert resolutions(64) == ([64, 32, 16, 8], 4)


def test_make_discriminator_follows_d_arch():
    assert isinstance(make_discriminator(CFG), StyleGAN2Discriminator)
    assert isinstance(make_discriminator(CFG.replace(d_arch="vit")), Discriminator)


def test_matches_numpy():
    d = StyleGAN2Discriminator(CFG)
    images = randn(4, 16, 16, 3)
    x = ref.equalized_conv(images.astype(np.float64), ref.w(d.from_rgb.kernel),
                           ref.w(d.from_rgb.bias), activation="leaky_relu")
    for block in d.blocks:
        x = ref.residual_down_block(x, (ref.w(block.conv0.kernel), ref.w(block.conv0.bias)),
                                    (ref.w(block.conv1.kernel), ref.w(block.conv1.bias)),
                                    ref.w(block.skip.kernel))
    assert x.shape == (4, 4, 4, 8)
    x = ref.minibatch_stddev(x, 4)
    x = ref.equalized_conv(x, ref.w(d.conv.kernel), ref.w(d.conv.bias), activation="leaky_relu")
    x = x.reshape(4, -1)
    x = ref.equalized_dense(x, ref.w(d.dense.kernel), ref.w(d.dense.bias), 1.0, "leaky_relu")
    expected = ref.equalized_dense(x, ref.w(d.out.kernel), ref.w(d.out.bias), 1.0)
    np.testing.assert_allclose(np.asarray(d(images)), expected, rtol=1e-4, atol=1e-5)


def test_widths_double_per_block_up_to_the_cap():
    d = StyleGAN2Discriminator(get_config("fashion").replace(
        d_arch="stylegan2", d_conv_channels=32, d_conv_max_channels=48))
    assert d.from_rgb.kernel.shape == (1, 1, 1, 32)
    assert [b.filters for b in d.blocks] == [48, 48]  # 64 capped at 48
    assert d.final_size == 7
    assert np.asarray(d(randn(4, 28, 28, 1))).shape == (4, 1)


def test_mbstd_switch_and_batch_coupling():
    # With the minibatch-stddev feature a logit depends on its groupmates; without it, not.
    images = randn(8, 16, 16, 3)
    d = StyleGAN2Discriminator(CFG)
    other = images.copy()
    other[4:] = randn(4, 16, 16, 3, seed=5)  # changes the groupmates of samples 0-3
    assert not np.allclose(np.asarray(d(images))[:4], np.asarray(d(other))[:4], atol=1e-6)
    plain = StyleGAN2Discriminator(CFG.replace(d_mbstd_group=0))
    assert plain.mbstd is None
    np.testing.assert_allclose(np.asarray(plain(images))[:4], np.asarray(plain(other))[:4],
                               rtol=1e-5, atol=1e-6)


def test_gradients_reach_every_trainable_weight_and_the_input():
    d = StyleGAN2Discriminator(CFG)
    x = tf.constant(randn(4, 16, 16, 3))
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(d(x, training=True))
    grads = tape.gradient(loss, d.trainable_weights + [x])
    missing = [v.path for v, g in zip(d.trainable_weights, grads)
               if g is None or not np.any(np.asarray(g))]
    assert not missing
    assert np.any(np.asarray(grads[-1]))


def test_keras_save_load_and_mixed_precision(tmp_path):
    d = StyleGAN2Discriminator(CFG)
    images = randn(4, 16, 16, 3)
    path = str(tmp_path / "d.keras")
    d.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(np.asarray(loaded(images)), np.asarray(d(images)))
    mixed, f32 = mixed_and_float32(StyleGAN2Discriminator, CFG)
    out = np.asarray(mixed(images))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, np.asarray(f32(images)), atol=5e-2)


def test_vit_discriminator_with_minibatch_stddev():
    # The ViT D's diversity lever: the head sees one more feature, the group's stddev.
    cfg = get_config("tiny").replace(d_mbstd_group=2)
    d = Discriminator(cfg)
    assert d.head.layer.kernel.shape == (33, 1)
    images = randn(4, 16, 16, 3)
    collapsed = np.repeat(images[:1], 4, axis=0)
    h = d.patch_embedding(collapsed)
    for block in d.blocks:
        h = block(h)
    assert np.allclose(np.asarray(d.mbstd(h))[:, :, -1], 0.0, atol=1e-3)
    assert np.asarray(d(images)).shape == (4, 1)
    assert Discriminator("tiny").mbstd is None  # off by default: old ViT models unchanged


def test_config_checks():
    with pytest.raises(ValueError, match="d_arch"):
        get_config("tiny").replace(d_arch="resnet")
    with pytest.raises(ValueError, match="d_mbstd_group"):
        get_config("tiny").replace(d_mbstd_group=-1)
    assert get_config("tiny").mbstd_group() == 0
    assert CFG.mbstd_group() == 4
