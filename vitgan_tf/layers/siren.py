"""Fourier features, modulated dense layers and the implicit (SIREN) patch decoder."""

import math

import keras
import numpy as np
from keras import ops


def coordinate_grid(size):
    """(size*size, 2) row-major (y, x) coordinates of a size x size grid, spanning [-1, 1]."""
    axis = np.linspace(-1.0, 1.0, size) if size > 1 else np.zeros((1,))
    yy, xx = np.meshgrid(axis, axis, indexing="ij")
    return np.stack([yy.ravel(), xx.ravel()], axis=-1).astype("float32")


@keras.saving.register_keras_serializable(package="vitgan_tf")
class SinePositionEmbedding(keras.layers.Layer):
    """Fourier features of a fixed grid: E = sin(omega_0 * (coords @ W + b)).

    coords are the (y, x) positions of a `grid_size` x `grid_size` grid normalized to [-1, 1],
    row-major. W and b are trainable and drawn as in a SIREN's first layer (U(-1/2, 1/2) for two
    input coordinates). Used for the generator's token embedding E_pos, the patch decoder's pixel
    features E_fou and the discriminator's position embedding (Lee et al. 2022, ViTGAN, sec. 4.2).

    Args:
        grid_size: positions per side.
        units: embedding size.
        omega_0: frequency scale.

    The sine of arguments of tens of radians needs float32: parents create this layer with
    dtype "float32" and cast its output.

    Call arguments:
        inputs: ignored (the embedding depends on the grid alone); may be omitted.

    Returns: (1, grid_size**2, units), broadcastable over the batch.
    """

    def __init__(self, grid_size, units, omega_0=30.0, **kwargs):
        super().__init__(**kwargs)
        if grid_size < 1 or units < 1:
            raise ValueError(
                f"`grid_size` and `units` must be positive, got {grid_size} and {units}.")
        self.grid_size = grid_size
        self.units = units
        self.omega_0 = omega_0
        self.coordinates = coordinate_grid(grid_size)

    def build(self, input_shape=None):
        self.kernel = self.add_weight(
            name="kernel", shape=(2, self.units),
            initializer=keras.initializers.RandomUniform(-0.5, 0.5))
        self.bias = self.add_weight(
            name="bias", shape=(self.units,),
            initializer=keras.initializers.RandomUniform(-1 / math.sqrt(2), 1 / math.sqrt(2)))

    def call(self, inputs=None):
        coords = ops.convert_to_tensor(self.coordinates, dtype=self.compute_dtype)
        emb = ops.sin(self.omega_0 * (ops.matmul(coords, self.kernel) + self.bias))
        return ops.expand_dims(emb, 0)

    def compute_output_shape(self, input_shape=None):
        return (1, self.grid_size**2, self.units)

    def get_config(self):
        return {**super().get_config(), "grid_size": self.grid_size, "units": self.units,
                "omega_0": self.omega_0}


@keras.saving.register_keras_serializable(package="vitgan_tf")
class ModulatedDense(keras.layers.Layer):
    """Style-modulated dense layer (StyleGAN2, Karras et al. 2020; CIPS, Anokhin et al. 2021).

    s = Affine(style); the modulated kernel is w'_ij = s_i w_ij and, with demodulation,
    w''_ij = w'_ij / sqrt(sum_i w'_ij^2 + eps). Computed without a kernel per sample:
    y = ((x * s) @ W) * d + b with d_j = 1 / sqrt((s^2) @ (W^2) + eps).

    Args:
        units: output size.
        demodulate: divide each output by the modulated kernel's column norm.
        activation: None or "sine" (sin, SIREN; its omega_0 is folded into the kernel init).
        kernel_scale: kernel ~ U(-c / sqrt(fan_in), c / sqrt(fan_in)); sqrt(6) is SIREN's.
        epsilon: demodulation guard.

    Call arguments:
        inputs: (..., N, in_features), e.g. pixel features shared by all patches.
        style: (..., style_dim), broadcastable to inputs without its N axis.
    """

    def __init__(self, units, demodulate=True, activation=None, kernel_scale=math.sqrt(6.0),
                 epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        if units < 1:
            raise ValueError(f"`units` must be positive, got {units}.")
        if activation not in (None, "sine"):
            raise ValueError(f"`activation` must be None or 'sine', got {activation!r}.")
        self.units = units
        self.demodulate = demodulate
        self.activation = activation
        self.kernel_scale = kernel_scale
        self.epsilon = epsilon

    def build(self, inputs_shape, style_shape):
        fan_in = inputs_shape[-1]
        limit = self.kernel_scale / math.sqrt(fan_in)
        self.kernel = self.add_weight(
            name="kernel", shape=(fan_in, self.units),
            initializer=keras.initializers.RandomUniform(-limit, limit))
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")
        # StyleGAN2: the affine's bias starts at 1 so modulation starts as the identity.
        self.affine = keras.layers.Dense(fan_in, bias_initializer="ones",
                                         dtype=self.dtype_policy, name="affine")
        self.affine.build(style_shape)

    def call(self, inputs, style):
        s = self.affine(style)
        y = ops.matmul(ops.expand_dims(s, -2) * inputs, self.kernel)
        if self.demodulate:
            s32 = ops.cast(s, "float32")
            w32 = ops.cast(self.kernel, "float32")
            d = ops.rsqrt(ops.matmul(ops.square(s32), ops.square(w32)) + self.epsilon)
            y = y * ops.expand_dims(ops.cast(d, y.dtype), -2)
        y = y + self.bias
        if self.activation == "sine":
            y = ops.sin(y)
        return y

    def compute_output_shape(self, inputs_shape, style_shape):
        batch = tuple(style_shape[:-1])
        return batch + (inputs_shape[-2], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "demodulate": self.demodulate,
                "activation": self.activation, "kernel_scale": self.kernel_scale,
                "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="vitgan_tf")
class ImplicitPatchDecoder(keras.layers.Layer):
    """Implicit neural patch decoder: x^i = f(E_fou, y^i) (Lee et al. 2022, ViTGAN, sec. 4.2).

    E_fou = sin(omega_0 (coords W + b)) are Fourier features of the P x P pixel grid, the same
    for every patch. f is a SIREN: `num_hidden_layers` modulated, demodulated sine layers of
    width `hidden_units`, each modulated by the patch token y^i, then a modulated (not
    demodulated) linear layer to `channels`. One shared matmul serves every patch and pixel.

    Args:
        patch_size: P.
        channels: output channels C.
        hidden_units: width of E_fou and the hidden layers.
        num_hidden_layers: modulated sine layers (>= 1).
        demodulate: demodulate the hidden layers.
        omega_0: frequency scale of E_fou.

    Call arguments:
        tokens: (batch, L, D) output tokens of the generator's transformer.

    Returns: (batch, L, P*P, C) pixels of each patch, row-major within the patch.
    """

    def __init__(self, patch_size, channels=3, hidden_units=128, num_hidden_layers=2,
                 demodulate=True, omega_0=30.0, **kwargs):
        super().__init__(**kwargs)
        if patch_size < 1 or channels < 1 or hidden_units < 1 or num_hidden_layers < 1:
            raise ValueError(
                "`patch_size`, `channels`, `hidden_units` and `num_hidden_layers` must be "
                f"positive, got {patch_size}, {channels}, {hidden_units}, {num_hidden_layers}.")
        self.patch_size = patch_size
        self.channels = channels
        self.hidden_units = hidden_units
        self.num_hidden_layers = num_hidden_layers
        self.demodulate = demodulate
        self.omega_0 = omega_0
        self.fourier = SinePositionEmbedding(patch_size, hidden_units, omega_0=omega_0,
                                             dtype="float32", name="fourier_features")
        self.hidden = [
            ModulatedDense(hidden_units, demodulate=demodulate, activation="sine",
                           dtype=self.dtype_policy, name=f"siren_{i}")
            for i in range(num_hidden_layers)]
        self.to_pixels = ModulatedDense(channels, demodulate=False, kernel_scale=1.0,
                                        dtype=self.dtype_policy, name="to_pixels")

    def build(self, tokens_shape):
        self.fourier.build()
        features_shape = (self.patch_size**2, self.hidden_units)
        for layer in self.hidden:
            layer.build(features_shape, tokens_shape)
        self.to_pixels.build(features_shape, tokens_shape)

    def call(self, tokens):
        x = ops.cast(self.fourier(), self.compute_dtype)
        for layer in self.hidden:
            x = layer(x, tokens)
        return self.to_pixels(x, tokens)

    def compute_output_shape(self, tokens_shape):
        return tuple(tokens_shape[:-1]) + (self.patch_size**2, self.channels)

    def get_config(self):
        return {**super().get_config(), "patch_size": self.patch_size,
                "channels": self.channels, "hidden_units": self.hidden_units,
                "num_hidden_layers": self.num_hidden_layers, "demodulate": self.demodulate,
                "omega_0": self.omega_0}


@keras.saving.register_keras_serializable(package="vitgan_tf")
class LinearPatchDecoder(keras.layers.Layer):
    """A linear map of each token to its P x P x C pixels: x^i = y^i W + b.

    The plain ViT way to turn tokens into pixels, for the ablation against
    `ImplicitPatchDecoder` (docs/model.md). Same call and output shape.

    Args:
        patch_size: P.
        channels: output channels C.

    Call arguments:
        tokens: (batch, L, D).

    Returns: (batch, L, P*P, C), row-major within the patch.
    """

    def __init__(self, patch_size, channels=3, **kwargs):
        super().__init__(**kwargs)
        if patch_size < 1 or channels < 1:
            raise ValueError(
                f"`patch_size` and `channels` must be positive, got {patch_size}, {channels}.")
        self.patch_size = patch_size
        self.channels = channels
        self.projection = keras.layers.Dense(patch_size**2 * channels, dtype=self.dtype_policy,
                                             name="projection")

    def build(self, tokens_shape):
        self.projection.build(tokens_shape)

    def call(self, tokens):
        x = self.projection(tokens)
        shape = ops.shape(x)
        return ops.reshape(x, (shape[0], shape[1], self.patch_size**2, self.channels))

    def compute_output_shape(self, tokens_shape):
        return tuple(tokens_shape[:-1]) + (self.patch_size**2, self.channels)

    def get_config(self):
        return {**super().get_config(), "patch_size": self.patch_size,
                "channels": self.channels}
