"""StyleGAN2's discriminator layers: equalized-lr convolution, low-pass 2x downsampling,
the residual down block and the minibatch standard-deviation feature (Karras et al. 2020)."""

import math

import keras
import numpy as np
from keras import ops

# StyleGAN2's low-pass filter: the binomial [1, 3, 3, 1], separable, normalised to sum 1.
BLUR_TAPS = (1.0, 3.0, 3.0, 1.0)


def blur_kernel(channels, taps=BLUR_TAPS):
    """(k, k, channels, 1) depthwise kernel of the separable FIR filter outer(taps, taps)."""
    f = np.asarray(taps, np.float64)
    f2 = np.outer(f, f)
    f2 /= f2.sum()
    return np.tile(f2[:, :, None, None], (1, 1, channels, 1)).astype("float32")


def fir_filter(x, pad, stride=1, taps=BLUR_TAPS):
    """Zero-pad x (NHWC) by `pad` on every side and apply the FIR low-pass filter with `stride`.

    With pad 1 and stride 2 this is StyleGAN2's `downsample2d`: (H, W) -> (H/2, W/2) for even
    sizes, every output pixel a [1, 3, 3, 1]-weighted average of a 4x4 window.
    """
    channels = x.shape[-1]
    kernel = ops.cast(blur_kernel(channels, taps), x.dtype)
    x = ops.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    return ops.depthwise_conv(x, kernel, strides=stride, padding="valid")


def _lrelu(x):
    # StyleGAN's fused_lrelu: the sqrt(2) gain keeps unit-variance activations through depth.
    return ops.leaky_relu(x, negative_slope=0.2) * math.sqrt(2.0)


@keras.saving.register_keras_serializable(package="vitgan_tf")
class EqualizedConv2D(keras.layers.Layer):
    """Convolution with equalized learning rate (StyleGAN2's `Conv2dLayer`).

    y = act(conv(x, W / sqrt(k * k * C_in)) + b), W ~ N(0, 1) as stored, the scale applied at
    run time so every weight has the same effective learning rate under Adam. With `down=True`
    the input is first low-pass filtered ([1, 3, 3, 1], padded by 2 for k = 3 or 1 for k = 1)
    and the convolution runs with stride 2: (H, W) -> (H/2, W/2), without the aliasing of a
    plain strided convolution. Otherwise "same" padding keeps (H, W).

    Args:
        filters: output channels.
        kernel_size: square kernel size (odd).
        down: 2x low-pass downsampling (H and W must be even).
        use_bias: add a bias (initialised to 0).
        activation: None or "leaky_relu" (slope 0.2, times sqrt(2)).
    """

    def __init__(self, filters, kernel_size=3, down=False, use_bias=True, activation=None,
                 **kwargs):
        super().__init__(**kwargs)
        if filters < 1:
            raise ValueError(f"`filters` must be positive, got {filters}.")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"`kernel_size` must be a positive odd integer, got {kernel_size}.")
        if activation not in (None, "leaky_relu"):
            raise ValueError(f"`activation` must be None or 'leaky_relu', got {activation!r}.")
        self.filters = filters
        self.kernel_size = kernel_size
        self.down = down
        self.use_bias = use_bias
        self.activation = activation

    def build(self, input_shape):
        if self.down and any(d is not None and d % 2 for d in input_shape[1:3]):
            raise ValueError(f"{self.name}: down=True needs even height and width, got "
                             f"{tuple(input_shape)}.")
        k, c_in = self.kernel_size, input_shape[-1]
        self.kernel = self.add_weight(name="kernel", shape=(k, k, c_in, self.filters),
                                      initializer=keras.initializers.RandomNormal(stddev=1.0))
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")
        self.weight_gain = 1.0 / math.sqrt(k * k * c_in)

    def call(self, x):
        kernel = ops.cast(self.kernel * self.weight_gain, self.compute_dtype)
        if self.down:
            # upfirdn2d's padding for a k-tap conv after the 4-tap filter at stride 2.
            x = fir_filter(x, pad=(len(BLUR_TAPS) - 2 + self.kernel_size - 1) // 2)
            y = ops.conv(x, kernel, strides=2, padding="valid")
        else:
            y = ops.conv(x, kernel, strides=1, padding="same")
        if self.use_bias:
            y = y + ops.cast(self.bias, y.dtype)
        return _lrelu(y) if self.activation == "leaky_relu" else y

    def compute_output_shape(self, input_shape):
        b, h, w = input_shape[:3]
        if self.down:
            h, w = (None if h is None else h // 2), (None if w is None else w // 2)
        return (b, h, w, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": self.kernel_size, "down": self.down, "use_bias": self.use_bias,
                "activation": self.activation}


@keras.saving.register_keras_serializable(package="vitgan_tf")
class ResidualDownBlock(keras.layers.Layer):
    """StyleGAN2's residual discriminator block: (H, W, C_in) -> (H/2, W/2, filters).

    main = conv3x3_down(lrelu(conv3x3(x)))  (both with leaky ReLU, the second low-pass
    downsampled), skip = conv1x1(downsample2d(x)) (no bias, no activation), and
    y = (main + skip) / sqrt(2), which keeps the sum at the variance of each branch.

    Args:
        filters: output channels (the first conv keeps C_in, as StyleGAN2 does).
    """

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        if filters < 1:
            raise ValueError(f"`filters` must be positive, got {filters}.")
        self.filters = filters

    def build(self, input_shape):
        c_in = input_shape[-1]
        policy = self.dtype_policy
        self.conv0 = EqualizedConv2D(c_in, 3, activation="leaky_relu", dtype=policy,
                                     name="conv0")
        self.conv1 = EqualizedConv2D(self.filters, 3, down=True, activation="leaky_relu",
                                     dtype=policy, name="conv1")
        self.skip = EqualizedConv2D(self.filters, 1, down=True, use_bias=False, dtype=policy,
                                    name="skip")
        self.conv0.build(input_shape)
        self.conv1.build(input_shape)
        self.skip.build(input_shape)

    def call(self, x):
        main = self.conv1(self.conv0(x))
        return (main + self.skip(x)) * (1.0 / math.sqrt(2.0))

    def compute_output_shape(self, input_shape):
        b, h, w = input_shape[:3]
        return (b, None if h is None else h // 2, None if w is None else w // 2, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


@keras.saving.register_keras_serializable(package="vitgan_tf")
class MinibatchStdDev(keras.layers.Layer):
    """Minibatch standard-deviation feature (Karras et al. 2018; StyleGAN2's `MinibatchStdLayer`).

    The batch is split into groups of `group_size` (sample i belongs to group i mod (N / G));
    within each group, the standard deviation of every feature over its G members is taken,
    averaged over features and positions (in `num_channels` channel slices), and appended to
    every member as `num_channels` constant maps. A generator that gives similar images to a
    group gets a low value a discriminator can see: a cue against mode collapse.

    Tokens work too: a (N, T, C) input gets `num_channels` extra features per token.

    Args:
        group_size: members per group; a batch not divisible by it uses the largest divisor of
            the batch below it (the whole batch when the batch is smaller).
        num_channels: channel slices, each with its own statistic (C must be divisible by it).
        epsilon: added to the variance before the square root.
    """

    def __init__(self, group_size=4, num_channels=1, epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        if group_size < 1 or num_channels < 1:
            raise ValueError(f"`group_size` and `num_channels` must be positive, got "
                             f"{group_size}, {num_channels}.")
        self.group_size = group_size
        self.num_channels = num_channels
        self.epsilon = epsilon

    def build(self, input_shape):
        if input_shape[-1] % self.num_channels:
            raise ValueError(f"{self.name}: {input_shape[-1]} channels are not divisible by "
                             f"num_channels={self.num_channels}.")

    def _group(self, batch):
        if not isinstance(batch, int):  # Traced without a static batch: assume it divides.
            return ops.minimum(self.group_size, batch)
        return max(g for g in range(1, min(self.group_size, batch) + 1) if batch % g == 0)

    def call(self, x):
        shape = ops.shape(x)
        batch, spatial, c = shape[0], tuple(shape[1:-1]), shape[-1]
        g, f = self._group(batch), self.num_channels
        x32 = ops.cast(x, "float32")
        y = ops.reshape(x32, (g, batch // g, -1, f, c // f))           # [G, M, positions, F, c]
        y = y - ops.mean(y, axis=0, keepdims=True)
        y = ops.sqrt(ops.mean(ops.square(y), axis=0) + self.epsilon)  # [M, positions, F, c]
        y = ops.mean(y, axis=(1, 3))                                  # [M, F]
        y = ops.tile(y, (g, 1))                                       # [N, F]: i -> i mod M
        y = ops.reshape(y, (-1,) + (1,) * len(spatial) + (f,))
        y = ops.broadcast_to(y, (batch,) + spatial + (f,))
        return ops.concatenate([x, ops.cast(y, x.dtype)], axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (input_shape[-1] + self.num_channels,)

    def get_config(self):
        return {**super().get_config(), "group_size": self.group_size,
                "num_channels": self.num_channels, "epsilon": self.epsilon}
