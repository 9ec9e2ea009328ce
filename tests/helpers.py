"""What the tests share: the repository root, the tiny training run, running a CLI, and the
assertions every layer test makes."""

import contextlib
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The tiny run: 4 steps of batch 4 on one fixed 16x16 batch, a checkpoint every 2 steps. It
# tests runs (checkpoints, resume, signals, the CLIs), so it trains with one augmentation and no
# bCR: a third less time per run than the default four policies and bCR, which
# tests/models/test_gan.py trains through `fit` and checks against the plain algorithm.
LIGHT_TRAINING = dict(augment_policy="translation", bcr_real=0.0, bcr_fake=0.0)
TINY_RUN = dict(preset="tiny", batch_size=4, total_steps=4, log_every=2, checkpoint_every=2,
                sample_every=2, grid_size=4, keep_checkpoints=5, **LIGHT_TRAINING)
# The train CLI's flags for a tiny run on the digits, with the same light training.
TINY_CLI = ["--preset=tiny", "--dataset=digits",
            *(f"--{name}={value}" for name, value in LIGHT_TRAINING.items())]


def tiny_config(workdir, **changes):
    """The tiny run's TrainConfig in `workdir`, with `changes`."""
    from vitgan_tf import config

    return config.TrainConfig(**{**TINY_RUN, "workdir": str(workdir), **changes})


def tiny_images():
    """The fixed 16x16 RGB batch the tiny run trains on, as a repeating dataset."""
    import tensorflow as tf

    return tf.data.Dataset.from_tensors(np.clip(randn(4, 16, 16, 3), -1, 1)).repeat()


def run_cli(tool, *args, **kw):
    """`python -m vitgan_tf.<tool> *args` from the repository root; the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", f"vitgan_tf.{tool}", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, **kw)


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


def assert_same_uint8(actual, expected):
    """Equal up to float rounding: images drawn in another process (or graph) sum in another
    order, about 1e-6 apart, which can move a value across a .5 boundary: at most one grey
    level, on under 1% of the values. A wrong image differs by far more, almost everywhere."""
    diff = np.abs(np.asarray(actual).astype(int) - np.asarray(expected).astype(int))
    assert diff.max() <= 1 and np.mean(diff > 0) < 0.01, (diff.max(), np.mean(diff > 0))


def randn(*shape, seed=0, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype("float32")


def mixed_and_float32(model_cls, *args):
    """A mixed_float16 instance of model_cls carrying a float32 instance's weights, and that one.
    The policy is passed to the constructor, as library code does (no global policy)."""
    mixed = model_cls(*args, dtype="mixed_float16")
    ref = model_cls(*args, dtype="float32")
    mixed.set_weights(ref.get_weights())
    return mixed, ref


def run_layer_test(layer_cls, init_kwargs, input_shapes, expected_output_shape,
                   expected_num_trainable_weights, expected_num_non_trainable_weights=0,
                   training_step=True, call_kwargs=None, factory=None):
    """The contract every layer keeps (after Keras' `testing.TestCase.run_layer_test`).

    - Its config survives a JSON round trip: a layer rebuilt from the JSON has the same config.
    - A symbolic call (KerasTensors) gives the shape `compute_output_shape` gives, and both are
      `expected_output_shape` (None for the batch axis); an eager call agrees too.
    - It holds the expected numbers of trainable and non-trainable weights once built.
    - One optimizer step on mean(y^2) is finite and moves every trainable weight that gets a
      gradient, and at least one.

    `input_shapes` is a tuple of shapes, one per positional input (batch axis None), or () for
    a layer called without inputs. `factory`, for wrappers, makes a fresh layer in place of
    `layer_cls(**init_kwargs)`. Returns the eagerly called layer.
    """
    import json

    import tensorflow as tf

    call_kwargs = call_kwargs or {}
    factory = factory or (lambda: layer_cls(**init_kwargs))
    layer = factory()
    config = layer.get_config()
    rebuilt = layer_cls.from_config(json.loads(json.dumps(
        keras.saving.serialize_keras_object(layer)))["config"])
    assert rebuilt.get_config() == config, "config does not survive a JSON round trip"

    symbolic = [keras.KerasTensor(shape) for shape in input_shapes]
    sym_layer = factory()
    out = sym_layer(*symbolic, **call_kwargs)
    assert tuple(out.shape) == tuple(expected_output_shape), (out.shape, expected_output_shape)
    computed = sym_layer.compute_output_shape(*input_shapes)
    assert tuple(computed) == tuple(expected_output_shape), (computed, expected_output_shape)

    batch = 2
    inputs = [randn(*(batch if d is None else d for d in shape), seed=i)
              for i, shape in enumerate(input_shapes)]
    y = layer(*inputs, **call_kwargs)
    concrete = tuple(batch if d is None else d for d in expected_output_shape)
    assert tuple(y.shape) == concrete, (y.shape, concrete)
    assert len(layer.trainable_weights) == expected_num_trainable_weights, [
        v.path for v in layer.trainable_weights]
    assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights, [
        v.path for v in layer.non_trainable_weights]

    if training_step:
        before = [v.numpy().copy() for v in layer.trainable_weights]
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(tf.cast(
                layer(*inputs, training=True, **call_kwargs)
                if _accepts_training(layer) else layer(*inputs, **call_kwargs), "float32")))
        grads = tape.gradient(loss, layer.trainable_weights)
        assert np.isfinite(float(loss))
        keras.optimizers.SGD(0.1).apply(grads, layer.trainable_weights)
        moved = [not np.array_equal(b, v.numpy())
                 for b, v, g in zip(before, layer.trainable_weights, grads) if g is not None]
        assert moved and all(moved), [v.path for v in layer.trainable_weights]
    return layer


def _accepts_training(layer):
    import inspect

    return "training" in inspect.signature(layer.call).parameters


@contextlib.contextmanager
def tmpfs(path, options):
    """A tmpfs mounted at `path` for the `with` block (e.g. options "size=900k" for a small
    disk, "size=1m,ro" for a read-only one); skips the test where mounting is not allowed (it
    needs root with CAP_SYS_ADMIN)."""
    path.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                          capture_output=True)
    if made.returncode:
        pytest.skip("cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN)")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)
