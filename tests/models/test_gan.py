import dataclasses
import functools

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import randn
from vitgan_tf import rng
from vitgan_tf.build import build_gan
from vitgan_tf.config import StepSettings, TrainConfig
from vitgan_tf.models.gan import ViTGAN


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


def _plain_step(gan, real, lr, labels=None):
    """The textbook ViTGAN step, one model call per batch, SGD: the expected weight changes.

    D step: non-saturating loss on DiffAugment of real and generated images plus bCR, each
    batch through its own D call; then the G step through the updated D, on the same latents
    (G's forward pass is shared with the D step in `train_step`; here it is run again). With
    loss="rpgan" both steps score pairs (real_i, fake_i); R1/R2 are gamma/2 ||grad D||^2.
    Conditional: fake_i has real_i's label, and every D call sees its images' labels.
    """
    step = gan.step
    rpgan = step.loss == "rpgan"
    g = functools.partial(gan.generator, labels=labels)
    d = functools.partial(gan.discriminator, labels=labels)
    g_vars, d_vars = gan.generator.trainable_variables, gan.discriminator.trainable_variables
    seed = tf.constant([step.seed, 0], tf.int64)
    d_seed = rng.fold(seed, 10)
    z = gan._latents(rng.fold(d_seed, 0), real.shape[0])
    fake = g(z, training=True)
    with tf.GradientTape() as tape:
        real_aug = gan._augment(real, rng.fold(d_seed, 1))
        fake_aug = gan._augment(fake, rng.fold(d_seed, 2))
        real_logits = d(real_aug, training=True)
        fake_logits = d(fake_aug, training=True)
        if rpgan:
            loss = tf.reduce_mean(tf.nn.softplus(fake_logits - real_logits))
        else:
            loss = tf.reduce_mean(tf.nn.softplus(fake_logits) + tf.nn.softplus(-real_logits))
        for gamma, images in ((step.r1_gamma, real_aug), (step.r2_gamma, fake_aug)):
            if gamma:
                with tf.GradientTape() as inner:
                    inner.watch(images)
                    total = tf.reduce_sum(d(images, training=True))
                grad = inner.gradient(total, images)
                # ||grad D||^2 per logit (a packed D: per pack of d_pack images), averaged.
                loss += 0.5 * gamma * tf.reduce_sum(tf.square(grad)) / real_logits.shape[0]
        if step.bcr_real:
            loss += step.bcr_real * tf.reduce_mean(tf.square(d(real, training=True) - real_logits))
        if step.bcr_fake:
            loss += step.bcr_fake * tf.reduce_mean(tf.square(d(fake, training=True) - fake_logits))
    d_delta = [-lr * grad for grad in tape.gradient(loss, d_vars)]
    for var, delta in zip(d_vars, d_delta):
        var.assign_add(delta)
    with tf.GradientTape() as tape:
        fake = g(z, training=True)
        logits = d(gan._augment(fake, rng.fold(rng.fold(seed, 1), 1)), training=True)
        if rpgan:
            real_logits = d(gan._augment(real, rng.fold(rng.fold(seed, 1), 2)), training=True)
            loss = tf.reduce_mean(tf.nn.softplus(real_logits - logits))
        else:
            loss = tf.reduce_mean(tf.nn.softplus(-logits))
        if step.ms_weight:  # MSGAN: images i and i + 2 of the 4, against their latents
            ratio = (tf.reduce_mean(tf.abs(fake[:2] - fake[2:]))
                     / tf.reduce_mean(tf.abs(z[:2] - z[2:])))
            loss += step.ms_weight / (ratio + 1e-5)
    g_delta = [-lr * grad for grad in tape.gradient(loss, g_vars)]
    return [np.asarray(x) for x in d_delta], [np.asarray(x) for x in g_delta]


@pytest.mark.parametrize("settings", [
    {"bcr_real": 10.0, "bcr_fake": 10.0},
    {"bcr_real": 0.0, "bcr_fake": 1.0},
    # The hybrid: StyleGAN2 D, RpGAN, R1 and R2 (lazy, due at step 0, so weighted by 4).
    {"bcr_real": 0.0, "bcr_fake": 0.0, "loss": "rpgan", "r1_gamma": 0.5, "r2_gamma": 0.25,
     "model": {"d_arch": "stylegan2", "d_conv_channels": 4, "d_conv_max_channels": 8}},
    # Class-conditional: projection D, embedded classes in G, labels through RpGAN, R1, bCR.
    {"bcr_real": 1.0, "bcr_fake": 1.0, "loss": "rpgan", "r1_gamma": 0.5, "conditional": True,
     "model": {"num_classes": 3}},
    # Self-conditioning: the real images' clusters (nearest centres of D's features) are the
    # labels of the conditional step above.
    {"bcr_real": 1.0, "bcr_fake": 1.0, "loss": "rpgan", "r1_gamma": 0.5,
     "self_cond_clusters": 3},
    # MSGAN's mode-seeking term on the generator.
    {"bcr_real": 0.0, "bcr_fake": 0.0, "ms_weight": 0.5},
    # PacGAN: the hybrid D scores packs of 2 (bCR and R1 per pack).
    {"bcr_real": 1.0, "bcr_fake": 1.0, "loss": "rpgan", "r1_gamma": 0.5,
     "model": {"d_arch": "stylegan2", "d_conv_channels": 4, "d_conv_max_channels": 8,
               "d_pack": 2, "d_mbstd_group": 2}},
])
def test_train_step_equals_the_plain_algorithm(tmp_path, settings):
    # The step shares G's forward pass between the D and G steps; the weight updates must be
    # those of the plain algorithm, which runs G again for the G step.
    lr = 0.01
    gan = build_gan(_cfg(tmp_path, augment_probability=1.0, **settings))
    gan.compile(g_optimizer=keras.optimizers.SGD(lr), d_optimizer=keras.optimizers.SGD(lr))
    real = tf.constant(np.clip(randn(4, 16, 16, 3), -1, 1))
    labels = tf.constant([2, 0, 2, 1]) if settings.get("conditional") else None
    if settings.get("self_cond_clusters"):  # centres at three images' features: 3 clusters
        d = gan.discriminator
        d.cluster_centres.assign(d.cluster_features(real)[:3])
        labels = d.clusters(real)
        assert sorted(set(labels.numpy()[:3])) == [0, 1, 2]
    models = (gan.generator, gan.discriminator)
    before = [[v.numpy().copy() for v in m.weights] for m in models]
    expected_d, expected_g = _plain_step(gan, real, lr, labels)
    if "loss" in settings:  # lazy R1/R2 at step 0 is the plain penalty times the interval
        gan.step = dataclasses.replace(gan.step, r1_interval=4, r1_gamma=gan.step.r1_gamma / 4,
                                       r2_gamma=gan.step.r2_gamma / 4)
    for model, weights in zip(models, before):
        model.set_weights(weights)
    batch = real if labels is None or gan.vitgan_config.self_conditioned else (real, labels)
    gan.fit(tf.data.Dataset.from_tensors(batch), epochs=1, verbose=0, shuffle=False)
    for model, expected, weights in ((gan.discriminator, expected_d, before[1]),
                                     (gan.generator, expected_g, before[0])):
        old = {v.path: w for v, w in zip(model.weights, weights)}
        got = [v.numpy() - old[v.path] for v in model.trainable_variables]
        assert len(got) == len(expected)
        # One scale per model: some gradients are 0 in exact arithmetic (W_qk's bias cancels
        # in ||q - k||) and only rounding noise in practice.
        scale = max(np.abs(want).max() for want in expected)
        assert scale > 0
        for var, actual, want in zip(model.trainable_variables, got, expected):
            # Deltas read as differences of float32 weights carry the weights' rounding.
            rounding = 2 * np.spacing(np.abs(old[var.path]).max())
            np.testing.assert_allclose(actual, want, atol=max(1e-4 * scale, rounding),
                                       err_msg=var.path)


# Each switch's layer has its own unit tests; the whole step runs once per model part, the
# ViT D's switches all at once.
@pytest.mark.parametrize("model", [
    {"d_norm": "none", "d_attention": "dot", "d_overlapping_patches": False, "d_mbstd_group": 2},
    {"d_norm": "sn", "g_decoder": "linear", "g_conditioning": "additive"},
    {"d_arch": "stylegan2", "d_conv_channels": 4}],
    ids=lambda model: ",".join(f"{k}={v}" for k, v in model.items()))
def test_every_ablation_switch_trains_a_step(tmp_path, model):
    gan = build_gan(_cfg(tmp_path, model=model))
    before = _snapshot(gan.generator) + _snapshot(gan.discriminator)
    ds = tf.data.Dataset.from_tensors(np.clip(randn(4, 16, 16, 3), -1, 1)).repeat()
    history = gan.fit(ds, steps_per_epoch=1, epochs=1, verbose=0).history
    assert all(np.isfinite(values[-1]) for values in history.values())
    after = _snapshot(gan.generator) + _snapshot(gan.discriminator)
    assert sum(not np.array_equal(a, b) for a, b in zip(before, after)) > len(before) // 2


def test_lazy_r1_runs_every_interval_steps(tmp_path):
    gan = build_gan(_cfg(tmp_path, r1_gamma=1.0, r2_gamma=1.0, r1_interval=2,
                         model={"d_arch": "stylegan2", "d_conv_channels": 4}))
    ds = tf.data.Dataset.from_tensors(np.clip(randn(4, 16, 16, 3), -1, 1)).repeat()
    seen = []
    for _ in range(3):  # one step per fit: the trackers hold that step's values
        history = gan.fit(ds, steps_per_epoch=1, epochs=1, verbose=0).history
        seen.append((history["r1"][-1], history["r2"][-1]))
    assert seen[0][0] > 0 and seen[0][1] > 0
    assert seen[1] == (0.0, 0.0)
    assert seen[2][0] > 0 and seen[2][1] > 0


@pytest.mark.slow  # XLA compiles the whole step: about 2 minutes on 2 cores
@pytest.mark.parametrize("precision,labels", [("mixed_float16", "data"),
                                              ("mixed_bfloat16", "data"),
                                              ("mixed_bfloat16", "self_cond")])
def test_conditional_step_under_xla_and_mixed_precision(tmp_path, precision, labels):
    classes = ({"conditional": True, "model": {"num_classes": 3}} if labels == "data"
               else {"self_cond_clusters": 3})
    gan = build_gan(_cfg(tmp_path, jit_compile=True, mixed_precision=precision, **classes,
                         augment_policy="translation", loss="rpgan", r1_gamma=0.1))
    images = np.clip(randn(4, 16, 16, 3), -1, 1)
    if labels == "data":
        data = tf.data.Dataset.from_tensors((images, np.array([0, 2, 2, 1], np.int32))).repeat()
    else:  # centres at three of the images' features: each cluster has an image
        d = gan.discriminator
        d.cluster_centres.assign(d.cluster_features(tf.constant(images, tf.float32))[:3])
        data = tf.data.Dataset.from_tensors(images).repeat()
    history = gan.fit(data, steps_per_epoch=2, epochs=1, verbose=0).history
    assert all(np.isfinite(values[-1]) for values in history.values())
    np.testing.assert_array_equal(np.abs(gan.generator.w_avg.numpy()).sum(1) > 0, True)


def test_every_step_setting_reaches_the_gan_and_round_trips(tmp_path):
    # Each StepSettings field, set to a value other than its default, arrives in gan.step and
    # comes back from get_config; a field dropped on the way (build_gan, ViTGAN) fails here.
    changed = {"d_steps": 2, "bcr_real": 0.5, "bcr_fake": 0.25, "augment_policy": "translation",
               "augment_probability": 0.5, "ema_half_life_kimg": 3.0, "r1_gamma": 0.1,
               "r2_gamma": 0.2, "r1_interval": 4, "loss": "rpgan", "seed": 7, "ms_weight": 0.3}
    fields = {f.name: f.default for f in dataclasses.fields(StepSettings)}
    assert set(changed) == set(fields)  # a new setting needs a value here
    assert all(changed[name] != default for name, default in fields.items())
    gan = build_gan(_cfg(tmp_path, **changed))
    assert dataclasses.asdict(gan.step) == changed
    config = gan.get_config()
    assert config["step"] == changed
    again = ViTGAN.from_config(config)
    assert again.step == gan.step and again.vitgan_config == gan.vitgan_config
    with pytest.raises(ValueError, match="^loss='hinge'"):
        ViTGAN("tiny", step=StepSettings(loss="hinge"))


def test_auto_precision_builds_the_resolved_policy_with_float32_outputs(tmp_path, monkeypatch):
    from vitgan_tf import config

    for flags, policy in (({"avx2"}, "float32"), ({"avx2", "avx512_bf16"}, "mixed_bfloat16")):
        monkeypatch.setattr(config, "cpu_flags", lambda flags=flags: flags)
        gan = build_gan(_cfg(tmp_path, mixed_precision="auto"))
        assert gan.dtype_policy.name == policy
        z = tf.constant(randn(2, 32))
        assert gan.generator(z).dtype == tf.float32  # the image and so the losses: float32
        assert gan.discriminator(gan.generator(z)).dtype == tf.float32


def test_build_gan_on_a_conditional_config_builds_a_conditional_gan(tmp_path):
    # Outside train() (a notebook, a benchmark): the classes come from the data, and the
    # user's config is left as it was.
    cfg = _cfg(tmp_path, conditional=True)  # the digits: ten classes
    gan = build_gan(cfg)
    assert gan.vitgan_config.num_classes == 10 and gan.discriminator.num_classes == 10
    assert cfg.model == {}
    assert build_gan(_cfg(tmp_path)).vitgan_config.num_classes == 0
