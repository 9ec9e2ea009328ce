"""ViTGAN's losses: non-saturating logistic GAN loss, bCR and R1. All return per-example values.

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


def consistency_loss(logits, augmented_logits):
    """bCR term ||D(x) - D(T(x))||^2 per example (Zhao et al. 2021)."""
    return tf.square(_flat(logits) - _flat(augmented_logits))


def r1_penalty(real_logits_fn, real_images):
    """||grad_x D(x)||^2 per example (Mescheder et al. 2018); the caller weights it by gamma/2.

    real_logits_fn: images -> logits, run under a tape watching the images.
    """
    with tf.GradientTape() as tape:
        tape.watch(real_images)
        logits = real_logits_fn(real_images)
        total = tf.reduce_sum(tf.cast(logits, tf.float32))
    grads = tf.cast(tape.gradient(total, real_images), tf.float32)
    return tf.reduce_sum(tf.square(grads), axis=[1, 2, 3])
