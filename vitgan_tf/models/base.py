"""What the discriminators share: one logit per image and a config that is the model config."""

import keras


class LogitModel(keras.Model):
    """Base of the discriminators: (batch, H, W, C) images -> (batch, 1) logits, serialized as
    their `ViTGANConfig` (`self.vitgan_config`)."""

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)

    def get_config(self):
        base = super().get_config()
        base.pop("trainable", None)
        return {**base, "config": self.vitgan_config.to_dict()}
