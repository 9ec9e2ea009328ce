"""ViTGAN as one keras.Model: generator, discriminator, EMA generator and the training step."""

import dataclasses
import functools

import keras
import numpy as np
import tensorflow as tf

from vitgan_tf import losses, rng
from vitgan_tf.augment import diff_augment
from vitgan_tf.config import StepSettings, parse_policy
from vitgan_tf.models.config import get_config
from vitgan_tf.models.discriminator import make_discriminator
from vitgan_tf.models.generator import Generator

METRICS = ("d_loss", "g_loss", "bcr_real", "bcr_fake", "r1", "r2", "d_real", "d_fake",
           "d_grad_norm", "g_grad_norm", "mode_seeking")


def _replica():
    """(replica id, number of replicas) of the current replica context."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None:
        return 0, 1
    return ctx.replica_id_in_sync_group, ctx.num_replicas_in_sync


def _grad_norm(grads, optimizer):
    norm = tf.linalg.global_norm([tf.cast(g, tf.float32) for g in grads])
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        norm = norm / tf.cast(optimizer.dynamic_scale, tf.float32)
    return norm


@keras.saving.register_keras_serializable(package="vitgan_tf")
class ViTGAN(keras.Model):
    """ViTGAN training model (Lee et al. 2022).

    One `train_step` per batch of real images: `d_steps` discriminator steps (GAN loss on
    DiffAugment of real and generated images, bCR, optional R1 and R2), one generator step
    (GAN loss through DiffAugment), then the w running mean, the EMA generator and the count of
    images trained on (`images_seen`, kept in checkpoints). The GAN loss
    is the non-saturating logistic loss ("ns", the paper's) or the relativistic pairing loss
    ("rpgan", R3GAN's), whose generator step also scores the real batch with the updated D.
    The last D step and the G step score the same generated batch, so G runs forward once per
    step (as in DCGAN's reference loop; the G step sees D after its update).
    Metrics: losses, bCR and R1 terms, mean D(real) and D(fake) logits, and gradient norms (of
    each replica's share of the loss: on one device, the gradient norm; steps that a loss
    scaler skips for overflow are left out). All randomness is drawn statelessly from
    (seed, step), so a resumed run continues the same stream and a data-parallel step sees the
    numbers a single-device step would.

    A conditional model (config `num_classes > 0`) trains on (images, labels) batches: the
    generated batch takes the real batch's labels, position by position (so classes are drawn
    in the data's proportions, and RpGAN pairs each real image with a fake of its class);
    every discriminator call, R1/R2 and bCR included, sees the labels of the images it scores;
    w_avg is updated per class. DiffAugment and bCR act on images only.

    A self-conditioned model (config `self_conditioned`; Liu et al. 2020) trains on unlabelled
    batches like an unconditional one: each real image takes the cluster of its nearest centre
    in the discriminator's features (`LogitModel.clusters`, the centres set by `recluster`),
    and from there training is the conditional one above, clusters for classes.

    With `d_pack = m > 1` in the model config (PacGAN, Lin et al. 2018), D scores packs of m
    consecutive images of a batch (real with real, generated with generated): every loss term
    above is per pack, and the means are over packs.

    With `ms_weight > 0` the generator's loss adds the mode-seeking term of MSGAN (Mao et al.
    2019): the batch's first half against its second half, 1 / (mean|G(z1) - G(z2)| /
    mean|z1 - z2| + 1e-5), so that distant latents are pushed to distant images.

    Args:
        config: model config (preset name, dict or `ViTGANConfig`).
        step: the train step's settings, a `config.StepSettings` (or its dict); default
            StepSettings(). `self.step` holds them; `get_config` writes them whole.
    """

    def __init__(self, config="32", step=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(step, dict):
            step = StepSettings(**step)
        self.step = (step or StepSettings()).check()
        self.vitgan_config = cfg = get_config(config)
        self.augment_policy = parse_policy(self.step.augment_policy)
        # The dtype policy reaches the models through their constructors, never globally.
        policy = self.dtype_policy
        self.generator = Generator(cfg, dtype=policy, name="generator")
        self.discriminator = make_discriminator(cfg, dtype=policy, name="discriminator")
        self.ema_generator = Generator(cfg, dtype=policy, name="ema_generator")
        self.ema_generator.set_weights(self.generator.get_weights())
        self.ema_generator.trainable = False
        self.trackers = {name: keras.metrics.Mean(name=name) for name in METRICS}
        # Images trained on, over every batch size the run has had: kimg that survives a resume
        # with another --batch_size (the step count times today's batch would not).
        self.images_seen = self.add_weight(name="images_seen", shape=(), dtype="int64",
                                           initializer="zeros", trainable=False,
                                           aggregation="only_first_replica")
        self.built = True

    @property
    def metrics(self):
        return list(self.trackers.values())

    def compile(self, g_optimizer, d_optimizer, **kwargs):
        super().compile(**kwargs)
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        # Built here, inside the caller's strategy scope, so slots are mirrored like the weights.
        g_optimizer.build(self.generator.trainable_variables)
        d_optimizer.build(self.discriminator.trainable_variables)

    def call(self, z, training=False, labels=None):
        return self.ema_generator(z, training=training, labels=labels)

    # -- randomness ---------------------------------------------------------------------------

    def _step_seed(self):
        step = tf.cast(self.g_optimizer.iterations, tf.int64)
        return tf.stack([tf.constant(self.step.seed, tf.int64), step])

    def _slice(self, batch):
        replica, replicas = _replica()
        return replica * batch, batch * replicas

    def _latents(self, seed, batch):
        offset, global_batch = self._slice(batch)
        z = rng.normal(seed, [global_batch, self.vitgan_config.latent_dim])
        return z[offset:offset + batch]

    def _augment(self, images, seed):
        if not self.augment_policy:
            return images
        offset, global_batch = self._slice(tf.shape(images)[0])
        return diff_augment(images, seed, self.augment_policy, self.step.augment_probability,
                            batch_offset=offset, global_batch=global_batch)

    # -- the training step --------------------------------------------------------------------

    def _unpack(self, data):
        """(real images float32, labels or None) of a batch; a self-conditioned model's
        labels are the real images' clusters."""
        cfg = self.vitgan_config
        if cfg.user_classes:
            if not isinstance(data, (tuple, list)) or len(data) != 2:
                raise ValueError("A conditional ViTGAN trains on (images, labels) batches.")
            return tf.cast(data[0], tf.float32), tf.cast(data[1], tf.int32)
        real = tf.cast(data[0] if isinstance(data, tuple) else data, tf.float32)
        if cfg.self_conditioned:
            return real, tf.stop_gradient(self.discriminator.clusters(real))
        return real, None

    def train_step(self, data):
        real, labels = self._unpack(data)
        batch = tf.shape(real)[0]
        _, global_batch = self._slice(batch)
        seed = self._step_seed()
        g = self.generator
        for i in range(self.step.d_steps - 1):
            d_seed = rng.fold(seed, 10 + i)
            # Generated outside any tape: the discriminator loss sends no gradient to G.
            fake = g(self._latents(rng.fold(d_seed, 0), batch), training=True, labels=labels)
            self._discriminator_step(real, fake, global_batch, d_seed, labels)
        # The last D step and the G step share one generated batch, so G runs forward once per
        # step: recorded by the G tape, seen by the D step with its gradient stopped, and fed
        # through the updated D for the G loss.
        d_seed = rng.fold(seed, 10 + self.step.d_steps - 1)
        d = functools.partial(self.discriminator, training=True, labels=labels)
        with tf.GradientTape() as tape:
            z = self._latents(rng.fold(d_seed, 0), batch)
            w = g.mapping(z, labels=labels, training=True)
            fake = g.synthesize(w, training=True)
            with tape.stop_recording():
                d_logs = self._discriminator_step(real, tf.stop_gradient(fake), global_batch,
                                                  d_seed, labels)
            logits = d(self._augment(fake, rng.fold(rng.fold(seed, 1), 1)))
            if self.step.loss == "rpgan":
                # The pairs' real halves, through the updated D; no gradient reaches G there.
                real_logits = d(self._augment(real, rng.fold(rng.fold(seed, 1), 2)))
                per_example = losses.relativistic_generator_loss(real_logits, logits)
            else:
                per_example = losses.generator_loss(logits)
            loss = tf.reduce_sum(per_example) / self._logits_per_batch(global_batch)
            mode_seeking = tf.zeros([])
            if self.step.ms_weight:
                mode_seeking = losses.mode_seeking_loss(z, fake)
                # Each replica's term over its own pairs; the replicas' gradients are summed.
                loss += self.step.ms_weight * mode_seeking / _replica()[1]
            scaled = self.g_optimizer.scale_loss(loss)
        grads = tape.gradient(scaled, g.trainable_variables)
        self.g_optimizer.apply(grads, g.trainable_variables)
        g_logs = {"g_loss": tf.reduce_mean(per_example), "mode_seeking": mode_seeking,
                  "g_grad_norm": _grad_norm(grads, self.g_optimizer)}
        # The running mean of w must see every replica's batch, not only the first one's.
        sums, counts = g.w_statistics(w, labels)
        ctx = tf.distribute.get_replica_context()
        if ctx is not None and ctx.num_replicas_in_sync > 1:
            sums, counts = ctx.all_reduce(tf.distribute.ReduceOp.SUM, [sums, counts])
        g.update_w_avg(sums, counts)
        self._update_ema(global_batch)
        self.images_seen.assign_add(tf.cast(global_batch, tf.int64))
        for name, value in {**d_logs, **g_logs}.items():
            # A loss-scaled step that overflowed is skipped by the optimizer: leave it out.
            weight = tf.cast(tf.math.is_finite(value), tf.float32) if "norm" in name else 1.0
            self.trackers[name].update_state(tf.where(weight > 0, value, 0.0), weight)
        results = {name: tracker.result() for name, tracker in self.trackers.items()}
        if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
            # Keras 3.15's fit reduces logs across workers with strategy.reduce(MEAN, axis=0),
            # which fails on scalars; shape (1,) reduces to the same scalar mean.
            results = {name: tf.reshape(value, [1]) for name, value in results.items()}
        return results

    def _discriminator_step(self, real, fake, global_batch, seed, labels=None):
        # Every image scored here, real or generated, has the batch's labels.
        d = functools.partial(self.discriminator, training=True, labels=labels)
        with tf.GradientTape() as tape:
            # One D call per batch: on a CPU, concatenating the four batches into one call
            # measured 5% slower (bench/README.md).
            real_aug = self._augment(real, rng.fold(seed, 1))
            real_logits = d(real_aug)
            fake_logits = d(self._augment(fake, rng.fold(seed, 2)))
            gan_loss = (losses.relativistic_discriminator_loss if self.step.loss == "rpgan"
                        else losses.discriminator_loss)(real_logits, fake_logits)
            per_example = gan_loss
            zeros = tf.zeros_like(per_example)
            bcr_real = bcr_fake = r1 = r2 = zeros
            # bCR: D(x) against D(T(x)), T(x) being the augmented batch of the GAN loss.
            step = self.step
            if step.bcr_real:
                bcr_real = losses.consistency_loss(d(real), real_logits)
            if step.bcr_fake:
                bcr_fake = losses.consistency_loss(d(fake), fake_logits)
            if step.r1_gamma:
                r1 = self._lazy(lambda: self._per_pack(losses.r1_penalty(d, real_aug)), zeros)
            if step.r2_gamma:
                fake_aug = self._augment(fake, rng.fold(seed, 2))
                r2 = self._lazy(lambda: self._per_pack(losses.r1_penalty(d, fake_aug)), zeros)
            per_example += (step.bcr_real * bcr_real + step.bcr_fake * bcr_fake
                            + 0.5 * step.r1_interval * (step.r1_gamma * r1 + step.r2_gamma * r2))
            loss = tf.reduce_sum(per_example) / self._logits_per_batch(global_batch)
            scaled = self.d_optimizer.scale_loss(loss)
        variables = self.discriminator.trainable_variables
        grads = tape.gradient(scaled, variables)
        self.d_optimizer.apply(grads, variables)
        mean = tf.reduce_mean
        return {"d_loss": mean(gan_loss),
                "bcr_real": mean(bcr_real), "bcr_fake": mean(bcr_fake), "r1": mean(r1),
                "r2": mean(r2),
                "d_real": mean(real_logits), "d_fake": mean(fake_logits),
                "d_grad_norm": _grad_norm(grads, self.d_optimizer)}

    def _logits_per_batch(self, global_batch):
        """The D's logits for `global_batch` images: one per pack (PacGAN; config.d_pack)."""
        return tf.cast(global_batch // self.vitgan_config.d_pack, tf.float32)

    def _per_pack(self, per_image):
        """A per-image penalty summed over each pack: ||grad D||^2 of a packed D is the sum of
        its images' squared gradient norms."""
        m = self.vitgan_config.d_pack
        return per_image if m == 1 else tf.reduce_sum(tf.reshape(per_image, [-1, m]), axis=1)

    def _lazy(self, penalty, zeros):
        """penalty() on every `r1_interval`-th step (the step counter before this update),
        zeros otherwise; the caller scales it by the interval."""
        if self.step.r1_interval == 1:
            return penalty()
        due = tf.equal(self.d_optimizer.iterations % self.step.r1_interval, 0)
        return tf.cond(due, penalty, lambda: zeros)

    def recluster(self, images, seed=0, batch_size=256):
        """Self-conditioning's reclustering: k-means of the discriminator's features of
        `images` (numpy, a fixed set of real images), warm-started from and matched to the
        current centres (`self_conditioning.fit_clusters`); stores the centres in the
        discriminator and the clusters' shares in both generators. Returns the shares."""
        from vitgan_tf.self_conditioning import fit_clusters

        d = self.discriminator
        features = np.concatenate([
            np.asarray(d.cluster_features(tf.constant(images[i:i + batch_size], tf.float32)))
            for i in range(0, len(images), batch_size)])
        centres, shares, _ = fit_clusters(features, d.cluster_centres.numpy(), seed)
        d.cluster_centres.assign(centres)
        for g in (self.generator, self.ema_generator):
            g.set_cluster_shares(shares)
        return shares

    def kimg(self):
        """Thousands of images trained on so far (`images_seen`), as a Python float."""
        return float(self.images_seen.numpy()) / 1000

    def ema_beta(self, global_batch):
        """Per-step EMA decay for a half-life of `ema_half_life_kimg` thousand images."""
        kimg = self.step.ema_half_life_kimg
        return tf.pow(0.5, tf.cast(global_batch, tf.float32) / (kimg * 1000))

    def _update_ema(self, global_batch):
        beta = self.ema_beta(global_batch)
        pairs = list(zip(self.ema_generator.weights, self.generator.weights))

        def update(strategy):
            # Cross-replica: the EMA weights are plain mirrored variables.
            # Trainable weights are averaged; state such as w_avg is copied.
            for ema, var in pairs:
                strategy.extended.update(
                    ema.value, lambda e, v, copy=not var.trainable: e.assign(
                        v if copy else beta * e + (1.0 - beta) * v),
                    args=(var.value,))

        ctx = tf.distribute.get_replica_context()
        if ctx is None:
            update(tf.distribute.get_strategy())
        else:
            ctx.merge_call(update)

    def get_config(self):
        base = super().get_config()
        base.pop("trainable", None)
        return {**base, "config": self.vitgan_config.to_dict(),
                "step": dataclasses.asdict(self.step)}
