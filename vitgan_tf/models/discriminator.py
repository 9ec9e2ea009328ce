"""The ViTGAN discriminator."""

import keras
from keras import ops

from vitgan_tf.layers import (
    DiscriminatorBlock,
    MinibatchStdDev,
    OverlappingPatchEmbedding,
    wrap_spectral_norm,
)
from vitgan_tf.models.base import LogitModel
from vitgan_tf.models.config import get_config
from vitgan_tf.models.stylegan2_discriminator import StyleGAN2Discriminator


def make_discriminator(config, **kwargs):
    """The discriminator that the config's d_arch names: `Discriminator` (ViT, "vit") or
    `StyleGAN2Discriminator` ("stylegan2"). kwargs go to its constructor (dtype, name)."""
    config = get_config(config)
    cls = StyleGAN2Discriminator if config.d_arch == "stylegan2" else Discriminator
    return cls(config, **kwargs)


@keras.saving.register_keras_serializable(package="vitgan_tf")
class Discriminator(LogitModel):
    """ViTGAN discriminator: image -> one logit (Lee et al. 2022, sec. 4.1).

    Overlapping patch tokens plus a CLS token, pre-norm blocks with L2 attention (tied
    W_q = W_k), improved spectral normalization on every linear map, and a linear ISN head on
    LN(h_N[CLS]). The logit has no activation: the losses apply softplus themselves. The
    config's d_norm, d_attention and d_overlapping_patches switch parts off for ablations.
    A conditional model (`num_classes > 0`) adds <e(y), f> to the logit, f being the head's
    input and e(y) a row of a class matrix under the same spectral norm (d_norm) as the head.

    Args:
        config: a `ViTGANConfig`, a preset name or a dict.

    Call arguments:
        images: (batch, image_size, image_size, channels) in [-1, 1].
        training: advances every ISN power iteration.
        labels: (batch,) int class ids; required iff the model is conditional.

    Returns: (batch, 1) float32 logits.
    """

    def __init__(self, config="32", **kwargs):
        super().__init__(**kwargs)
        self.vitgan_config = cfg = get_config(config)
        policy = self.dtype_policy
        sn = cfg.d_norm
        self.patch_embedding = OverlappingPatchEmbedding(
            cfg.d_patch_size, cfg.d_hidden_dim, spectral_norm=sn, omega_0=cfg.omega_0,
            overlapping=cfg.d_overlapping_patches, dtype=policy, name="patch_embedding")
        self.blocks = [
            DiscriminatorBlock(cfg.d_num_heads, cfg.d_hidden_dim // cfg.d_num_heads,
                               cfg.d_mlp_dim, spectral_norm=sn,
                               qk_init_std=cfg.d_qk_init_std, attention=cfg.d_attention,
                               dtype=policy, name=f"block_{i}")
            for i in range(cfg.d_depth)]
        # float32: float16 variances underflow.
        self.final_norm = keras.layers.LayerNormalization(epsilon=1e-5, dtype="float32",
                                                          name="final_ln")
        group = cfg.mbstd_group("vit")
        self.mbstd = MinibatchStdDev(group, dtype=policy, name="mbstd") if group else None
        head = keras.layers.Dense(1, dtype=policy, name="head")
        self.head = wrap_spectral_norm(head, sn, "head_isn")
        if cfg.num_classes:
            embedding = keras.layers.Dense(self._feature_dim, use_bias=False, dtype=policy,
                                           name="class_embedding")
            self.class_embedding = wrap_spectral_norm(embedding, sn, "class_embedding_isn")
        self.build((None, cfg.image_size, cfg.image_size, self.input_channels))

    def build(self, input_shape):
        cfg = self.vitgan_config
        self.patch_embedding.build(input_shape)
        tokens_shape = (None, cfg.d_grid_size**2 + 1, cfg.d_hidden_dim)
        for block in self.blocks:
            block.build(tokens_shape)
        self.final_norm.build((None, cfg.d_hidden_dim))
        if self.mbstd is not None:
            self.mbstd.build(tokens_shape)
        self.head.build((None, self._feature_dim))
        if cfg.num_classes:
            self.class_embedding.build((None, cfg.num_classes))
        self.build_clusters(self._feature_dim)
        self.built = True

    @property
    def _feature_dim(self):
        return self.vitgan_config.d_hidden_dim + (self.mbstd is not None)

    def features(self, images, training=False):
        """The head's input f: LN(h_N[CLS]), and the minibatch stddev where it is on."""
        h = self.patch_embedding(ops.cast(self.pack(images), self.compute_dtype),
                                 training=training)
        for block in self.blocks:
            h = block(h, training=training)
        features = self.final_norm(h[:, 0])
        if self.mbstd is not None:
            stddev = self.mbstd(h)[:, 0, -1:]  # the same value on every token
            features = ops.concatenate([features, ops.cast(stddev, features.dtype)], axis=-1)
        return features

    def call(self, images, training=False, labels=None):
        features = self.features(images, training=training)
        logits = ops.cast(self.head(features, training=training), "float32")
        projected = self.projection(features, labels, training=training)
        if projected is not None:  # summed in float32 (features are float32 in the ViT D)
            logits = logits + ops.cast(projected, "float32")
        return logits
