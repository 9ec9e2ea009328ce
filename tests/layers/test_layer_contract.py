"""Every layer of vitgan_tf.layers through `run_layer_test` (config JSON, shapes, weights, a
training step). The per-layer files test the formulas and properties."""

import inspect

import keras
import pytest

from tests.helpers import run_layer_test
from vitgan_tf import layers as L

D = 8  # token width
# name: (class, init kwargs, input shapes, output shape, trainable, non-trainable weights)
CASES = {
    "SelfModulatedLayerNorm": (L.SelfModulatedLayerNorm, {}, ((None, 5, D), (None, 6)),
                               (None, 5, D), 4, 0),
    "L2Attention": (L.L2Attention, {"num_heads": 2, "key_dim": 4}, ((None, 5, D),),
                    (None, 5, D), 6, 6),
    "L2Attention/no_sn": (L.L2Attention, {"num_heads": 2, "key_dim": 4,
                                          "spectral_norm": "none"},
                          ((None, 5, D),), (None, 5, D), 6, 0),
    "DotProductAttention": (L.DotProductAttention, {"num_heads": 2, "key_dim": 4},
                            ((None, 5, D),), (None, 5, D), 8, 8),
    "EqualizedDense": (L.EqualizedDense, {"units": 6, "lr_multiplier": 0.1},
                       ((None, D),), (None, 6), 2, 0),
    "MappingNetwork": (L.MappingNetwork, {"units": D, "num_layers": 3},
                       ((None, D),), (None, D), 6, 0),
    "OverlappingPatchEmbedding": (L.OverlappingPatchEmbedding, {"patch_size": 4, "hidden_dim": D},
                                  ((None, 16, 16, 3),), (None, 17, D), 6, 2),
    "OverlappingPatchEmbedding/kernel_p": (
        L.OverlappingPatchEmbedding,
        {"patch_size": 4, "hidden_dim": D, "overlapping": False, "spectral_norm": "sn"},
        ((None, 16, 16, 3),), (None, 17, D), 6, 2),
    "SinePositionEmbedding": (L.SinePositionEmbedding, {"grid_size": 3, "units": D}, (),
                              (1, 9, D), 2, 0),
    "ModulatedDense": (L.ModulatedDense, {"units": 5, "activation": "sine"},
                       ((9, 4), (None, 3, 6)), (None, 3, 9, 5), 4, 0),
    "ImplicitPatchDecoder": (L.ImplicitPatchDecoder,
                             {"patch_size": 3, "channels": 2, "hidden_units": 8},
                             ((None, 4, 6),), (None, 4, 9, 2), 2 + 3 * 4, 0),
    "LinearPatchDecoder": (L.LinearPatchDecoder, {"patch_size": 3, "channels": 2},
                           ((None, 4, 6),), (None, 4, 9, 2), 2, 0),
    "GeneratorBlock": (L.GeneratorBlock, {"num_heads": 2, "key_dim": 4, "mlp_dim": 16},
                       ((None, 5, D), (None, 6)), (None, 5, D), 8 + 8 + 4, 0),
    "GeneratorBlock/unmodulated": (
        L.GeneratorBlock, {"num_heads": 2, "key_dim": 4, "mlp_dim": 16, "modulated": False},
        ((None, 5, D), (None, 6)), (None, 5, D), 4 + 8 + 4, 0),
    "EqualizedConv2D": (L.EqualizedConv2D, {"filters": 5, "activation": "leaky_relu"},
                        ((None, 8, 8, 3),), (None, 8, 8, 5), 2, 0),
    "EqualizedConv2D/down": (L.EqualizedConv2D, {"filters": 5, "down": True, "use_bias": False},
                             ((None, 8, 8, 3),), (None, 4, 4, 5), 1, 0),
    "ResidualDownBlock": (L.ResidualDownBlock, {"filters": 6}, ((None, 8, 8, 3),),
                          (None, 4, 4, 6), 5, 0),
    "DiscriminatorBlock": (L.DiscriminatorBlock, {"num_heads": 2, "key_dim": 4, "mlp_dim": 16},
                           ((None, 5, D),), (None, 5, D), 4 + 6 + 4, 10),
    "DiscriminatorBlock/dot_plain_sn": (
        L.DiscriminatorBlock, {"num_heads": 2, "key_dim": 4, "mlp_dim": 16,
                               "spectral_norm": "sn", "attention": "dot"},
        ((None, 5, D),), (None, 5, D), 4 + 8 + 4, 12),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_contract(name):
    layer_cls, kwargs, inputs, output, trainable, non_trainable = CASES[name]
    run_layer_test(layer_cls, kwargs, inputs, output, trainable, non_trainable)


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_spectral_norm_wrapper_contract(kind):
    # A wrapper takes a layer, not plain kwargs: the inner layer goes through the config too.
    if kind == "dense":
        inner, inputs, output = keras.layers.Dense(6), ((None, D),), (None, 6)
    else:
        inner = keras.layers.Conv2D(4, 4, strides=2, padding="same")
        inputs, output = ((None, 8, 8, 3),), (None, 4, 4, 4)

    for kwargs in ({}, {"mode": "sn", "power_iterations": 2}):
        def factory(kwargs=kwargs):
            fresh = keras.layers.deserialize(keras.layers.serialize(inner))
            return L.ImprovedSpectralNorm(fresh, **kwargs)

        run_layer_test(L.ImprovedSpectralNorm, None, inputs, output, 2, 2, factory=factory)


def test_every_layer_is_covered():
    classes = {c for _, c in inspect.getmembers(L, inspect.isclass)
               if issubclass(c, keras.layers.Layer)}
    # ImprovedSpectralNorm: the wrapper test above; MinibatchStdDev (no weights): test_conv.py.
    covered = {case[0] for case in CASES.values()} | {L.ImprovedSpectralNorm, L.MinibatchStdDev}
    assert classes - covered == set()
