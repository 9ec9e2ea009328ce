"""Transformer encoder blocks of the ViTGAN generator and discriminator."""

import keras
from keras import ops

from vitgan_tf.layers.attention import DotProductAttention, L2Attention
from vitgan_tf.layers.sln import SelfModulatedLayerNorm
from vitgan_tf.layers.spectral_norm import wrap_spectral_norm


@keras.saving.register_keras_serializable(package="vitgan_tf")
class GeneratorBlock(keras.layers.Layer):
    """Generator block: h' = MSA(SLN(h, w)) + h ; h = MLP(SLN(h', w)) + h'.

    Each of the two norms is its own `SelfModulatedLayerNorm`, and the residuals add the
    un-normalized input (Lee et al. 2022, ViTGAN, eq. 3). Attention is standard scaled
    dot-product multi-head attention; the MLP is Dense-GELU-Dense. The attention's weights
    are those of a `keras.layers.MultiHeadAttention` (its checkpoint layout), but the block
    computes it itself with flattened 2-D projections: Keras runs its (batch, L, D) x
    (D, H, dh) projections as broadcasting batched matmuls, 2-4x slower on CPUs
    (bench/README.md); the math is the same.

    With `modulated=False` both norms are plain LayerNorms and `style` is ignored: the
    ablation in which z reaches the transformer only through its input embedding
    (docs/model.md).

    Args:
        num_heads: attention heads.
        key_dim: size of each head.
        mlp_dim: hidden size of the MLP.
        modulated: SLN (True, the paper's) or plain LayerNorm (False).

    Call arguments:
        inputs: tokens (batch, L, D).
        style: w (batch, style_dim).
    """

    def __init__(self, num_heads, key_dim, mlp_dim, modulated=True, **kwargs):
        super().__init__(**kwargs)
        if num_heads < 1 or key_dim < 1 or mlp_dim < 1:
            raise ValueError(
                "`num_heads`, `key_dim` and `mlp_dim` must be positive, got "
                f"{num_heads}, {key_dim}, {mlp_dim}.")
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.mlp_dim = mlp_dim
        self.modulated = modulated

    def build(self, inputs_shape, style_shape):
        d = inputs_shape[-1]
        policy = self.dtype_policy
        if self.modulated:
            self.norm1 = SelfModulatedLayerNorm(dtype=policy, name="sln_1")
            self.norm2 = SelfModulatedLayerNorm(dtype=policy, name="sln_2")
            self.norm1.build(inputs_shape, style_shape)
            self.norm2.build(inputs_shape, style_shape)
        else:
            # float32: float16 variances underflow.
            self.norm1 = keras.layers.LayerNormalization(epsilon=1e-5, dtype="float32",
                                                         name="ln_1")
            self.norm2 = keras.layers.LayerNormalization(epsilon=1e-5, dtype="float32",
                                                         name="ln_2")
            self.norm1.build(inputs_shape)
            self.norm2.build(inputs_shape)
        self.attention = keras.layers.MultiHeadAttention(self.num_heads, self.key_dim,
                                                         dtype=policy, name="attention")
        self.mlp_in = keras.layers.Dense(self.mlp_dim, activation="gelu", dtype=policy,
                                         name="mlp_in")
        self.mlp_out = keras.layers.Dense(d, dtype=policy, name="mlp_out")
        self.attention.build(inputs_shape, inputs_shape)
        self.mlp_in.build(inputs_shape)
        self.mlp_out.build(tuple(inputs_shape[:-1]) + (self.mlp_dim,))

    def _norm(self, norm, h, style):
        if self.modulated:
            return norm(h, style)
        return ops.cast(norm(h), self.compute_dtype)

    def _attention(self, x):
        """Keras MultiHeadAttention(x, x) with its own weights, projections as 2-D matmuls."""
        mha, heads, dh = self.attention, self.num_heads, self.key_dim
        shape = ops.shape(x)
        batch, length, d = shape[0], shape[1], shape[2]
        flat = ops.reshape(x, (-1, d))

        def project(dense):
            kernel = ops.reshape(ops.cast(dense.kernel, x.dtype), (d, heads * dh))
            y = ops.matmul(flat, kernel) + ops.reshape(ops.cast(dense.bias, x.dtype), (-1,))
            return ops.transpose(ops.reshape(y, (batch, length, heads, dh)), (0, 2, 1, 3))

        q = project(mha.query_dense) * ops.cast(dh**-0.5, x.dtype)
        k, v = project(mha.key_dense), project(mha.value_dense)
        scores = ops.cast(ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))), "float32")
        weights = ops.cast(ops.softmax(scores, axis=-1), x.dtype)
        out = ops.reshape(ops.transpose(ops.matmul(weights, v), (0, 2, 1, 3)),
                          (-1, heads * dh))
        wo = ops.reshape(ops.cast(mha.output_dense.kernel, x.dtype), (heads * dh, d))
        out = ops.matmul(out, wo) + ops.cast(mha.output_dense.bias, x.dtype)
        return ops.reshape(out, (batch, length, d))

    def call(self, inputs, style, training=False):
        x = self._norm(self.norm1, inputs, style)
        h = self._attention(x) + inputs
        x = self._norm(self.norm2, h, style)
        return self.mlp_out(self.mlp_in(x)) + h

    def compute_output_shape(self, inputs_shape, style_shape):
        return tuple(inputs_shape)

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "mlp_dim": self.mlp_dim, "modulated": self.modulated}


@keras.saving.register_keras_serializable(package="vitgan_tf")
class DiscriminatorBlock(keras.layers.Layer):
    """Discriminator block: h' = MSA(LN(h)) + h ; h = MLP(LN(h')) + h'.

    Pre-norm, `L2Attention` with tied W_q = W_k, and `ImprovedSpectralNorm` on every linear map
    (Lee et al. 2022, ViTGAN, sec. 4.1). No dropout.

    Args:
        num_heads: attention heads.
        key_dim: size of each head.
        mlp_dim: hidden size of the MLP.
        spectral_norm: "isn" (improved), "sn" (plain, sigma = 1) or "none"; the
            last two only for ablations.
        qk_init_std: stddev of the truncated-normal init of the attention's W_qk (W_q, W_k).
        attention: "l2" (`L2Attention`, tied W_q = W_k) or "dot" (`DotProductAttention`, the
            vanilla ViT's; ablations only).

    Call arguments:
        inputs: tokens (batch, tokens, D).
        training: advances the spectral-norm power iterations.
    """

    ATTENTION = {"l2": L2Attention, "dot": DotProductAttention}

    def __init__(self, num_heads, key_dim, mlp_dim, spectral_norm="isn", qk_init_std=0.02,
                 attention="l2", **kwargs):
        super().__init__(**kwargs)
        if num_heads < 1 or key_dim < 1 or mlp_dim < 1:
            raise ValueError(
                "`num_heads`, `key_dim` and `mlp_dim` must be positive, got "
                f"{num_heads}, {key_dim}, {mlp_dim}.")
        if qk_init_std <= 0:
            raise ValueError(f"`qk_init_std` must be positive, got {qk_init_std}.")
        if attention not in self.ATTENTION:
            raise ValueError(f"`attention` must be one of {sorted(self.ATTENTION)}, "
                             f"got {attention!r}.")
        self.attention_type = attention
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.mlp_dim = mlp_dim
        self.spectral_norm = spectral_norm
        self.qk_init_std = qk_init_std

    def build(self, input_shape):
        d = input_shape[-1]
        policy = self.dtype_policy

        def dense(units, activation, name):
            layer = keras.layers.Dense(units, activation=activation, dtype=policy, name=name)
            return wrap_spectral_norm(layer, self.spectral_norm, f"{name}_isn")

        # LayerNorm in float32 whatever the policy: float16 variances underflow.
        self.norm1 = keras.layers.LayerNormalization(epsilon=1e-5, dtype="float32", name="ln_1")
        self.norm2 = keras.layers.LayerNormalization(epsilon=1e-5, dtype="float32", name="ln_2")
        self.attention = self.ATTENTION[self.attention_type](
            self.num_heads, self.key_dim, spectral_norm=self.spectral_norm,
            qk_initializer=keras.initializers.TruncatedNormal(stddev=self.qk_init_std),
            dtype=policy, name="attention")
        self.mlp_in = dense(self.mlp_dim, "gelu", "mlp_in")
        self.mlp_out = dense(d, None, "mlp_out")
        self.norm1.build(input_shape)
        self.norm2.build(input_shape)
        self.attention.build(input_shape)
        self.mlp_in.build(input_shape)
        self.mlp_out.build(tuple(input_shape[:-1]) + (self.mlp_dim,))

    def call(self, inputs, training=False):
        h = self.attention(self.norm1(inputs), training=training) + inputs
        x = self.mlp_in(self.norm2(h), training=training)
        return self.mlp_out(x, training=training) + h

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "mlp_dim": self.mlp_dim, "spectral_norm": self.spectral_norm,
                "qk_init_std": self.qk_init_std, "attention": self.attention_type}
