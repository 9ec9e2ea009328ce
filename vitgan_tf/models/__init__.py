"""ViTGAN models: Generator, Discriminator, the ViTGAN training model and their config.

The models are imported on first use, so that `vitgan_tf.models.config` (the sizes and
presets) can be read without Keras or TensorFlow.
"""

import importlib

_EXPORTS = {
    "PRESETS": "config", "ViTGANConfig": "config", "get_config": "config",
    "Discriminator": "discriminator", "make_discriminator": "discriminator",
    "ViTGAN": "gan", "Generator": "generator",
    "StyleGAN2Discriminator": "stylegan2_discriminator",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
