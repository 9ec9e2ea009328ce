"""ViTGAN's Keras layers, one family per module."""

from vitgan_tf.layers.attention import L2Attention
from vitgan_tf.layers.equalized import EqualizedDense, MappingNetwork, pixel_norm
from vitgan_tf.layers.patches import OverlappingPatchEmbedding, patchify, stitch_patches
from vitgan_tf.layers.siren import (
                                    ImplicitPatchDecoder,
                                    ModulatedDense,
                                    SinePositionEmbedding,
                                    coordinate_grid,
)
from vitgan_tf.layers.sln import SelfModulatedLayerNorm
from vitgan_tf.layers.spectral_norm import ImprovedSpectralNorm
from vitgan_tf.layers.transformer import DiscriminatorBlock, GeneratorBlock

__all__ = [
    "DiscriminatorBlock", "EqualizedDense", "GeneratorBlock", "ImplicitPatchDecoder",
    "ImprovedSpectralNorm", "L2Attention", "MappingNetwork", "ModulatedDense",
    "OverlappingPatchEmbedding", "SelfModulatedLayerNorm", "SinePositionEmbedding",
    "coordinate_grid", "patchify", "pixel_norm", "stitch_patches",
]
