import numpy as np
import tensorflow as tf

from vitgan_tf import losses


def _softplus(x):
    return np.log1p(np.exp(x))


def test_gan_losses_against_hand_computed_values():
    real, fake = np.array([[2.0], [-1.0]]), np.array([[0.5], [-3.0]])
    np.testing.assert_allclose(losses.discriminator_loss(real, fake).numpy(),
                               _softplus(fake[:, 0]) + _softplus(-real[:, 0]), rtol=1e-6)
    np.testing.assert_allclose(losses.discriminator_loss([[0.0]], [[0.0]]).numpy(),
                               [2 * np.log(2)], rtol=1e-6)
    np.testing.assert_allclose(losses.generator_loss(fake).numpy(), _softplus(-fake[:, 0]),
                               rtol=1e-6)


def test_consistency_loss():
    np.testing.assert_allclose(losses.consistency_loss([[1.0], [2.0]], [[0.5], [4.0]]).numpy(),
                               [0.25, 4.0])


def test_r1_penalty_of_a_linear_critic():
    # D(x) = sum(a * x): the gradient is a, so R1 = ||a||^2 for every example.
    a = tf.constant(np.random.default_rng(0).standard_normal((1, 4, 4, 3)), tf.float32)
    images = tf.zeros((2, 4, 4, 3))
    r1 = losses.r1_penalty(lambda x: tf.reduce_sum(a * x, axis=[1, 2, 3]), images).numpy()
    np.testing.assert_allclose(r1, [np.sum(a.numpy() ** 2)] * 2, rtol=1e-5)


def test_relativistic_pairing_losses():
    # RpGAN scores each pair by the difference of its logits, not by a global threshold.
    real, fake = np.array([[2.0], [-1.0]]), np.array([[0.5], [-3.0]])
    np.testing.assert_allclose(losses.relativistic_discriminator_loss(real, fake).numpy(),
                               _softplus(fake[:, 0] - real[:, 0]), rtol=1e-6)
    np.testing.assert_allclose(losses.relativistic_generator_loss(real, fake).numpy(),
                               _softplus(real[:, 0] - fake[:, 0]), rtol=1e-6)
    # Shifting every logit by a constant changes nothing: only the ranking within a pair counts.
    np.testing.assert_allclose(losses.relativistic_discriminator_loss(real + 7, fake + 7),
                               losses.relativistic_discriminator_loss(real, fake), rtol=1e-6)
