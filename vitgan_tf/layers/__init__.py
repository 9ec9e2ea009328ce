"""ViTGAN's Keras layers, one family per module."""

from vitgan_tf.layers.attention import DotProductAttention, L2Attention
from vitgan_tf.layers.conv import (
                                   EqualizedConv2D,
                                   MinibatchStdDev,
                                   ResidualDownBlock,
                                   fir_filter,
)
from vitgan_tf.layers.equalized import EqualizedDense, MappingNetwork, pixel_norm
from vitgan_tf.layers.patches import OverlappingPatchEmbedding, patchify, stitch_patches
from vitgan_tf.layers.siren import (
                                    ImplicitPatchDecoder,
                                    LinearPatchDecoder,
                                    ModulatedDense,
                                    SinePositionEmbedding,
                                    coordinate_grid,
)
from vitgan_tf.layers.sln import SelfModulatedLayerNorm
from vitgan_tf.layers.spectral_norm import ImprovedSpectralNorm, wrap_spectral_norm
from vitgan_tf.layers.transformer import DiscriminatorBlock, GeneratorBlock

__all__ = [
    "coordinate_grid", "DiscriminatorBlock", "DotProductAttention", "EqualizedConv2D",
    "EqualizedDense", "fir_filter", "GeneratorBlock", "ImplicitPatchDecoder",
    "ImprovedSpectralNorm", "L2Attention", "LinearPatchDecoder", "MappingNetwork",
    "MinibatchStdDev", "ModulatedDense", "OverlappingPatchEmbedding", "patchify", "pixel_norm",
    "ResidualDownBlock", "SelfModulatedLayerNorm", "SinePositionEmbedding", "stitch_patches",
    "wrap_spectral_norm",
]
