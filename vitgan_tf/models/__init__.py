"""ViTGAN models: Generator, Discriminator, the ViTGAN training model and their config."""

from vitgan_tf.models.config import PRESETS, ViTGANConfig, get_config
from vitgan_tf.models.discriminator import Discriminator, make_discriminator
from vitgan_tf.models.gan import ViTGAN
from vitgan_tf.models.generator import Generator
from vitgan_tf.models.stylegan2_discriminator import StyleGAN2Discriminator

__all__ = ["Discriminator", "Generator", "PRESETS", "StyleGAN2Discriminator", "ViTGAN",
           "ViTGANConfig", "get_config", "make_discriminator"]
