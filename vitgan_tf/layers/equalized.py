"""Equalized-learning-rate dense layer and the StyleGAN mapping network."""

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="vitgan_tf")
class EqualizedDense(keras.layers.Layer):
    """Dense layer with equalized learning rate (Karras et al. 2018, StyleGAN).

    Computes `act(x @ (W * lr_multiplier / sqrt(fan_in)) + b * lr_multiplier)`, where the stored
    kernel is drawn from N(0, 1 / lr_multiplier**2), and `act` for "leaky_relu" is
    `sqrt(2) * leaky_relu(x, 0.2)`: the He gain that keeps activations at unit scale through a
    stack of layers (StyleGAN's `fused_lrelu`; without it w shrinks ~sqrt(2) per layer, to an RMS
    of 0.07 after 8 layers, and z barely changes the image). Scaling at run time instead of at
    initialization gives every weight the same effective learning rate under Adam; a multiplier
    below 1 slows the layer down (0.01 in the StyleGAN / ViTGAN mapping network).

    Args:
        units: output size.
        lr_multiplier: learning-rate multiplier (> 0).
        use_bias: add a bias.
        bias_init: initial value of the *effective* bias.
        activation: None, "linear" or "leaky_relu" (slope 0.2, times sqrt(2)).
    """

    def __init__(self, units, lr_multiplier=1.0, use_bias=True, bias_init=0.0,
                 activation=None, **kwargs):
        super().__init__(**kwargs)
        if units <= 0:
            raise ValueError(f"`units` must be positive, got {units}.")
        if lr_multiplier <= 0:
            raise ValueError(f"`lr_multiplier` must be positive, got {lr_multiplier}.")
        if activation not in (None, "linear", "leaky_relu"):
            raise ValueError(
                f"`activation` must be None, 'linear' or 'leaky_relu', got {activation!r}.")
        self.units = units
        self.lr_multiplier = lr_multiplier
        self.use_bias = use_bias
        self.bias_init = bias_init
        self.activation = activation

    def build(self, input_shape):
        fan_in = input_shape[-1]
        self.kernel = self.add_weight(
            name="kernel", shape=(fan_in, self.units),
            initializer=keras.initializers.RandomNormal(stddev=1.0 / self.lr_multiplier))
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(self.units,),
                initializer=keras.initializers.Constant(self.bias_init / self.lr_multiplier))
        self.weight_gain = self.lr_multiplier / math.sqrt(fan_in)

    def call(self, inputs):
        x = ops.matmul(inputs, self.kernel * self.weight_gain)
        if self.use_bias:
            x = x + self.bias * self.lr_multiplier
        if self.activation == "leaky_relu":
            x = ops.leaky_relu(x, negative_slope=0.2) * math.sqrt(2.0)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "lr_multiplier": self.lr_multiplier, "use_bias": self.use_bias,
                "bias_init": self.bias_init, "activation": self.activation}


def pixel_norm(z, epsilon=1e-4):
    """Divide each latent by its root mean square over the feature axis: z / sqrt(mean(z^2) + eps).

    Computed in float32 whatever z's dtype. epsilon is 1e-4 rather than StyleGAN's 1e-8, which
    is 0 in float16: the float16 TFLite model stores constants in float16, and gave NaN for
    z = 0 and different images for tiny z. For latents of N(0, I) (mean(z^2) about 1) the two
    differ by 5e-5 relative.
    """
    z32 = ops.cast(z, "float32")
    normed = z32 * ops.rsqrt(ops.mean(ops.square(z32), axis=-1, keepdims=True) + epsilon)
    return ops.cast(normed, z.dtype)


@keras.saving.register_keras_serializable(package="vitgan_tf")
class MappingNetwork(keras.layers.Layer):
    """StyleGAN mapping network: w = MLP(pixel_norm(z)).

    `num_layers` equalized dense layers of width `units` with leaky ReLU (slope 0.2) and a
    learning-rate multiplier of `lr_multiplier`.

    Args:
        units: width of every layer and of the style w.
        num_layers: number of dense layers (>= 1).
        lr_multiplier: equalized-lr multiplier of every layer.
    """

    def __init__(self, units=384, num_layers=8, lr_multiplier=0.01, **kwargs):
        super().__init__(**kwargs)
        if num_layers < 1:
            raise ValueError(f"`num_layers` must be at least 1, got {num_layers}.")
        self.units = units
        self.num_layers = num_layers
        self.lr_multiplier = lr_multiplier
        self.dense_layers = [
            EqualizedDense(units, lr_multiplier=lr_multiplier, activation="leaky_relu",
                           dtype=self.dtype_policy, name=f"dense_{i}")
            for i in range(num_layers)]

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.dense_layers:
            layer.build(shape)
            shape = shape[:-1] + (self.units,)

    def call(self, z):
        x = pixel_norm(z)
        for layer in self.dense_layers:
            x = layer(x)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "num_layers": self.num_layers,
                "lr_multiplier": self.lr_multiplier}
