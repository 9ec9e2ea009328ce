"""PacGAN (Lin et al. 2018): the discriminators score packs of d_pack images."""

import numpy as np
import pytest

from tests.helpers import randn
from vitgan_tf.models import get_config, make_discriminator

TINY = get_config("tiny")
ARCHS = {"vit": {}, "stylegan2": {"d_arch": "stylegan2", "d_conv_channels": 4,
                                  "d_conv_max_channels": 8, "d_mbstd_group": 2}}


def _numpy_pack(images, m):
    # Pack i holds images m*i .. m*i + m - 1, their channels side by side in that order.
    return np.stack([np.concatenate(list(images[i:i + m]), axis=-1)
                     for i in range(0, len(images), m)])


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_pack_matches_numpy_and_an_unpacked_d_on_the_packed_input(arch):
    cfg = TINY.replace(d_pack=2, **ARCHS[arch])
    d = make_discriminator(cfg)
    images = randn(8, 16, 16, 3, seed=1)
    packed = np.asarray(d.pack(images))
    np.testing.assert_array_equal(packed, _numpy_pack(images, 2))
    # The layers see 6 channels: the same D, built unpacked on 6-channel images, agrees.
    plain = make_discriminator(cfg.replace(d_pack=1, channels=6))
    plain.set_weights(d.get_weights())
    logits = np.asarray(d(images))
    assert logits.shape == (4, 1)
    np.testing.assert_allclose(logits, np.asarray(plain(packed)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_a_packs_logit_depends_on_its_own_images_only(arch):
    # The property PacGAN relies on: each logit judges m samples jointly. Without minibatch
    # stddev (which mixes packs by design), changing image 3 moves pack 1's logit alone.
    cfg = TINY.replace(d_pack=2, **{**ARCHS[arch], "d_mbstd_group": 0})
    d = make_discriminator(cfg)
    images = randn(6, 16, 16, 3, seed=2)
    changed = images.copy()
    changed[3] = -changed[3]
    moved = np.abs(np.asarray(d(changed)) - np.asarray(d(images)))[:, 0] > 1e-6
    np.testing.assert_array_equal(moved, [False, True, False])


def test_packing_is_refused_for_a_conditional_model():
    with pytest.raises(ValueError, match="d_pack=2: packing needs an unconditional model"):
        TINY.replace(d_pack=2, num_classes=3)
    with pytest.raises(ValueError, match="d_pack must be positive"):
        TINY.replace(d_pack=0)
