"""The StyleGAN2 discriminator of ViTGAN's hybrid model (ViT generator, conv discriminator)."""

import keras
from keras import ops

from vitgan_tf.layers import EqualizedConv2D, EqualizedDense, MinibatchStdDev, ResidualDownBlock
from vitgan_tf.models.base import LogitModel
from vitgan_tf.models.config import get_config


def resolutions(image_size, final_size=4):
    """Resolutions of the residual blocks' inputs: halve while even and above `final_size`.

    32 -> [32, 16, 8] (ends at 4); 28 -> [28, 14] (ends at 7); 16 -> [16, 8] (ends at 4).
    """
    sizes, r = [], image_size
    while r > final_size and r % 2 == 0:
        sizes.append(r)
        r //= 2
    return sizes, r


@keras.saving.register_keras_serializable(package="vitgan_tf")
class StyleGAN2Discriminator(LogitModel):
    """StyleGAN2's residual discriminator (Karras et al. 2020, config E/F "resnet" D), as the
    ViTGAN paper pairs it with the ViT generator for its best FIDs (Lee et al. 2022, table 1).

    fromRGB (1x1 conv, leaky ReLU) at the image size; one `ResidualDownBlock` per 2x step down
    to 4x4 (or to the first odd size: 7x7 for 28x28 images); then the epilogue: minibatch
    standard deviation (`d_mbstd_group`, one channel), a 3x3 conv, a dense layer and the linear
    logit, plus, for a conditional model, the projection <e(y), f> / sqrt(dim f) on the dense
    layer's output f (e: an equalized-lr class matrix). Every conv and dense layer has
    equalized learning rate; downsampling is low-pass
    filtered with [1, 3, 3, 1]. There is no spectral normalization: pair it with R1
    (`r1_gamma`), as StyleGAN2 does. Channels start at `d_conv_channels` and double at every
    block up to `d_conv_max_channels`.

    Args:
        config: a `ViTGANConfig`, a preset name or a dict (its d_conv_* and d_mbstd_group
            fields; the ViT discriminator's fields are not used).

    Call arguments:
        images: (batch, image_size, image_size, channels) in [-1, 1].
        training: unused (no state); accepted so the GAN calls both discriminators alike.
        labels: (batch,) int class ids; required iff the model is conditional.

    Returns: (batch, 1) float32 logits.
    """

    def __init__(self, config="32", **kwargs):
        super().__init__(**kwargs)
        self.vitgan_config = cfg = get_config(config)
        policy = self.dtype_policy
        sizes, final = resolutions(cfg.image_size)
        widths = [min(cfg.d_conv_channels * 2**i, cfg.d_conv_max_channels)
                  for i in range(len(sizes) + 1)]
        self.from_rgb = EqualizedConv2D(widths[0], 1, activation="leaky_relu", dtype=policy,
                                        name="from_rgb")
        self.blocks = [ResidualDownBlock(widths[i + 1], dtype=policy, name=f"block_{i}")
                       for i in range(len(sizes))]
        group = cfg.mbstd_group("stylegan2")
        self.mbstd = (MinibatchStdDev(group, dtype=policy, name="mbstd") if group else None)
        self.conv = EqualizedConv2D(widths[-1], 3, activation="leaky_relu", dtype=policy,
                                    name="conv")
        self.dense = EqualizedDense(widths[-1], activation="leaky_relu", dtype=policy,
                                    name="dense")
        self.out = EqualizedDense(1, dtype=policy, name="out")
        if cfg.num_classes:
            self.class_embedding = EqualizedDense(widths[-1], use_bias=False, dtype=policy,
                                                  name="class_embedding")
        self.final_size = final
        self.build((None, cfg.image_size, cfg.image_size, self.input_channels))

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer in (self.from_rgb, *self.blocks):
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        if self.mbstd is not None:
            self.mbstd.build(shape)
            shape = self.mbstd.compute_output_shape(shape)
        self.conv.build(shape)
        shape = self.conv.compute_output_shape(shape)
        flat = shape[1] * shape[2] * shape[3]
        self.dense.build((None, flat))
        self.out.build((None, self.dense.units))
        if self.num_classes:
            self.class_embedding.build((None, self.num_classes))
        self.build_clusters(self.dense.units)
        self.built = True

    def features(self, images, training=False):
        """The logit layer's input f: the epilogue's dense layer's output."""
        x = self.from_rgb(ops.cast(self.pack(images), self.compute_dtype))
        for block in self.blocks:
            x = block(x)
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv(x)
        return self.dense(ops.reshape(x, (ops.shape(x)[0], -1)))

    def call(self, images, training=False, labels=None):
        features = self.features(images)
        logits = ops.cast(self.out(features), "float32")
        # 1/sqrt(dim): the inner product of two unit-scale vectors, back to unit scale.
        projected = self.projection(features, labels, scale=self.dense.units**-0.5)
        if projected is not None:  # summed in float32 (features are float32 in the ViT D)
            logits = logits + ops.cast(projected, "float32")
        return logits
