"""FusedAdam: Keras' Adam in one kernel per variable."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from vitgan_tf.optimizers import FusedAdam

SHAPES = [(3, 4), (5,), (2, 2, 3)]


def _adam_reference(weights, grads_per_step, lr, beta_1, beta_2, epsilon):
    """Adam as Keras writes it (epsilon outside the square root, bias correction in lr)."""
    weights = [w.astype(np.float64) for w in weights]
    m = [np.zeros_like(w) for w in weights]
    v = [np.zeros_like(w) for w in weights]
    for t, grads in enumerate(grads_per_step, start=1):
        alpha = lr * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
        for i, g in enumerate(grads):
            m[i] += (g - m[i]) * (1 - beta_1)
            v[i] += (g * g - v[i]) * (1 - beta_2)
            weights[i] -= alpha * m[i] / (np.sqrt(v[i]) + epsilon)
    return weights


def _train(optimizer, weights, grads_per_step):
    variables = [keras.Variable(w) for w in weights]

    @tf.function
    def step(grads):
        optimizer.apply(grads, variables)

    for grads in grads_per_step:
        step([tf.constant(g, tf.float32) for g in grads])
    return [v.numpy() for v in variables], step


@pytest.mark.parametrize("beta_1,beta_2,lr", [(0.0, 0.99, 5e-4), (0.5, 0.9, 1e-2)])
def test_fused_adam_is_adam(beta_1, beta_2, lr):
    rng = np.random.default_rng(0)
    weights = [rng.normal(size=s).astype("float32") for s in SHAPES]
    grads = [[rng.normal(size=s).astype("float32") for s in SHAPES] for _ in range(6)]
    fused, _ = _train(FusedAdam(lr, beta_1=beta_1, beta_2=beta_2), weights, grads)
    keras_adam, _ = _train(keras.optimizers.Adam(lr, beta_1=beta_1, beta_2=beta_2), weights,
                           grads)
    reference = _adam_reference(weights, grads, lr, beta_1, beta_2, 1e-7)
    for a, b, ref in zip(fused, keras_adam, reference):
        np.testing.assert_allclose(a, ref, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert not np.allclose(fused[0], weights[0])  # it moved


def test_fused_adam_launches_one_update_op_per_variable():
    """What it exists for: a step of far fewer graph ops than Keras' Adam."""
    rng = np.random.default_rng(1)
    weights = [rng.normal(size=(4, 4)).astype("float32") for _ in range(20)]
    grads = [[np.ones((4, 4), "float32")] * 20]

    def ops(optimizer):
        _, step = _train(optimizer, weights, grads)
        graph = step.get_concrete_function(
            [tf.TensorSpec((4, 4), tf.float32)] * 20).graph
        return [op.type for op in graph.get_operations()]

    fused, plain = ops(FusedAdam(1e-3)), ops(keras.optimizers.Adam(1e-3))
    assert fused.count("ResourceApplyAdam") == 20
    assert len(fused) < len(plain) / 3, (len(fused), len(plain))


def test_options_adam_computes_otherwise_fall_back_to_keras():
    rng = np.random.default_rng(2)
    weights = [rng.normal(size=s).astype("float32") for s in SHAPES]
    grads = [[rng.normal(size=s).astype("float32") for s in SHAPES] for _ in range(3)]
    fused, _ = _train(FusedAdam(1e-2, amsgrad=True, weight_decay=0.1), weights, grads)
    plain, _ = _train(keras.optimizers.Adam(1e-2, amsgrad=True, weight_decay=0.1), weights,
                      grads)
    for a, b in zip(fused, plain):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_fused_adam_round_trips_its_config():
    opt = FusedAdam(3e-4, beta_1=0.1, beta_2=0.95)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(opt))
    assert isinstance(clone, FusedAdam)
    assert (clone.beta_1, clone.beta_2) == (0.1, 0.95)
