"""GAN losses: non-saturating logistic and relativistic pairing (RpGAN) losses, bCR, R1 and R2.
All return per-example values.

Callers sum them and divide by the global batch size, so the gradient all-reduced across
replicas is the gradient of the global mean.
"""

import tensorflow as tf


def _flat(logits):
    return tf.reshape(tf.cast(logits, tf.float32), [-1])


def discriminator_loss(real_logits, fake_logits):
    """softplus(D(G(z))) + softplus(-D(x)) per example."""
    return tf.nn.softplus(_flat(fake_logits)) + tf.nn.softplus(-_flat(real_logits))


def generator_loss(fake_logits):
    """Non-saturating generator loss softplus(-D(G(z))) per example."""
    return tf.nn.softplus(-_flat(fake_logits))


def relativistic_discriminator_loss(real_logits, fake_logits):
    """RpGAN: softplus(D(G(z_i)) - D(x_i)) per pair (Jolicoeur-Martineau 2019; R3GAN, Huang et
    al. 2024). Each real is paired with one generated sample, so D is rewarded for ranking every
    real above its partner, not for a global threshold that a few modes can satisfy."""
    return tf.nn.softplus(_flat(fake_logits) - _flat(real_logits))


def relativistic_generator_loss(real_logits, fake_logits):
    """RpGAN's generator loss softplus(D(x_i) - D(G(z_i))) per pair."""
    return tf.nn.softplus(_flat(real_logits) - _flat(fake_logits))


def consistency_loss(logits, augmented_logits):
    """bCR term ||D(x) - D(T(x))||^2 per example (Zhao et al. 2021)."""
    return tf.square(_flat(logits) - _flat(augmented_logits))


def r1_penalty(logits_fn, images):
    """||grad_x D(x)||^2 per example (Mescheder et al. 2018); the caller weights it by gamma/2.
    R1 when `images` are real, R2 when they are generated (R3GAN uses both).

    logits_fn: images -> logits, run under a tape watching the images.
    """
    with tf.GradientTape() as tape:
        tape.watch(images)
        logits = logits_fn(images)
        total = tf.reduce_sum(tf.cast(logits, tf.float32))
    grads = tf.cast(tape.gradient(total, images), tf.float32)
    return tf.reduce_sum(tf.square(grads), axis=[1, 2, 3])


def mode_seeking_loss(z, images, eps=1e-5):
    """MSGAN's mode-seeking term (Mao et al. 2019), a scalar: 1 / (d_I / d_z + eps), with d_I the
    mean absolute difference between the images of the batch's first and second halves (pairs
    (i, i + n) for n = batch // 2) and d_z the same for their latents. Minimizing it pushes
    distant latents to distant images: a generator that collapses them scores high."""
    n = tf.shape(z)[0] // 2
    z, images = tf.cast(z, tf.float32), tf.cast(images, tf.float32)
    d_images = tf.reduce_mean(tf.abs(images[:n] - images[n:2 * n]))
    d_z = tf.reduce_mean(tf.abs(z[:n] - z[n:2 * n]))
    return 1.0 / (d_images / d_z + eps)
