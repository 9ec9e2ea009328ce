import numpy as np
import tensorflow as tf

from tests.helpers import randn
from vitgan_tf.train_lib import TrainConfig, build_gan


def _cfg(tmp_path, **kw):
    return TrainConfig(workdir=str(tmp_path), preset="tiny", batch_size=4, **kw)


def _snapshot(model):
    return [v.numpy().copy() for v in model.weights]


def test_train_steps_change_g_d_and_ema_with_finite_losses(tmp_path):
    gan = build_gan(_cfg(tmp_path))
    before = {m: _snapshot(getattr(gan, m)) for m in ("generator", "discriminator",
                                                       "ema_generator")}
    ds = tf.data.Dataset.from_tensors(np.clip(randn(4, 16, 16, 3), -1, 1)).repeat()
    history = gan.fit(ds, steps_per_epoch=3, epochs=1, verbose=0).history
    for name, values in history.items():
        assert np.isfinite(values[-1]), name
    assert history["g_grad_norm"][-1] > 0 and history["d_grad_norm"][-1] > 0
    assert history["bcr_real"][-1] > 0 and history["bcr_fake"][-1] > 0
    for name, weights in before.items():
        after = _snapshot(getattr(gan, name))
        changed = [not np.array_equal(a, b) for a, b in zip(weights, after)]
        assert sum(changed) > len(changed) // 2, name
    assert gan.g_optimizer.iterations.numpy() == 3
    assert np.abs(gan.generator.w_avg.numpy()).sum() > 0


def test_generator_gradients_pass_through_diff_augment(tmp_path):
    gan = build_gan(_cfg(tmp_path, augment_probability=1.0))
    z = tf.constant(randn(4, 32))
    with tf.GradientTape() as tape:
        fake = gan.generator(z, training=True)
        logits = gan.discriminator(gan._augment(fake, tf.constant([1, 2], tf.int64)),
                                   training=True)
        loss = tf.reduce_sum(logits)
    grads = tape.gradient(loss, gan.generator.trainable_variables)
    assert all(g is not None for g in grads)
    assert sum(float(tf.reduce_sum(tf.abs(g))) > 0 for g in grads) > len(grads) // 2


def test_ema_update_follows_its_half_life(tmp_path):
    gan = build_gan(_cfg(tmp_path, ema_half_life_kimg=0.004))  # 4 images
    beta = float(gan.ema_beta(4))
    assert beta == 0.5
    var = gan.generator.trainable_weights[0]
    ema = next(e for e in gan.ema_generator.weights
               if e.path.split("/", 1)[1] == var.path.split("/", 1)[1])
    old_ema = ema.numpy().copy()
    var.assign(var.numpy() + 1.0)
    gan._update_ema(4)
    np.testing.assert_allclose(ema.numpy(), 0.5 * old_ema + 0.5 * var.numpy(), rtol=1e-6)
    np.testing.assert_array_equal(gan.ema_generator.w_avg.numpy(), gan.generator.w_avg.numpy())
