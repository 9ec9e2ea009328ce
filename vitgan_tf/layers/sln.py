"""Self-modulated LayerNorm (ViTGAN generator)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="vitgan_tf")
class SelfModulatedLayerNorm(keras.layers.Layer):
    """Self-modulated LayerNorm: SLN(h, w) = gamma(w) * (h - mu) / sigma + beta(w).

    mu and sigma are taken over the feature axis of each token; gamma and beta are this layer's
    own affine maps of the style w (Lee et al. 2022, ViTGAN, eq. 3). The normalization has no
    affine of its own: w is the only source of scale and shift, which is how z reaches the
    generator. gamma's bias starts at 1 and both kernels at variance 1/style_dim (as StyleGAN's
    style affines), so different w give clearly different images from the first step; with
    the 0.02 init of ViT linear layers z barely mattered and GAN training collapsed to one
    image.

    Args:
        epsilon: added to the variance.
        gamma_kernel_stddev: standard deviation of gamma's and beta's initial kernels
            (default 1/sqrt(style_dim)).

    Call arguments:
        inputs: tokens h, shape (batch, tokens, features).
        style: w, shape (batch, style_dim).
    """

    def __init__(self, epsilon=1e-5, gamma_kernel_stddev=None, **kwargs):
        super().__init__(**kwargs)
        if epsilon <= 0:
            raise ValueError(f"`epsilon` must be positive, got {epsilon}.")
        self.epsilon = epsilon
        self.gamma_kernel_stddev = gamma_kernel_stddev

    def build(self, inputs_shape, style_shape):
        features = inputs_shape[-1]
        stddev = self.gamma_kernel_stddev
        if stddev is None:
            stddev = style_shape[-1] ** -0.5
        init = keras.initializers.RandomNormal(stddev=stddev)
        self.gamma = keras.layers.Dense(features, kernel_initializer=init, bias_initializer="ones",
                                        dtype=self.dtype_policy, name="gamma")
        self.beta = keras.layers.Dense(features, kernel_initializer=init, bias_initializer="zeros",
                                       dtype=self.dtype_policy, name="beta")
        self.gamma.build(style_shape)
        self.beta.build(style_shape)

    def call(self, inputs, style):
        # Statistics in float32: float16 variances underflow.
        h = ops.cast(inputs, "float32")
        mean = ops.mean(h, axis=-1, keepdims=True)
        var = ops.mean(ops.square(h - mean), axis=-1, keepdims=True)
        normed = ops.cast((h - mean) * ops.rsqrt(var + self.epsilon), self.compute_dtype)
        gamma = ops.expand_dims(self.gamma(style), 1)
        beta = ops.expand_dims(self.beta(style), 1)
        return gamma * normed + beta

    def compute_output_shape(self, inputs_shape, style_shape):
        return tuple(inputs_shape)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon,
                "gamma_kernel_stddev": self.gamma_kernel_stddev}
