import numpy as np
import pytest

from tests import reference as ref
from tests.helpers import assert_mixed_precision, assert_roundtrip, randn
from vitgan_tf.layers import SelfModulatedLayerNorm


def _weights(layer):
    return (ref.w(layer.gamma.kernel), ref.w(layer.gamma.bias), ref.w(layer.beta.kernel),
            ref.w(layer.beta.bias))


def _randomize(layer, seed=3):
    # Give gamma and beta large random affine maps so modulation is far from the identity.
    for i, v in enumerate(layer.weights):
        v.assign(randn(*v.shape, seed=seed + i))


def test_matches_numpy():
    layer = SelfModulatedLayerNorm()
    h, style = randn(3, 5, 8, scale=3.0), randn(3, 6, seed=1)
    layer(h, style)
    _randomize(layer)
    expected = ref.sln(h.astype(np.float64), style.astype(np.float64), *_weights(layer))
    np.testing.assert_allclose(np.asarray(layer(h, style)), expected, rtol=1e-4, atol=1e-4)


def test_style_changes_output_and_is_not_renormalized():
    layer = SelfModulatedLayerNorm()
    h = randn(1, 5, 8)
    w1, w2 = randn(1, 6, seed=1), randn(1, 6, seed=2)
    layer(h, w1)
    _randomize(layer)
    out1, out2 = np.asarray(layer(h, w1)), np.asarray(layer(h, w2))
    assert np.abs(out1 - out2).max() > 0.1
    # Modulation is not cancelled by a second normalization.
    assert not np.allclose(out1.std(-1), 1.0, atol=0.05)


def test_gamma_and_beta_are_affine_in_style():
    # gamma(w) and beta(w) are affine: SLN(h, (w1 + w2) / 2) = (SLN(h, w1) + SLN(h, w2)) / 2.
    layer = SelfModulatedLayerNorm()
    h, w1, w2 = randn(1, 4, 8), randn(1, 6, seed=1), randn(1, 6, seed=2)
    layer(h, w1)
    _randomize(layer)
    mid = np.asarray(layer(h, (w1 + w2) / 2))
    avg = (np.asarray(layer(h, w1)) + np.asarray(layer(h, w2))) / 2
    np.testing.assert_allclose(mid, avg, rtol=1e-4, atol=1e-4)


def test_starts_as_plain_layer_norm():
    layer = SelfModulatedLayerNorm(gamma_kernel_stddev=0.0)
    h = randn(2, 4, 8, scale=5.0)
    out = np.asarray(layer(h, randn(2, 6)))
    np.testing.assert_allclose(out, ref.layer_norm(h.astype(np.float64)), rtol=1e-4, atol=1e-4)


def test_each_sln_has_its_own_affine():
    a, b = SelfModulatedLayerNorm(), SelfModulatedLayerNorm()
    h, style = randn(1, 4, 8), randn(1, 6)
    a(h, style)
    b(h, style)
    assert not np.allclose(a.gamma.kernel.numpy(), b.gamma.kernel.numpy())


def test_serialization_and_mixed_precision():
    h, style = randn(2, 4, 8, scale=10.0), randn(2, 6)
    assert_roundtrip(SelfModulatedLayerNorm(epsilon=1e-6), h, style)
    assert_mixed_precision(lambda dtype: SelfModulatedLayerNorm(dtype=dtype), h, style)


def test_bad_epsilon():
    with pytest.raises(ValueError, match="epsilon"):
        SelfModulatedLayerNorm(epsilon=0)
