"""ViTGAN models: Generator, Discriminator, the ViTGAN training model and their config."""

from vitgan_tf.models.config import PRESETS, ViTGANConfig, get_config
from vitgan_tf.models.discriminator import Discriminator
from vitgan_tf.models.gan import ViTGAN
from vitgan_tf.models.generator import Generator

__all__ = ["Discriminator", "Generator", "PRESETS", "ViTGAN", "ViTGANConfig", "get_config"]
