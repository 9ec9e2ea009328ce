import numpy as np
import pytest

from tests import reference as ref
from tests.helpers import assert_mixed_precision, assert_roundtrip, randn
from vitgan_tf.layers import (
    ImplicitPatchDecoder,
    LinearPatchDecoder,
    ModulatedDense,
    SinePositionEmbedding,
    coordinate_grid,
)


def test_coordinate_grid_spans_minus_one_to_one_row_major():
    grid = coordinate_grid(3)
    assert grid.shape == (9, 2)
    np.testing.assert_allclose(grid[0], [-1, -1])
    np.testing.assert_allclose(grid[1], [-1, 0])  # x varies fastest
    np.testing.assert_allclose(grid[-1], [1, 1])


def test_sine_position_embedding_matches_numpy():
    layer = SinePositionEmbedding(grid_size=4, units=6, omega_0=10.0)
    out = np.asarray(layer())
    expected = ref.sine_embedding(coordinate_grid(4).astype(np.float64), ref.w(layer.kernel),
                                  ref.w(layer.bias), 10.0)
    assert out.shape == (1, 16, 6)
    np.testing.assert_allclose(out[0], expected, rtol=1e-4, atol=1e-5)
    # Every position gets its own code.
    assert len({tuple(np.round(row, 5)) for row in out[0]}) == 16


@pytest.mark.parametrize("demodulate", [True, False])
def test_modulated_dense_equals_per_sample_modulated_kernels(demodulate):
    layer = ModulatedDense(5, demodulate=demodulate)
    x, style = randn(9, 4), randn(2, 3, 6, seed=1)
    layer(x, style)
    layer.bias.assign(randn(5, seed=2))
    out = np.asarray(layer(x, style))
    expected = ref.modulated_dense_per_sample(
        x.astype(np.float64), style.astype(np.float64), ref.w(layer.kernel), ref.w(layer.bias),
        ref.w(layer.affine.kernel), ref.w(layer.affine.bias), demodulate)
    assert out.shape == (2, 3, 9, 5)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


def test_demodulation_removes_the_style_scale():
    # Demodulated outputs do not change when the style's modulation is scaled up.
    layer = ModulatedDense(5, demodulate=True, activation="sine")
    x, style = randn(9, 4), randn(2, 1, 6, seed=1)
    layer(x, style)
    layer.affine.bias.assign(np.zeros(4, "float32"))
    a = np.asarray(layer(x, style))
    b = np.asarray(layer(x, 4 * style))
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_patch_decoder_matches_numpy_and_each_token_drives_its_own_patch():
    layer = ImplicitPatchDecoder(patch_size=3, channels=2, hidden_units=8, num_hidden_layers=2)
    tokens = randn(2, 4, 6)
    out = np.asarray(layer(tokens))
    assert out.shape == (2, 4, 9, 2)
    x = ref.sine_embedding(coordinate_grid(3).astype(np.float64),
                           ref.w(layer.fourier.kernel), ref.w(layer.fourier.bias), 30.0)
    t = tokens.astype(np.float64)

    def modulated(dense, inputs, demodulate):
        return ref.modulated_dense_per_sample(
            inputs, t, ref.w(dense.kernel), ref.w(dense.bias), ref.w(dense.affine.kernel),
            ref.w(dense.affine.bias), demodulate)

    for dense in layer.hidden:
        x = np.sin(modulated(dense, x, True))
    expected = modulated(layer.to_pixels, x, False)
    np.testing.assert_allclose(out, expected, rtol=1e-3, atol=1e-4)
    # Changing token 1 changes patch 1 only.
    changed = tokens.copy()
    changed[:, 1] += 1.0
    diff = np.abs(np.asarray(layer(changed)) - out).max(axis=(2, 3))
    assert np.all(diff[:, 1] > 1e-3)
    np.testing.assert_allclose(diff[:, [0, 2, 3]], 0.0, atol=1e-6)


def test_serialization_and_mixed_precision():
    tokens = randn(2, 4, 6)
    assert_roundtrip(SinePositionEmbedding(3, 5))
    assert_roundtrip(ModulatedDense(3, activation="sine"), randn(9, 4), tokens)
    assert_roundtrip(ImplicitPatchDecoder(3, channels=3, hidden_units=8), tokens)
    assert_mixed_precision(
        lambda dtype: ImplicitPatchDecoder(3, channels=3, hidden_units=8, dtype=dtype), tokens)


def test_bad_arguments():
    with pytest.raises(ValueError, match="activation"):
        ModulatedDense(3, activation="relu")
    with pytest.raises(ValueError, match="patch_size"):
        ImplicitPatchDecoder(0)


def test_linear_patch_decoder_matches_numpy():
    # The ablation's ViT-style decoder: patch i = y^i W + b, pixels row-major, channels last.
    layer = LinearPatchDecoder(patch_size=3, channels=2)
    tokens = randn(2, 4, 6)
    out = np.asarray(layer(tokens))
    assert out.shape == (2, 4, 9, 2) == layer.compute_output_shape((2, 4, 6))
    layer.projection.bias.assign(randn(18, seed=3))
    flat = tokens.astype(np.float64) @ ref.w(layer.projection.kernel) + ref.w(layer.projection.bias)
    np.testing.assert_allclose(np.asarray(layer(tokens)), flat.reshape(2, 4, 9, 2), rtol=1e-5,
                               atol=1e-6)
    assert_roundtrip(layer, tokens)
    assert_mixed_precision(lambda dtype: LinearPatchDecoder(3, 2, dtype=dtype), tokens)
    with pytest.raises(ValueError, match="patch_size"):
        LinearPatchDecoder(0)
