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
    """StyleGAN mapping network: w = MLP(pixel_norm(z)), or, class-conditional,
    w = MLP(concat(pixel_norm(z), pixel_norm(embed(y)))).

    `num_layers` equalized dense layers of width `units` with leaky ReLU (slope 0.2) and a
    learning-rate multiplier of `lr_multiplier`. With `num_classes > 0` a class id y in
    [0, num_classes) picks a learned embedding of width `units` (an equalized dense layer on
    the one-hot y, learning rate multiplier 1, as StyleGAN2-ADA's); both halves are normalized
    to unit root mean square, so neither dominates the first layer, whose input is then
    z's width + `units` wide.

    Args:
        units: width of every layer, of the class embedding and of the style w.
        num_layers: number of dense layers (>= 1).
        lr_multiplier: equalized-lr multiplier of every layer but the embedding.
        num_classes: 0 (unconditional, no embedding weight) or the number of classes.

    Call arguments:
        z: (batch, z_dim) latents.
        labels: (batch,) int class ids; required iff `num_classes > 0`.
    """

    def __init__(self, units=384, num_layers=8, lr_multiplier=0.01, num_classes=0, **kwargs):
        super().__init__(**kwargs)
        if num_layers < 1:
            raise ValueError(f"`num_layers` must be at least 1, got {num_layers}.")
        if num_classes < 0:
            raise ValueError(f"`num_classes` must be >= 0, got {num_classes}.")
        self.units = units
        self.num_layers = num_layers
        self.lr_multiplier = lr_multiplier
        self.num_classes = num_classes
        if num_classes:
            self.embedding = EqualizedDense(units, dtype=self.dtype_policy, name="embedding")
        self.dense_layers = [
            EqualizedDense(units, lr_multiplier=lr_multiplier, activation="leaky_relu",
                           dtype=self.dtype_policy, name=f"dense_{i}")
            for i in range(num_layers)]

    def build(self, input_shape):
        shape = tuple(input_shape)
        if self.num_classes:
            self.embedding.build(shape[:-1] + (self.num_classes,))
            shape = shape[:-1] + (shape[-1] + self.units,)
        for layer in self.dense_layers:
            layer.build(shape)
            shape = shape[:-1] + (self.units,)

    def call(self, z, labels=None):
        x = pixel_norm(z)
        if self.num_classes:
            if labels is None:
                raise ValueError(f"This mapping network is conditional ({self.num_classes} "
                                 "classes): pass `labels`.")
            onehot = ops.one_hot(ops.cast(labels, "int32"), self.num_classes, dtype=x.dtype)
            x = ops.concatenate([x, pixel_norm(self.embedding(onehot))], axis=-1)
        elif labels is not None:
            raise ValueError("This mapping network is unconditional: `labels` must be None.")
        for layer in self.dense_layers:
            x = layer(x)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "num_layers": self.num_layers,
                "lr_multiplier": self.lr_multiplier, "num_classes": self.num_classes}
