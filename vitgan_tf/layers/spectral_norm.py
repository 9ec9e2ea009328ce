"""Improved spectral normalization (ISN) for the ViTGAN discriminator."""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

_SUPPORTED = (keras.layers.Dense, keras.layers.EinsumDense, keras.layers.Conv2D)


def _l2_normalize(x, epsilon):
    return x * ops.rsqrt(ops.sum(ops.square(x)) + epsilon)


@keras.saving.register_keras_serializable(package="vitgan_tf")
class ImprovedSpectralNorm(keras.layers.Wrapper):
    """Improved spectral normalization: W_bar = sigma(W_init) * W / sigma(W).

    The wrapped layer runs with the reparameterized kernel W_bar, so its Lipschitz constant stays
    at its value at initialization instead of being forced to 1 (Lee et al. 2022, ViTGAN, eq. 5;
    plain spectral norm, Miyato et al. 2018, trains transformers too slowly). sigma(W) is
    estimated by power iteration on the kernel reshaped to (fan_in, units) with a persistent
    vector u (a non-trainable weight, saved in checkpoints, advanced only when `training`);
    sigma(W_init) is computed exactly (SVD) once, when the layer is built. The trainable kernel is
    never written to: W_bar is computed in `call` and gradients flow through it to W.

    With `mode="sn"` it is Miyato et al.'s spectral normalization instead, W_bar = W / sigma(W)
    (sigma(W_bar) = 1), for the ablation of docs/model.md; the power iteration is the same.

    Args:
        layer: a `keras.layers.Dense`, `EinsumDense` or `Conv2D`.
        power_iterations: power-iteration steps per training call (>= 1).
        epsilon: numerical guard for normalizations.
        mode: "isn" (improved, the default) or "sn" (plain: sigma(W_bar) = 1).
    """

    MODES = ("isn", "sn")

    def __init__(self, layer, power_iterations=1, epsilon=1e-12, mode="isn", **kwargs):
        super().__init__(layer, **kwargs)
        if not isinstance(layer, _SUPPORTED):
            raise ValueError(
                "ImprovedSpectralNorm wraps Dense, EinsumDense or Conv2D layers, "
                f"got {type(layer).__name__}.")
        if power_iterations < 1:
            raise ValueError(f"`power_iterations` must be at least 1, got {power_iterations}.")
        if mode not in self.MODES:
            raise ValueError(f"`mode` must be one of {self.MODES}, got {mode!r}.")
        self.power_iterations = power_iterations
        self.epsilon = epsilon
        self.mode = mode

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(input_shape)
        kernel = self.layer.kernel
        self.units = int(kernel.shape[-1])
        self.fan_in = int(np.prod(kernel.shape[:-1]))
        if tf.inside_function():
            # Variables made while a tf.function traces have no value until it runs, and
            # sigma(W_init) must be exact: it is read here, once.
            raise RuntimeError(
                f"{self.name}: build ImprovedSpectralNorm eagerly (call it once, or call "
                "`build(input_shape)`, outside tf.function) so sigma(W_init) can be computed.")
        matrix = np.reshape(kernel.numpy(), (self.fan_in, self.units)).astype(np.float64)
        _, singular_values, vt = np.linalg.svd(matrix, full_matrices=False)
        sigma_init = float(singular_values[0]) if self.mode == "isn" else 1.0
        self.sigma_init = self.add_weight(
            name="sigma_init", shape=(), initializer=keras.initializers.Constant(sigma_init),
            trainable=False, dtype="float32")
        # u is a left singular-vector estimate over the output axis; starting it at the exact
        # one makes the first training call already accurate.
        self.u = self.add_weight(
            name="u", shape=(1, self.units), initializer=keras.initializers.Constant(vt[:1]),
            trainable=False, dtype="float32", aggregation="only_first_replica")
        self.built = True

    def _sigma(self, matrix, training):
        u = ops.convert_to_tensor(self.u)
        for _ in range(self.power_iterations):
            v = _l2_normalize(ops.matmul(u, ops.transpose(matrix)), self.epsilon)
            u = _l2_normalize(ops.matmul(v, matrix), self.epsilon)
        u = ops.stop_gradient(u)
        v = ops.stop_gradient(v)
        if training:
            self.u.assign(u)
        return ops.sum(ops.matmul(v, matrix) * u)

    def normalized_kernel(self, training=False):
        kernel = ops.cast(self.layer.kernel, "float32")
        sigma = self._sigma(ops.reshape(kernel, (self.fan_in, self.units)), training)
        return kernel * (self.sigma_init / sigma)

    def call(self, inputs, training=False):
        layer = self.layer
        kernel = ops.cast(self.normalized_kernel(training), layer.compute_dtype)
        x = ops.cast(inputs, layer.compute_dtype)
        if isinstance(layer, keras.layers.EinsumDense):
            y = ops.einsum(layer.equation, x, kernel)
        elif isinstance(layer, keras.layers.Dense):
            y = ops.matmul(x, kernel)
        else:
            y = ops.conv(x, kernel, strides=layer.strides, padding=layer.padding,
                         data_format=layer.data_format, dilation_rate=layer.dilation_rate)
        if layer.bias is not None:
            y = y + layer.bias
        return layer.activation(y)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        return {**super().get_config(), "power_iterations": self.power_iterations,
                "epsilon": self.epsilon, "mode": self.mode}


SPECTRAL_NORMS = ("isn", "sn", "none")


def wrap_spectral_norm(layer, spectral_norm, name):
    """`layer` in `ImprovedSpectralNorm` for spectral_norm "isn" (improved) or "sn" (plain,
    sigma = 1); `layer` itself for "none". One spelling everywhere: ViTGANConfig.d_norm, the
    layers' `spectral_norm` argument and the wrapper's `mode`."""
    if spectral_norm not in SPECTRAL_NORMS:
        raise ValueError(f"`spectral_norm` must be one of {SPECTRAL_NORMS}, got "
                         f"{spectral_norm!r}.")
    if spectral_norm == "none":
        return layer
    return ImprovedSpectralNorm(layer, mode=spectral_norm, dtype=layer.dtype_policy, name=name)
