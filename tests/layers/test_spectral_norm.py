import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import reference as ref
from tests.helpers import assert_mixed_precision, assert_roundtrip, randn
from vitgan_tf.layers import ImprovedSpectralNorm


def _sigma(kernel):
    return np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]


LAYERS = {
    "dense": (lambda: keras.layers.Dense(6), (4, 5)),
    "conv": (lambda: keras.layers.Conv2D(4, 4, strides=2, padding="same"), (2, 8, 8, 3)),
    "einsum": (lambda: keras.layers.EinsumDense("abc,cde->abde", output_shape=(None, 2, 3),
                                                bias_axes="de"), (2, 3, 5)),
}


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_sigma_init_is_exact_and_effective_kernel_starts_raw(kind):
    make, shape = LAYERS[kind]
    layer = ImprovedSpectralNorm(make())
    layer.build(shape)
    kernel = layer.layer.kernel.numpy()
    assert float(layer.sigma_init.numpy()) == pytest.approx(_sigma(kernel), rel=1e-6)
    np.testing.assert_allclose(np.asarray(layer.normalized_kernel()), kernel, rtol=1e-5,
                               atol=1e-7)


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_output_matches_numpy(kind):
    make, shape = LAYERS[kind]
    layer = ImprovedSpectralNorm(make())
    x = randn(*shape)
    layer(x)
    layer.layer.kernel.assign(layer.layer.kernel * 3.0 + randn(*layer.layer.kernel.shape) * 0.1)
    kernel_bar = ref.isn_kernel(ref.w(layer.layer.kernel), ref.w(layer.u),
                                float(layer.sigma_init.numpy()))
    # The wrapped layer with the normalized kernel is the reference computation.
    plain = make()
    plain.build(shape)
    plain.set_weights([kernel_bar.astype("float32"), layer.layer.bias.numpy()])
    np.testing.assert_allclose(np.asarray(layer(x)), np.asarray(plain(x)), rtol=1e-4, atol=1e-5)


def test_sigma_stays_at_init_after_the_kernel_grows():
    layer = ImprovedSpectralNorm(keras.layers.Dense(16))
    x = randn(4, 24)
    layer(x)
    sigma_init = float(layer.sigma_init.numpy())
    raw = layer.layer.kernel.numpy() * 5.0 + randn(24, 16, seed=9) * 0.3
    layer.layer.kernel.assign(raw)
    for _ in range(20):
        layer(x, training=True)
    effective = np.asarray(layer.normalized_kernel())
    assert _sigma(raw) > 3 * sigma_init
    assert _sigma(effective) == pytest.approx(sigma_init, rel=1e-3)
    # The trainable kernel is never overwritten.
    np.testing.assert_array_equal(layer.layer.kernel.numpy(), raw)


def test_u_advances_only_in_training_and_is_checkpointed(tmp_path):
    layer = ImprovedSpectralNorm(keras.layers.Dense(8))
    x = randn(3, 6)
    layer(x)
    layer.layer.kernel.assign(randn(6, 8, seed=4))
    u0 = layer.u.numpy().copy()
    layer(x)
    np.testing.assert_array_equal(layer.u.numpy(), u0)
    layer(x, training=True)
    u1 = layer.u.numpy().copy()
    assert not np.allclose(u1, u0)
    layer(x, training=True)
    assert not np.allclose(layer.u.numpy(), u1)
    # The power iteration continues from the stored u: one numpy step from u1 gives it.
    _, expected_u = ref.power_iteration_sigma(ref.w(layer.layer.kernel), u1.astype(np.float64))
    np.testing.assert_allclose(layer.u.numpy(), expected_u, rtol=1e-4, atol=1e-6)

    path = tf.train.Checkpoint(layer=layer).write(str(tmp_path / "ckpt"))
    restored = ImprovedSpectralNorm(keras.layers.Dense(8))
    restored.build((None, 6))
    tf.train.Checkpoint(layer=restored).read(path).assert_consumed()
    np.testing.assert_array_equal(restored.u.numpy(), layer.u.numpy())
    np.testing.assert_array_equal(restored.sigma_init.numpy(), layer.sigma_init.numpy())


def test_gradients_reach_the_raw_kernel_and_u_is_not_trainable():
    layer = ImprovedSpectralNorm(keras.layers.Dense(4))
    x = randn(3, 5)
    layer(x)
    assert {v.name for v in layer.trainable_weights} == {"kernel", "bias"}
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x, training=True) ** 2)
    grads = tape.gradient(loss, layer.trainable_weights)
    assert all(g is not None and np.abs(g.numpy()).sum() > 0 for g in grads)


def test_compiles_with_xla():
    layer = ImprovedSpectralNorm(keras.layers.Dense(4))
    x = randn(3, 5)
    layer(x)
    layer.layer.kernel.assign(layer.layer.kernel * 2.0)
    step = tf.function(lambda t: layer(t, training=True), jit_compile=True)
    eager = np.asarray(ImprovedSpectralNorm.call(layer, x, training=False))
    np.testing.assert_allclose(np.asarray(step(x)), eager, rtol=1e-4, atol=1e-5)


def test_building_inside_tf_function_is_a_clear_error():
    layer = ImprovedSpectralNorm(keras.layers.Dense(4))
    with pytest.raises(RuntimeError, match="eagerly"):
        tf.function(lambda t: layer(t))(randn(2, 3))


def test_serialization_and_mixed_precision():
    x = randn(3, 5)
    assert_roundtrip(ImprovedSpectralNorm(keras.layers.Dense(4), power_iterations=2), x)

    def factory(dtype):
        return ImprovedSpectralNorm(keras.layers.Dense(4, dtype=dtype), dtype=dtype)

    assert_mixed_precision(factory, x)


def test_bad_arguments():
    with pytest.raises(ValueError, match="Dense, EinsumDense or Conv2D"):
        ImprovedSpectralNorm(keras.layers.LayerNormalization())
    with pytest.raises(ValueError, match="power_iterations"):
        ImprovedSpectralNorm(keras.layers.Dense(3), power_iterations=0)


def test_plain_mode_normalizes_to_sigma_one():
    # Miyato et al.'s SN, for the ablation: sigma(W_bar) = 1 whatever sigma(W) and sigma(W_init).
    layer = ImprovedSpectralNorm(keras.layers.Dense(16), mode="sn")
    x = randn(4, 24)
    layer(x)
    assert float(layer.sigma_init.numpy()) == 1.0
    assert _sigma(np.asarray(layer.normalized_kernel())) == pytest.approx(1.0, rel=1e-5)
    raw = layer.layer.kernel.numpy() * 5.0 + randn(24, 16, seed=9) * 0.3
    layer.layer.kernel.assign(raw)
    for _ in range(20):
        layer(x, training=True)
    assert _sigma(raw) > 2.0
    assert _sigma(np.asarray(layer.normalized_kernel())) == pytest.approx(1.0, rel=1e-3)
    kernel_bar = ref.isn_kernel(raw.astype(np.float64), ref.w(layer.u), 1.0)
    np.testing.assert_allclose(np.asarray(layer(x)), x @ kernel_bar + ref.w(layer.layer.bias),
                               rtol=1e-4, atol=1e-5)
    clone = assert_roundtrip(layer, x)
    assert clone.mode == "sn"


def test_wrap_spectral_norm_modes():
    from vitgan_tf.layers import wrap_spectral_norm

    dense = keras.layers.Dense(3)
    assert wrap_spectral_norm(dense, "none", "n") is dense
    # One spelling (isn/sn/none) everywhere: the old True/"improved"/"plain"/False are refused.
    for old in (True, False, None, "improved", "plain"):
        with pytest.raises(ValueError, match="spectral_norm"):
            wrap_spectral_norm(keras.layers.Dense(3), old, "n")
    assert wrap_spectral_norm(keras.layers.Dense(3), "isn", "n").mode == "isn"
    assert wrap_spectral_norm(keras.layers.Dense(3), "sn", "n").mode == "sn"
    with pytest.raises(ValueError, match="mode"):
        ImprovedSpectralNorm(keras.layers.Dense(3), mode="unit")
