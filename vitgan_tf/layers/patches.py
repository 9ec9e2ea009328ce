"""Patch (un)folding and the discriminator's overlapping patch embedding."""

import keras
from keras import ops

from vitgan_tf.layers.siren import SinePositionEmbedding
from vitgan_tf.layers.spectral_norm import wrap_spectral_norm


def patchify(images, patch_size):
    """(B, H, W, C) -> (B, (H/P)*(W/P), P*P, C); patches and pixels row-major."""
    b, h, w, c = ops.shape(images)
    gh, gw = h // patch_size, w // patch_size
    x = ops.reshape(images, (b, gh, patch_size, gw, patch_size, c))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (b, gh * gw, patch_size * patch_size, c))


def stitch_patches(patches, grid_size):
    """(B, G*G, P*P, C) -> (B, G*P, G*P, C): the inverse of `patchify` on a square grid.

    A plain reshape to (B, H, W, C) would interleave patches; the patch and pixel axes must be
    swapped first.
    """
    b, _, pp, c = ops.shape(patches)
    p = int(round(pp**0.5))
    x = ops.reshape(patches, (b, grid_size, grid_size, p, p, c))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (b, grid_size * p, grid_size * p, c))


@keras.saving.register_keras_serializable(package="vitgan_tf")
class OverlappingPatchEmbedding(keras.layers.Layer):
    """Overlapping patch tokens with a CLS token and sine position embedding.

    Each P x P patch is extended by P/2 pixels on every side, i.e. a convolution of kernel 2P,
    stride P and 'same' padding, giving (H/P)*(W/P) tokens that each see a 2P x 2P window
    (Lee et al. 2022, ViTGAN, sec. 4.1: overlap keeps the discriminator from memorizing local
    cues of a fixed grid). h0 = [x_cls; tokens] + [e_cls; E_pos] with E_pos the sine embedding of
    the patch grid and e_cls a learned vector.

    Args:
        patch_size: P.
        hidden_dim: token size D.
        spectral_norm: "isn" (improved), "sn" (plain, sigma = 1) or "none".
        omega_0: frequency scale of the position embedding.
        overlapping: kernel 2P (True, the paper's) or P (False: plain ViT patches, for the
            ablation).

    Call arguments:
        images: (batch, H, W, C) with H = W divisible by P.

    Returns: (batch, 1 + (H/P)**2, D); token 0 is CLS.
    """

    def __init__(self, patch_size, hidden_dim, spectral_norm="isn", omega_0=30.0,
                 overlapping=True, **kwargs):
        super().__init__(**kwargs)
        if patch_size < 1 or hidden_dim < 1:
            raise ValueError(
                f"`patch_size` and `hidden_dim` must be positive, got {patch_size}, {hidden_dim}.")
        self.patch_size = patch_size
        self.hidden_dim = hidden_dim
        self.spectral_norm = spectral_norm
        self.omega_0 = omega_0
        self.overlapping = overlapping

    def build(self, input_shape):
        _, h, w, _ = input_shape
        if h != w or h % self.patch_size:
            raise ValueError(
                f"OverlappingPatchEmbedding needs square images whose side is divisible by "
                f"patch_size={self.patch_size}, got {h}x{w}.")
        self.grid_size = h // self.patch_size
        kernel = (2 if self.overlapping else 1) * self.patch_size
        conv = keras.layers.Conv2D(self.hidden_dim, kernel, strides=self.patch_size,
                                   padding="same", kernel_initializer="lecun_normal",
                                   dtype=self.dtype_policy, name="projection")
        self.projection = wrap_spectral_norm(conv, self.spectral_norm, "projection_isn")
        self.projection.build(input_shape)
        self.position = SinePositionEmbedding(self.grid_size, self.hidden_dim,
                                              omega_0=self.omega_0, dtype="float32",
                                              name="position")
        self.position.build()
        init = keras.initializers.TruncatedNormal(stddev=0.02)
        self.cls_token = self.add_weight(name="cls_token", shape=(1, 1, self.hidden_dim),
                                         initializer=init)
        self.cls_position = self.add_weight(name="cls_position", shape=(1, 1, self.hidden_dim),
                                            initializer=init)

    def call(self, images, training=False):
        x = self.projection(images, training=training)
        b = ops.shape(x)[0]
        x = ops.reshape(x, (b, self.grid_size**2, self.hidden_dim))
        x = x + ops.cast(self.position(), x.dtype)
        cls = ops.cast(self.cls_token + self.cls_position, x.dtype)
        cls = ops.broadcast_to(cls, (b, 1, self.hidden_dim))
        return ops.concatenate([cls, x], axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1 + (input_shape[1] // self.patch_size) ** 2, self.hidden_dim)

    def get_config(self):
        return {**super().get_config(), "patch_size": self.patch_size,
                "hidden_dim": self.hidden_dim, "spectral_norm": self.spectral_norm,
                "omega_0": self.omega_0, "overlapping": self.overlapping}
