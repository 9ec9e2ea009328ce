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


def test_mode_seeking_loss_against_numpy():
    rng = np.random.default_rng(3)
    z, images = rng.standard_normal((6, 5)), rng.uniform(-1, 1, (6, 4, 4, 1))
    ratio = np.abs(images[:3] - images[3:]).mean() / np.abs(z[:3] - z[3:]).mean()
    np.testing.assert_allclose(losses.mode_seeking_loss(z, images).numpy(), 1 / (ratio + 1e-5),
                               rtol=1e-5)
    # An odd batch pairs its first 2n: the last image is left out.
    np.testing.assert_allclose(losses.mode_seeking_loss(z[:5], images[:5]).numpy(),
                               1 / (np.abs(images[:2] - images[2:4]).mean()
                                    / np.abs(z[:2] - z[2:4]).mean() + 1e-5), rtol=1e-5)


def test_mode_seeking_loss_punishes_collapse():
    # The property MSGAN relies on: the same image for distant latents costs ~1/eps, and images
    # that move with their latents cost less the further apart they are.
    rng = np.random.default_rng(4)
    z = rng.standard_normal((8, 16)).astype(np.float32)
    same = np.repeat(rng.uniform(-1, 1, (1, 4, 4, 1)), 8, axis=0)
    assert losses.mode_seeking_loss(z, same).numpy() > 0.99e5
    spread = np.tanh(z[:, :16].reshape(8, 4, 4, 1))
    assert (losses.mode_seeking_loss(z, spread).numpy()
            > losses.mode_seeking_loss(z, 2 * spread).numpy())
