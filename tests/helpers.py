"""Assertions shared by the tests."""

import keras
import numpy as np


def assert_roundtrip(layer, *args, **kwargs):
    """Serialize `layer` (config + weights) and check the copy computes the same output."""
    expected = np.asarray(layer(*args, **kwargs))
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    clone(*args, **kwargs)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(np.asarray(clone(*args, **kwargs)), expected, rtol=1e-5, atol=1e-6)
    return clone


def assert_mixed_precision(factory, *args, rtol=2e-2, atol=2e-2, **kwargs):
    """A mixed_float16 copy of factory(dtype) computes in float16 and agrees with float32."""
    ref = factory("float32")
    expected = np.asarray(ref(*args, **kwargs), dtype=np.float32)
    mixed = factory("mixed_float16")
    out = mixed(*args, **kwargs)
    mixed.set_weights(ref.get_weights())
    out = mixed(*args, **kwargs)
    assert mixed.compute_dtype == "float16"
    assert all(v.dtype == "float32" for v in mixed.weights)
    out = np.asarray(out, dtype=np.float32)
    assert np.all(np.isfinite(out))
    scale = np.abs(expected).max() + 1e-6
    np.testing.assert_allclose(out / scale, expected / scale, rtol=rtol, atol=atol)
    return out


def randn(*shape, seed=0, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype("float32")


def mixed_and_float32(model_cls, *args):
    """A mixed_float16 instance of model_cls carrying a float32 instance's weights, and that one.
    The policy is passed to the constructor, as library code does (no global policy)."""
    mixed = model_cls(*args, dtype="mixed_float16")
    ref = model_cls(*args, dtype="float32")
    mixed.set_weights(ref.get_weights())
    return mixed, ref
