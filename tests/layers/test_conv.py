import numpy as np
import pytest
import tensorflow as tf

from tests import reference as ref
from tests.helpers import assert_mixed_precision, assert_roundtrip, randn, run_layer_test
from vitgan_tf.layers import EqualizedConv2D, MinibatchStdDev, ResidualDownBlock, fir_filter


def test_fir_downsample_matches_numpy():
    x = randn(2, 8, 6, 3)
    out = np.asarray(fir_filter(x, pad=1, stride=2))
    np.testing.assert_allclose(out, ref.fir_downsample(x.astype(np.float64)), rtol=1e-5,
                               atol=1e-6)
    assert out.shape == (2, 4, 3, 3)


def test_fir_downsample_is_low_pass():
    # The reason for the filter: a pattern at the Nyquist frequency (a checkerboard) aliases
    # into a flat image under plain stride-2 subsampling, and is removed by the [1,3,3,1] filter.
    i, j = np.meshgrid(np.arange(16), np.arange(16), indexing="ij")
    board = ((-1.0) ** (i + j))[None, :, :, None].astype("float32")
    plain = board[:, ::2, ::2]
    assert np.allclose(np.abs(plain), 1.0)
    filtered = np.asarray(fir_filter(board, pad=1, stride=2))[:, 1:-1, 1:-1]  # away from padding
    np.testing.assert_allclose(filtered, 0.0, atol=1e-6)
    # A constant passes unchanged (the filter sums to 1).
    flat = np.asarray(fir_filter(np.ones_like(board), pad=1, stride=2))[:, 1:-1, 1:-1]
    np.testing.assert_allclose(flat, 1.0, rtol=1e-6)


@pytest.mark.parametrize("kernel_size,down", [(3, False), (1, False), (3, True), (1, True)])
def test_equalized_conv_matches_numpy(kernel_size, down):
    layer = EqualizedConv2D(5, kernel_size, down=down,
                            activation="leaky_relu" if kernel_size == 3 else None)
    x = randn(2, 8, 8, 3)
    out = np.asarray(layer(x))
    expected = ref.equalized_conv(x.astype(np.float64), ref.w(layer.kernel), ref.w(layer.bias),
                                  down=down, activation=layer.activation)
    assert out.shape == ((2, 4, 4, 5) if down else (2, 8, 8, 5))
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


def test_equalized_conv_keeps_unit_scale_and_equalizes_steps():
    # Stored weights are N(0, 1) and scaled at run time by 1/sqrt(fan_in): at init a linear
    # conv maps unit-variance inputs to unit-variance outputs whatever its fan-in.
    for c_in in (4, 64):
        layer = EqualizedConv2D(64, 3, use_bias=False)
        x = randn(8, 16, 16, c_in)
        out = np.asarray(layer(x))[:, 1:-1, 1:-1]  # away from the zero padding
        assert np.std(ref.w(layer.kernel)) == pytest.approx(1.0, rel=0.1)
        assert np.std(out) == pytest.approx(1.0, rel=0.15)


def test_equalized_conv_rejects_odd_sizes_when_downsampling():
    with pytest.raises(ValueError, match="even"):
        EqualizedConv2D(4, 3, down=True).build((None, 7, 7, 3))
    with pytest.raises(ValueError, match="odd"):
        EqualizedConv2D(4, 2)


def test_residual_down_block_matches_numpy():
    block = ResidualDownBlock(6)
    x = randn(2, 8, 8, 4)
    out = np.asarray(block(x))
    expected = ref.residual_down_block(
        x.astype(np.float64), (ref.w(block.conv0.kernel), ref.w(block.conv0.bias)),
        (ref.w(block.conv1.kernel), ref.w(block.conv1.bias)), ref.w(block.skip.kernel))
    assert out.shape == (2, 4, 4, 6)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


def test_residual_down_block_keeps_the_scale_of_smooth_images():
    # The 1/sqrt(2) of the sum and the sqrt(2) gain of leaky ReLU keep a block's output at its
    # input's scale for image-like (smooth) inputs; the low-pass filter removes only what lies
    # above the new Nyquist frequency (white noise loses ~3x in RMS per block, by design).
    rng = np.random.default_rng(0)
    i, j = np.meshgrid(np.arange(32), np.arange(32), indexing="ij")
    freq = rng.uniform(0.05, 0.25, size=(2, 16))
    phase = rng.uniform(0, 2 * np.pi, size=(8, 16))
    x = np.sqrt(2) * np.sin(freq[0] * i[None, :, :, None] + freq[1] * j[None, :, :, None]
                            + phase[:, None, None, :])
    x = tf.constant(x.astype("float32"))
    for depth in range(3):
        y = ResidualDownBlock(16, name=f"b{depth}")(x)
        ratio = float(tf.math.reduce_std(y) / tf.math.reduce_std(x))
        assert 0.5 < ratio < 2, (depth, ratio)
        x = y


def test_minibatch_stddev_matches_numpy():
    x = randn(8, 4, 4, 6)
    for group, channels in ((4, 1), (2, 2), (8, 3)):
        out = np.asarray(MinibatchStdDev(group, channels)(x))
        np.testing.assert_allclose(out, ref.minibatch_stddev(x.astype(np.float64), group,
                                                             channels), rtol=1e-5, atol=1e-6)
    # Tokens (N, T, C) too, and a batch that the group size does not divide (6 with 4 -> 3).
    tokens = randn(6, 5, 4)
    np.testing.assert_allclose(np.asarray(MinibatchStdDev(4)(tokens)),
                               ref.minibatch_stddev(tokens.astype(np.float64), 3), rtol=1e-5,
                               atol=1e-6)


def test_minibatch_stddev_sees_collapse():
    # The property it exists for: a batch whose groups repeat one image gets ~0, a diverse
    # batch a clearly positive statistic; samples i and i + N/G share a group.
    one = randn(1, 4, 4, 3)
    collapsed = np.repeat(one, 8, axis=0)
    diverse = randn(8, 4, 4, 3, seed=1)
    stat = lambda x: np.asarray(MinibatchStdDev(4)(x))[:, 0, 0, -1]  # noqa: E731
    assert np.all(stat(collapsed) < 1e-3)
    assert np.all(stat(diverse) > 0.5)
    half = diverse.copy()
    half[[0, 2, 4, 6]] = one  # group {0, 2, 4, 6} collapsed, group {1, 3, 5, 7} not
    s = stat(half)
    assert np.all(s[[0, 2, 4, 6]] < 1e-3) and np.all(s[[1, 3, 5, 7]] > 0.5)


def test_minibatch_stddev_contract():
    run_layer_test(MinibatchStdDev, {"group_size": 2}, ((None, 4, 4, 6),), (None, 4, 4, 7), 0,
                   training_step=False)


def test_conv_layers_round_trip_and_mixed_precision():
    x = randn(4, 8, 8, 3)
    assert_roundtrip(ResidualDownBlock(5), x)
    assert_roundtrip(EqualizedConv2D(5, 3, down=True, activation="leaky_relu"), x)

    def block(dtype):
        return ResidualDownBlock(5, dtype=dtype)

    out = assert_mixed_precision(block, x)
    assert out.shape == (4, 4, 4, 5)
    mixed = assert_mixed_precision(lambda dtype: MinibatchStdDev(2, dtype=dtype), x)
    assert mixed.shape == (4, 8, 8, 4)
