"""The discriminator's multi-head self-attention: L2 with tied W_q = W_k, and dot-product."""

import math

import keras
from keras import ops

from vitgan_tf.layers.spectral_norm import wrap_spectral_norm


@keras.saving.register_keras_serializable(package="vitgan_tf")
class L2Attention(keras.layers.Layer):
    """Multi-head self-attention with L2-distance logits and tied W_q = W_k.

    Per head: q = k = x W_qk, v = x W_v, logits_ij = -||q_i - q_j||^2 / sqrt(d_h), computed as
    -(||q_i||^2 - 2 q_i.q_j + ||q_j||^2) / sqrt(d_h), softmax over j, then the heads are
    concatenated and projected by W_o. Dot-product self-attention is not Lipschitz; with tied
    projections the L2 form is (Kim et al. 2021, "The Lipschitz constant of self-attention"),
    which ViTGAN's discriminator needs (Lee et al. 2022, sec. 4.1). Logits and softmax run in
    float32 whatever the compute dtype.

    Args:
        num_heads: number of heads.
        key_dim: size d_h of each head.
        spectral_norm: wrap W_qk, W_v and W_o in `ImprovedSpectralNorm`: "isn" (improved),
            "sn" (plain, sigma = 1) or "none".
        qk_initializer: initializer of W_qk; default truncated normal with stddev 0.02 (ViT's).
            It must be small: distances between tokens grow with |W_qk|^2, and with Glorot's
            init every token puts ~99.7% of its attention on itself (its own distance is 0), so
            the CLS token never sees the image. Under ISN the initial spectral norm of W_qk
            is kept for the whole run, so this choice sets the attention temperature for good.

    Call arguments:
        inputs: (batch, tokens, features).
        training: advances the spectral-norm power iteration.
    """

    def __init__(self, num_heads, key_dim, spectral_norm="isn",
                 qk_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.qk_initializer = keras.initializers.get(
            qk_initializer or keras.initializers.TruncatedNormal(stddev=0.02))
        if num_heads < 1 or key_dim < 1:
            raise ValueError(
                f"`num_heads` and `key_dim` must be positive, got {num_heads} and {key_dim}.")
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.spectral_norm = spectral_norm

    def _dense(self, units, name, initializer="glorot_uniform"):
        layer = keras.layers.Dense(units, kernel_initializer=initializer,
                                   dtype=self.dtype_policy, name=name)
        return wrap_spectral_norm(layer, self.spectral_norm, f"{name}_isn")

    def build(self, input_shape):
        features = input_shape[-1]
        inner = self.num_heads * self.key_dim
        # Tie W_q = W_k: the Lipschitz bound needs it.
        self.qk_dense = self._dense(inner, "qk", self.qk_initializer)
        self.v_dense = self._dense(inner, "v")
        self.output_dense = self._dense(features, "output")
        self.qk_dense.build(input_shape)
        self.v_dense.build(input_shape)
        self.output_dense.build(tuple(input_shape[:-1]) + (inner,))

    def _split_heads(self, x):
        shape = ops.shape(x)
        x = ops.reshape(x, (shape[0], shape[1], self.num_heads, self.key_dim))
        return ops.transpose(x, (0, 2, 1, 3))

    def _logits(self, inputs, training):
        q = ops.cast(self._split_heads(self.qk_dense(inputs, training=training)), "float32")
        sq = ops.sum(ops.square(q), axis=-1)
        dots = ops.einsum("bhid,bhjd->bhij", q, q)
        dist = ops.expand_dims(sq, -1) - 2.0 * dots + ops.expand_dims(sq, -2)
        return -dist / math.sqrt(self.key_dim)

    def attention_logits(self, inputs):
        """The (batch, heads, tokens, tokens) float32 logits, in inference mode."""
        if not self.built:
            self.build(tuple(inputs.shape))
        return self._logits(inputs, training=False)

    def call(self, inputs, training=False):
        weights = ops.softmax(self._logits(inputs, training), axis=-1)
        v = self._split_heads(self.v_dense(inputs, training=training))
        out = ops.einsum("bhij,bhjd->bhid", ops.cast(weights, v.dtype), v)
        shape = ops.shape(out)
        out = ops.reshape(ops.transpose(out, (0, 2, 1, 3)),
                          (shape[0], shape[2], self.num_heads * self.key_dim))
        return self.output_dense(out, training=training)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "spectral_norm": self.spectral_norm,
                "qk_initializer": keras.initializers.serialize(self.qk_initializer)}


@keras.saving.register_keras_serializable(package="vitgan_tf")
class DotProductAttention(L2Attention):
    """Standard multi-head self-attention with separate W_q, W_k: logits q_i.k_j / sqrt(d_h).

    The vanilla ViT discriminator's attention, for the ablation against `L2Attention`
    (docs/model.md). Same arguments, spectral normalization and float32 logits as
    `L2Attention`; W_q and W_k both use `qk_initializer`. With `spectral_norm="none"` it
    computes what `keras.layers.MultiHeadAttention` computes on the same weights.
    """

    def build(self, input_shape):
        features = input_shape[-1]
        inner = self.num_heads * self.key_dim
        self.q_dense = self._dense(inner, "q", self.qk_initializer)
        self.k_dense = self._dense(inner, "k", self.qk_initializer)
        self.v_dense = self._dense(inner, "v")
        self.output_dense = self._dense(features, "output")
        for layer in (self.q_dense, self.k_dense, self.v_dense):
            layer.build(input_shape)
        self.output_dense.build(tuple(input_shape[:-1]) + (inner,))

    def _logits(self, inputs, training):
        q = ops.cast(self._split_heads(self.q_dense(inputs, training=training)), "float32")
        k = ops.cast(self._split_heads(self.k_dense(inputs, training=training)), "float32")
        return ops.einsum("bhid,bhjd->bhij", q, k) / math.sqrt(self.key_dim)
