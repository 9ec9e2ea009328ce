import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import reference as ref
from tests.helpers import assert_mixed_precision, assert_roundtrip, randn
from vitgan_tf.layers import DotProductAttention, L2Attention


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
    l2 = L2Attention(num_heads=2, key_dim=4, spectral_norm="none")
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
    assert_roundtrip(L2Attention(2, 4, spectral_norm="none"), randn(2, 5, 8))


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_heads"):
        L2Attention(0, 4)


def _mha_with_weights_of(layer, x):
    """A Keras MultiHeadAttention carrying `layer`'s (un-normalized) weights."""
    heads, dh = layer.num_heads, layer.key_dim
    d = x.shape[-1]
    mha = keras.layers.MultiHeadAttention(heads, dh)
    mha(x, x)
    for mine, theirs in ((layer.q_dense, mha._query_dense), (layer.k_dense, mha._key_dense),
                         (layer.v_dense, mha._value_dense)):
        theirs.kernel.assign(mine.kernel.numpy().reshape(d, heads, dh))
        theirs.bias.assign(mine.bias.numpy().reshape(heads, dh))
    mha._output_dense.kernel.assign(layer.output_dense.kernel.numpy().reshape(heads, dh, d))
    mha._output_dense.bias.assign(layer.output_dense.bias.numpy())
    return mha


def test_dot_product_attention_equals_keras_mha_on_the_same_weights():
    layer = DotProductAttention(num_heads=3, key_dim=4, spectral_norm="none")
    x = randn(2, 7, 12)
    layer(x)
    for i, v in enumerate(layer.trainable_weights):  # Non-zero biases, larger logits.
        v.assign(v.numpy() * 2 + randn(*v.shape, seed=20 + i) * 0.1)
    mha = _mha_with_weights_of(layer, x)
    np.testing.assert_allclose(np.asarray(layer(x)), np.asarray(mha(x, x)), rtol=1e-4,
                               atol=1e-5)
    # Separate W_q and W_k: unlike L2 attention a token need not attend most to itself.
    names = [v.path for v in layer.trainable_weights]
    assert any("/q/" in n for n in names) and any("/k/" in n for n in names)
    assert not any("qk" in n for n in names)


def test_dot_product_attention_with_isn_matches_numpy():
    layer = DotProductAttention(num_heads=2, key_dim=4)
    x = randn(2, 5, 8)
    layer(x)
    layer.q_dense.layer.kernel.assign(layer.q_dense.layer.kernel * 1.5)
    heads, dh, d = 2, 4, 8
    params = []
    for wrapper, shape in ((layer.q_dense, (d, heads, dh)), (layer.k_dense, (d, heads, dh)),
                           (layer.v_dense, (d, heads, dh)), (layer.output_dense, (heads, dh, d))):
        kernel = ref.isn_kernel(ref.w(wrapper.layer.kernel), ref.w(wrapper.u),
                                float(wrapper.sigma_init.numpy()))
        bias = ref.w(wrapper.layer.bias)
        params += [kernel.reshape(shape), bias.reshape(shape[1:]) if shape[0] == d else bias]
    expected = ref.dot_attention(x.astype(np.float64), *params)
    np.testing.assert_allclose(np.asarray(layer(x)), expected, rtol=1e-4, atol=1e-5)
    assert_roundtrip(DotProductAttention(2, 4), x)
