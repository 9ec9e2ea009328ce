"""ViTGAN models: Generator, Discriminator and their configuration."""

from vitgan_tf.models.config import PRESETS, ViTGANConfig, get_config
from vitgan_tf.models.discriminator import Discriminator
from vitgan_tf.models.generator import Generator

__all__ = ["Discriminator", "Generator", "PRESETS", "ViTGANConfig", "get_config"]
