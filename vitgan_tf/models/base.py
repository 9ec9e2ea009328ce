"""What the discriminators share: one logit per image, the class projection of conditional
models, and a config that is the model config."""

import keras
from keras import ops


class LogitModel(keras.Model):
    """Base of the discriminators: (batch, H, W, C) images -> (batch, 1) logits, serialized as
    their `ViTGANConfig` (`self.vitgan_config`); with `d_pack = m > 1`, (batch / m, 1): one
    logit per pack of m consecutive images (`pack`).

    A conditional discriminator (`num_classes > 0`) adds the projection term of Miyato & Koyama
    (2018) to its logit: logit = head(h) + <e(y), h> * scale, e(y) being row y of a learned
    (num_classes, dim(h)) matrix, h the final feature vector. Subclasses make the embedding
    (`self.class_embedding`, a layer mapping one-hot y to e(y)) and call `projection`.
    """

    def compute_output_shape(self, input_shape):
        batch = input_shape[0]
        return (None if batch is None else batch // self.vitgan_config.d_pack, 1)

    @property
    def input_channels(self):
        """Channels of what the layers see: the image's, times the pack size."""
        return self.vitgan_config.channels * self.vitgan_config.d_pack

    def pack(self, images):
        """PacGAN's packing: (batch, H, W, C) -> (batch / m, H, W, m * C), images
        m * i ... m * i + m - 1 stacked along the channels (m = config.d_pack)."""
        m = self.vitgan_config.d_pack
        if m == 1:
            return images
        _, height, width, channels = images.shape
        x = ops.reshape(images, (-1, m, height, width, channels))
        x = ops.transpose(x, (0, 2, 3, 1, 4))
        return ops.reshape(x, (-1, height, width, m * channels))

    @property
    def num_classes(self):
        return self.vitgan_config.num_classes

    def projection(self, features, labels, scale=1.0, **call_kwargs):
        """<e(y), h> * scale, (batch, 1), for a conditional model; None for an unconditional
        one. `labels` is required iff the model is conditional."""
        if not self.num_classes:
            if labels is not None:
                raise ValueError(f"{type(self).__name__} is unconditional: `labels` must be "
                                 "None.")
            return None
        if labels is None:
            raise ValueError(f"{type(self).__name__} is conditional ({self.num_classes} "
                             "classes): pass `labels`.")
        onehot = ops.one_hot(ops.cast(labels, "int32"), self.num_classes, dtype=features.dtype)
        embedded = ops.cast(self.class_embedding(onehot, **call_kwargs), features.dtype)
        return ops.sum(embedded * features, axis=-1, keepdims=True) * scale

    def build_clusters(self, dim):
        """For a self-conditioned model: `cluster_centres`, (num_classes, dim) float32, the
        centres of the unit-length features of real images (`cluster_features`), set by
        training's reclustering and saved with the discriminator's weights."""
        if self.vitgan_config.self_conditioned:
            self.cluster_centres = self.add_weight(
                name="cluster_centres", shape=(self.num_classes, dim), initializer="zeros",
                trainable=False, dtype="float32")

    def cluster_features(self, images):
        """`features(images)` in float32, scaled to unit length: what the clusters group."""
        f = ops.cast(self.features(images), "float32")
        return f / ops.maximum(ops.sqrt(ops.sum(f * f, axis=-1, keepdims=True)), 1e-12)

    def clusters(self, images):
        """The nearest cluster centre (Euclidean) of each image's `cluster_features`: int32
        (batch,), argmax_c <f, c_c> - |c_c|^2 / 2."""
        f = self.cluster_features(images)
        centres = self.cluster_centres
        score = ops.matmul(f, ops.transpose(centres)) - 0.5 * ops.sum(centres * centres, axis=-1)
        return ops.cast(ops.argmax(score, axis=-1), "int32")

    def get_config(self):
        base = super().get_config()
        base.pop("trainable", None)
        return {**base, "config": self.vitgan_config.to_dict()}
