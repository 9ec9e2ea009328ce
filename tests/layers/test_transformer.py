import numpy as np
import pytest
import tensorflow as tf

from tests import reference as ref
from tests.helpers import assert_mixed_precision, assert_roundtrip, randn
from vitgan_tf.layers import (
    DiscriminatorBlock,
    DotProductAttention,
    GeneratorBlock,
    ImprovedSpectralNorm,
    L2Attention,
)


def _np_sln(layer, h, style):
    return ref.sln(h, style, ref.w(layer.gamma.kernel), ref.w(layer.gamma.bias),
                   ref.w(layer.beta.kernel), ref.w(layer.beta.bias))


def _np_mha(mha, x):
    names = ("query", "key", "value", "output")
    params = []
    for name in names:
        sub = getattr(mha, f"_{name}_dense")
        params += [ref.w(sub.kernel), ref.w(sub.bias)]
    return ref.dot_attention(x, *params)


def _np_isn_dense(wrapper, x):
    kernel = ref.isn_kernel(ref.w(wrapper.layer.kernel), ref.w(wrapper.u),
                            float(wrapper.sigma_init.numpy()))
    return x @ kernel + ref.w(wrapper.layer.bias)


def _perturb(layer):
    # Move every weight off its initial value so no term is an identity by accident.
    for i, v in enumerate(layer.trainable_weights):
        v.assign(v.numpy() + randn(*v.shape, seed=10 + i) * 0.2)


def test_generator_block_matches_numpy():
    block = GeneratorBlock(num_heads=2, key_dim=4, mlp_dim=16)
    h, style = randn(2, 5, 8), randn(2, 6, seed=1)
    block(h, style)
    _perturb(block)
    h64, s64 = h.astype(np.float64), style.astype(np.float64)
    # Residuals add the un-normalized h; each norm is its own SLN.
    h1 = _np_mha(block.attention, _np_sln(block.norm1, h64, s64)) + h64
    x = _np_sln(block.norm2, h1, s64)
    mlp = ref.gelu(x @ ref.w(block.mlp_in.kernel) + ref.w(block.mlp_in.bias))
    expected = mlp @ ref.w(block.mlp_out.kernel) + ref.w(block.mlp_out.bias) + h1
    np.testing.assert_allclose(np.asarray(block(h, style)), expected, rtol=1e-4, atol=1e-4)
    assert block.norm1 is not block.norm2


def test_discriminator_block_matches_numpy():
    block = DiscriminatorBlock(num_heads=2, key_dim=4, mlp_dim=16)
    h = randn(2, 5, 8)
    block(h)
    _perturb(block)
    h64 = h.astype(np.float64)

    def ln(layer, x):
        return ref.layer_norm(x) * ref.w(layer.gamma) + ref.w(layer.beta)

    att = block.attention
    params = []
    for wrapper in (att.qk_dense, att.v_dense, att.output_dense):
        params += [ref.isn_kernel(ref.w(wrapper.layer.kernel), ref.w(wrapper.u),
                                  float(wrapper.sigma_init.numpy())), ref.w(wrapper.layer.bias)]
    h1 = ref.l2_attention(ln(block.norm1, h64), *params, heads=2)[0] + h64
    mlp = ref.gelu(_np_isn_dense(block.mlp_in, ln(block.norm2, h1)))
    expected = _np_isn_dense(block.mlp_out, mlp) + h1
    np.testing.assert_allclose(np.asarray(block(h)), expected, rtol=1e-4, atol=1e-4)


def test_discriminator_block_spectral_norms_every_linear_map():
    block = DiscriminatorBlock(num_heads=2, key_dim=4, mlp_dim=16)
    block(randn(1, 3, 8))
    kernels = [v for v in block.trainable_weights if v.name == "kernel"]
    sigmas = [v for v in block.non_trainable_weights if v.name == "sigma_init"]
    assert len(kernels) == len(sigmas) == 5  # qk, v, output, mlp_in, mlp_out


def test_mlp_output_reaches_the_block_output():
    # Zeroing the second MLP layer must change the output (the MLP result is not discarded).
    block = GeneratorBlock(num_heads=2, key_dim=4, mlp_dim=16)
    h, style = randn(1, 4, 8), randn(1, 6)
    before = np.asarray(block(h, style))
    block.mlp_out.kernel.assign(np.zeros_like(block.mlp_out.kernel.numpy()))
    block.mlp_out.bias.assign(np.zeros_like(block.mlp_out.bias.numpy()))
    assert np.abs(np.asarray(block(h, style)) - before).max() > 1e-3


def test_serialization_and_mixed_precision():
    h, style = randn(2, 5, 8), randn(2, 6)
    assert_roundtrip(GeneratorBlock(2, 4, 16), h, style)
    assert_roundtrip(DiscriminatorBlock(2, 4, 16), h)
    assert_mixed_precision(lambda dtype: GeneratorBlock(2, 4, 16, dtype=dtype), h, style)
    assert_mixed_precision(lambda dtype: DiscriminatorBlock(2, 4, 16, dtype=dtype), h)


def test_unmodulated_generator_block_matches_numpy_and_ignores_the_style():
    # The additive-conditioning ablation: plain LayerNorms, w unused inside the block.
    block = GeneratorBlock(num_heads=2, key_dim=4, mlp_dim=16, modulated=False)
    h, style = randn(2, 5, 8), randn(2, 6, seed=1)
    block(h, style)
    _perturb(block)
    h64 = h.astype(np.float64)

    def ln(layer, x):
        return ref.layer_norm(x) * ref.w(layer.gamma) + ref.w(layer.beta)

    h1 = _np_mha(block.attention, ln(block.norm1, h64)) + h64
    mlp = ref.gelu(ln(block.norm2, h1) @ ref.w(block.mlp_in.kernel) + ref.w(block.mlp_in.bias))
    expected = mlp @ ref.w(block.mlp_out.kernel) + ref.w(block.mlp_out.bias) + h1
    out = np.asarray(block(h, style))
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(block(h, randn(2, 6, seed=5))), out, rtol=1e-6)
    assert_roundtrip(block, h, style)
    assert_mixed_precision(
        lambda dtype: GeneratorBlock(2, 4, 16, modulated=False, dtype=dtype), h, style)


@pytest.mark.parametrize("norm,attention", [("sn", "dot"), ("none", "l2"), ("none", "dot")])
def test_discriminator_block_ablation_switches(norm, attention):
    block = DiscriminatorBlock(num_heads=2, key_dim=4, mlp_dim=16, spectral_norm=norm,
                               attention=attention)
    h = randn(2, 5, 8)
    out = block(h)
    assert out.shape == h.shape
    expected_class = DotProductAttention if attention == "dot" else L2Attention
    assert type(block.attention) is expected_class
    wrappers = [layer for layer in block._flatten_layers()
                if isinstance(layer, ImprovedSpectralNorm)]
    assert len(wrappers) == (0 if norm == "none" else 6 if attention == "dot" else 5)
    assert all(w.mode == "sn" for w in wrappers)
    assert_roundtrip(block, h)


def test_discriminator_block_rejects_an_unknown_attention():
    with pytest.raises(ValueError, match="attention"):
        DiscriminatorBlock(2, 4, 16, attention="cosine")


def test_generator_block_attention_equals_keras_multi_head_attention():
    # The block computes attention itself (flattened projections, for speed) from the weights
    # of its keras.layers.MultiHeadAttention: the result must be that layer's, and gradients
    # must reach all of its weights.
    block = GeneratorBlock(num_heads=4, key_dim=8, mlp_dim=16)
    block.build((None, 9, 32), (None, 6))
    for v in block.attention.weights:  # biases start at 0: make them matter
        v.assign(randn(*v.shape, seed=3) * 0.3)
    x = tf.constant(randn(3, 9, 32))
    np.testing.assert_allclose(np.asarray(block._attention(x)),
                               np.asarray(block.attention(x, x)), rtol=1e-5, atol=1e-5)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(block(x, tf.constant(randn(3, 6)))))
    grads = tape.gradient(loss, block.attention.trainable_weights)
    assert all(g is not None and np.any(np.asarray(g)) for g in grads)
