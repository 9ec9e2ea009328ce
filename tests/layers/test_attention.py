import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import reference as ref
from tests.helpers import assert_mixed_precision, assert_roundtrip, randn
from vitgan_tf.layers import L2Attention


def _numpy_l2(layer, x):
    def kernel_bias(wrapper):
        kb = ref.isn_kernel(ref.w(wrapper.layer.kernel), ref.w(wrapper.u),
                            float(wrapper.sigma_init.numpy()))
        return kb, ref.w(wrapper.layer.bias)

    (wqk, bqk), (wv, bv), (wo, bo) = (kernel_bias(layer.qk_dense), kernel_bias(layer.v_dense),
                                      kernel_bias(layer.output_dense))
    return ref.l2_attention(x.astype(np.float64), wqk, bqk, wv, bv, wo, bo, layer.num_heads)


def test_matches_numpy():
    layer = L2Attention(num_heads=3, key_dim=4)
    x = randn(2, 7, 12)
    layer(x)
    layer.qk_dense.layer.kernel.assign(layer.qk_dense.layer.kernel * 1.5)
    expected, expected_logits = _numpy_l2(layer, x)
    np.testing.assert_allclose(np.asarray(layer(x)), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(layer.attention_logits(x)), expected_logits,
                               rtol=1e-4, atol=1e-4)


def test_query_and_key_are_one_tied_projection():
    layer = L2Attention(num_heads=2, key_dim=4)
    layer(randn(1, 3, 8))
    names = [v.path for v in layer.trainable_weights]
    assert sum("qk" in n for n in names) == 2  # kernel and bias
    assert not any("/q/" in n or "/k/" in n or "query" in n or "key" in n for n in names)


def test_each_token_attends_most_to_itself():
    # logits_ij = -||q_i - q_j||^2 / sqrt(d_h) <= 0 = logits_ii: a positive distance, or
    # untied q and k, would break this.
    layer = L2Attention(num_heads=2, key_dim=4)
    logits = np.asarray(layer.attention_logits(randn(3, 9, 8)))
    np.testing.assert_allclose(np.diagonal(logits, axis1=-2, axis2=-1), 0.0, atol=1e-4)
    assert np.all(np.argmax(logits, axis=-1) == np.arange(9))
    assert np.all(logits <= 1e-4)


def _query_gradient_norm(layer, x):
    # Norm of d(out_0 . r) / dx: how fast token 0's output moves with the inputs.
    x = tf.constant(x)
    r = tf.constant(randn(x.shape[0], x.shape[-1], seed=7))
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = layer(x, x) if isinstance(layer, keras.layers.MultiHeadAttention) else layer(x)
        loss = tf.reduce_sum(out[:, 0] * r)
    return float(tf.norm(tape.gradient(loss, x)))


def test_gradient_stays_bounded_as_inputs_grow_unlike_dot_product():
    # Kim et al. 2021: with token 0 at the origin its dot-product logits are all 0, so its
    # attention stays uniform at every scale while d logits / d x_0 grows with the other tokens:
    # the input gradient grows with the square of the scale. L2 attention's stays bounded.
    x0 = randn(2, 6, 8)
    x0[:, 0] = 0.0
    l2 = L2Attention(num_heads=2, key_dim=4, use_spectral_norm=False)
    dot = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4, use_bias=False)
    l2(x0)
    dot(x0, x0)
    scales = (1.0, 10.0, 100.0)
    l2_norms = [_query_gradient_norm(l2, x0 * s) for s in scales]
    dot_norms = [_query_gradient_norm(dot, x0 * s) for s in scales]
    assert dot_norms[2] > 1000 * dot_norms[0]
    assert max(l2_norms) < 3 * l2_norms[0]


def test_logits_and_softmax_in_float32_under_mixed_precision():
    x = randn(2, 5, 8)
    assert_mixed_precision(lambda dtype: L2Attention(2, 4, dtype=dtype), x)
    layer = L2Attention(2, 4, dtype="mixed_float16")
    assert layer.attention_logits(x).dtype == "float32"


def test_serialization():
    assert_roundtrip(L2Attention(2, 4), randn(2, 5, 8))
    assert_roundtrip(L2Attention(2, 4, use_spectral_norm=False), randn(2, 5, 8))


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_heads"):
        L2Attention(0, 4)
