"""The training loop: strategy, model, optimizers, checkpoints, summaries and samples."""

import dataclasses
import json
import math
import os
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from vitgan_tf import data as data_lib
from vitgan_tf.images import image_grid, save_png
from vitgan_tf import rng
from vitgan_tf.models import ViTGAN, get_config


@dataclasses.dataclass
class TrainConfig:
    """Everything a training run needs; `train.py` fills it from flags."""

    workdir: str
    dataset: str = "digits"
    data_dir: str | None = None
    preset: str = "digits"
    model_overrides: str = ""  # "field=value,..." replacing fields of the preset's ViTGANConfig
    batch_size: int = 32  # global batch
    total_steps: int = 1000
    lr: float = 0.002
    beta1: float = 0.0
    beta2: float = 0.99
    warmup_steps: int = 0
    d_steps: int = 1
    bcr_real: float = 10.0
    bcr_fake: float = 10.0
    augment_policy: str = "color,scale,translation,cutout"
    augment_probability: float = 0.8
    ema_half_life_kimg: float = 10.0
    r1_gamma: float = 0.0
    mixed_precision: str = "float32"  # or mixed_float16 / mixed_bfloat16
    jit_compile: bool = False
    strategy: str = "auto"  # auto | default | mirrored | multi_worker
    log_every: int = 50
    checkpoint_every: int = 500
    sample_every: int = 500
    keep_checkpoints: int = 3
    num_samples: int = 64
    kid_every: int = 0  # steps between KID evaluations during training; 0: off
    kid_samples: int = 2000
    kid_extractor: str = "keras_inception"
    inception_path: str = ""
    inception_weights: str = "imagenet"
    seed: int = 0


def validate(cfg):
    """Raise ValueError naming the flag for any bad value, before any work is done."""
    def need(ok, flag, expected):
        if not ok:
            raise ValueError(f"--{flag}={getattr(cfg, flag)!r}: expected {expected}.")

    need(cfg.dataset in data_lib.SOURCES, "dataset", f"one of {data_lib.SOURCES}")
    need(cfg.dataset != "folder" or bool(cfg.data_dir), "data_dir", "a folder of images")
    need(cfg.batch_size >= 1, "batch_size", "a positive integer")
    need(cfg.total_steps >= 1, "total_steps", "a positive integer")
    need(cfg.lr > 0, "lr", "a positive number")
    need(0 <= cfg.beta1 < 1, "beta1", "a number in [0, 1)")
    need(0 <= cfg.beta2 < 1, "beta2", "a number in [0, 1)")
    need(cfg.warmup_steps >= 0, "warmup_steps", "an integer >= 0")
    need(cfg.d_steps >= 1, "d_steps", "a positive integer")
    need(cfg.bcr_real >= 0, "bcr_real", "a number >= 0")
    need(cfg.bcr_fake >= 0, "bcr_fake", "a number >= 0")
    need(cfg.r1_gamma >= 0, "r1_gamma", "a number >= 0")
    need(0 <= cfg.augment_probability <= 1, "augment_probability", "a number in [0, 1]")
    need(cfg.ema_half_life_kimg > 0, "ema_half_life_kimg", "a positive number")
    need(cfg.mixed_precision in ("float32", "mixed_float16", "mixed_bfloat16"),
         "mixed_precision", "float32, mixed_float16 or mixed_bfloat16")
    need(cfg.strategy in ("auto", "default", "mirrored", "multi_worker"), "strategy",
         "auto, default, mirrored or multi_worker")
    need(cfg.log_every >= 1, "log_every", "a positive integer")
    for flag in ("checkpoint_every", "sample_every"):
        need(getattr(cfg, flag) >= 1 and getattr(cfg, flag) % cfg.log_every == 0, flag,
             f"a positive multiple of --log_every={cfg.log_every}")
    need(cfg.keep_checkpoints >= 1, "keep_checkpoints", "a positive integer")
    need(cfg.num_samples >= 1, "num_samples", "a positive integer")
    need(cfg.kid_every >= 0 and cfg.kid_every % cfg.log_every == 0, "kid_every",
         "0 (off) or a multiple of --log_every")
    need(cfg.kid_samples >= 2, "kid_samples", "an integer >= 2")
    from vitgan_tf.features import EXTRACTORS
    need(cfg.kid_extractor in EXTRACTORS, "kid_extractor", f"one of {', '.join(EXTRACTORS)}")
    try:
        get_config(cfg.preset)
    except ValueError as e:
        raise ValueError(f"--preset={cfg.preset!r}: {e}") from None
    try:
        model_config(cfg)
    except (ValueError, TypeError) as e:
        raise ValueError(f"--model_overrides={cfg.model_overrides!r}: {e}") from None
    from vitgan_tf.augment import parse_policy
    try:
        parse_policy(cfg.augment_policy)
    except ValueError as e:
        raise ValueError(f"--augment_policy={cfg.augment_policy!r}: {e}") from None


def parse_overrides(text, config):
    """"field=value,..." -> {field: value} typed as `config`'s current values."""
    changes = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not hasattr(config, name):
            raise ValueError(f"expected field=value pairs of ViTGANConfig fields, got {item!r}")
        current = getattr(config, name)
        if value.lower() == "none":
            changes[name] = None
        elif isinstance(current, bool):
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError(f"{name} takes true or false, got {value!r}")
            changes[name] = value.lower() in ("true", "1")
        elif isinstance(current, int):
            changes[name] = int(value)
        elif isinstance(current, float) or current is None:
            changes[name] = float(value)
        else:
            changes[name] = value
    return changes


def model_config(cfg):
    """The run's ViTGANConfig: its preset with `model_overrides` applied."""
    base = get_config(cfg.preset)
    return base.replace(**parse_overrides(cfg.model_overrides, base))


def make_strategy(name):
    # Nothing may touch the TF context before MultiWorkerMirroredStrategy is created (listing
    # devices does), so that case comes first.
    if name == "multi_worker" or (name == "auto" and os.environ.get("TF_CONFIG")):
        try:
            return tf.distribute.MultiWorkerMirroredStrategy()
        except RuntimeError as error:
            raise RuntimeError(
                "MultiWorkerMirroredStrategy must be created before this process runs any "
                "TensorFlow op; call train() first thing (pass a custom dataset as a "
                "callable).") from error
    gpus = tf.config.list_logical_devices("GPU")
    if name == "mirrored" or (name == "auto" and len(gpus) > 1):
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


@keras.saving.register_keras_serializable(package="vitgan_tf")
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """lr * min(1, (step + 1) / warmup_steps); constant lr when warmup_steps is 0."""

    def __init__(self, lr, warmup_steps):
        self.lr, self.warmup_steps = lr, warmup_steps

    def __call__(self, step):
        if not self.warmup_steps:
            return tf.constant(self.lr, tf.float32)
        ramp = (tf.cast(step, tf.float32) + 1.0) / self.warmup_steps
        return self.lr * tf.minimum(1.0, ramp)

    def get_config(self):
        return {"lr": self.lr, "warmup_steps": self.warmup_steps}


def make_optimizer(cfg):
    opt = keras.optimizers.Adam(LinearWarmup(cfg.lr, cfg.warmup_steps), beta_1=cfg.beta1,
                                beta_2=cfg.beta2)
    if cfg.mixed_precision == "mixed_float16":
        opt = keras.optimizers.LossScaleOptimizer(opt)
    return opt


def build_gan(cfg):
    """ViTGAN compiled with both optimizers; call inside the strategy's scope."""
    gan = ViTGAN(model_config(cfg), augment_policy=cfg.augment_policy,
                 augment_probability=cfg.augment_probability, bcr_real=cfg.bcr_real,
                 bcr_fake=cfg.bcr_fake, r1_gamma=cfg.r1_gamma,
                 ema_half_life_kimg=cfg.ema_half_life_kimg, d_steps=cfg.d_steps, seed=cfg.seed)
    gan.compile(g_optimizer=make_optimizer(cfg), d_optimizer=make_optimizer(cfg),
                jit_compile=cfg.jit_compile)
    return gan


def _variables_by_path(model):
    """A checkpoint node holding every weight of `model` under its Keras path.

    Keras 3 layers kept in Python lists (transformer blocks, SIREN layers, mapping layers) are not
    reachable through TF's object graph, so `tf.train.Checkpoint(generator=model)` silently leaves
    them out. Naming each variable by its unique Keras path saves all of them.
    """
    variables = {}
    for variable in model.weights:
        key = variable.path.split("/", 1)[-1].replace("/", ".")
        if key in variables:
            raise ValueError(f"{model.name}: two weights share the path {variable.path!r}; "
                             "give the layers distinct names.")
        variables[key] = variable
    return tf.train.Checkpoint(**variables)


def make_checkpoint(gan):
    """Checkpoint of G, D, EMA G (all weights, ISN state included) and both optimizers.

    The optimizers' iteration counters are the training step and, with the run seed, the whole
    random state: every random draw in the train step is a stateless function of them.
    """
    return tf.train.Checkpoint(generator=_variables_by_path(gan.generator),
                               discriminator=_variables_by_path(gan.discriminator),
                               ema_generator=_variables_by_path(gan.ema_generator),
                               g_optimizer=gan.g_optimizer, d_optimizer=gan.d_optimizer)


def restore_latest(gan, checkpoint_dir):
    """Restore the latest checkpoint in `checkpoint_dir` into `gan`; returns its path or None."""
    latest = tf.train.latest_checkpoint(checkpoint_dir)
    if latest:
        _read_checkpoint(gan, latest)
    return latest


def _read_checkpoint(gan, path):
    checkpoint = make_checkpoint(gan)
    checkpoint.save_counter  # created lazily; made here so that every saved value has a home
    checkpoint.read(path).assert_consumed()


def sample_latents(config, num, seed):
    """The fixed latents of the sample grids."""
    return rng.normal(tf.constant([seed, -1], tf.int64), [num, config.latent_dim]).numpy()


class TrainingCallback(keras.callbacks.Callback):
    """Logs, summaries, sample grids, checkpoints and the NaN guard, once per chunk of steps.

    Each Keras "epoch" is `log_every` steps, so everything here runs every `log_every` steps
    and no host sync happens inside a chunk.
    """

    def __init__(self, cfg, manager, writer, is_chief, extractor=None):
        super().__init__()
        self.cfg, self.manager, self.writer, self.is_chief = cfg, manager, writer, is_chief
        self.extractor = extractor
        self.real_stats = None
        self.z = None
        self.chunk_start = None

    def on_epoch_begin(self, epoch, logs=None):
        self.chunk_start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        cfg, logs = self.cfg, dict(logs or {})
        step = int(self.model.g_optimizer.iterations.numpy())
        elapsed = time.perf_counter() - self.chunk_start
        images_per_s = cfg.log_every * cfg.batch_size / max(elapsed, 1e-9)
        bad = {k: v for k, v in logs.items() if "loss" in k and not math.isfinite(v)}
        if bad:
            self.model.stop_training = True
            raise FloatingPointError(
                f"Non-finite loss at step {step}: {bad}. Stopped; the last good checkpoint "
                f"({self.manager.latest_checkpoint}) is left as it was.")
        lr = float(self.model.g_optimizer.learning_rate.numpy())
        logging.info("step %d  kimg %.1f  %.1f img/s  %s", step, step * cfg.batch_size / 1000,
                     images_per_s, "  ".join(f"{k} {v:.4f}" for k, v in sorted(logs.items())))
        with self.writer.as_default(step=step):
            for name, value in logs.items():
                tf.summary.scalar(f"train/{name}", value)
            tf.summary.scalar("train/images_per_second", images_per_s)
            tf.summary.scalar("train/learning_rate", lr)
            tf.summary.scalar("train/kimg", step * cfg.batch_size / 1000)
        last = step >= cfg.total_steps
        if step % cfg.sample_every == 0 or last:
            self.write_samples(step)
        if cfg.kid_every and (step % cfg.kid_every == 0 or last) and self.is_chief:
            self.write_kid(step)
        if step % cfg.checkpoint_every == 0 or last:
            self.manager.save(checkpoint_number=step)
            logging.info("Saved checkpoint %s", self.manager.latest_checkpoint)
        self.writer.flush()

    def write_kid(self, step):
        """KID of the EMA generator on `kid_samples` images (cheap; real stats cached)."""
        from vitgan_tf import evaluate

        cfg, gan = self.cfg, self.model
        if self.real_stats is None:
            size = gan.vitgan_config.image_size
            split = evaluate.reference_split(cfg.dataset)
            cache = evaluate.real_stats_cache_path(os.path.join(cfg.workdir, "stats"),
                                                   cfg.dataset, size, self.extractor,
                                                   cfg.kid_samples, cfg.data_dir, split)
            self.real_stats = evaluate.real_statistics(
                data_lib.image_source(cfg.dataset, size, cfg.data_dir, split), self.extractor,
                cfg.kid_samples, 50, cache)
        results = evaluate.evaluate(
            gan.ema_generator, self.real_stats, self.extractor, ["kid"], cfg.kid_samples,
            batch_size=50, kid_subsets=50, kid_subset_size=min(1000, cfg.kid_samples),
            seed=cfg.seed)
        kid, kid_std = results["kid"], results["kid_std"]
        logging.info("step %d  KID %.5f +- %.5f (%s, %d samples)", step, kid, kid_std,
                     self.extractor.name, cfg.kid_samples)
        with self.writer.as_default(step=step):
            tf.summary.scalar(f"eval/kid_{self.extractor.name}", kid)

    def write_samples(self, step):
        gan = self.model
        if self.z is None:
            self.z = sample_latents(gan.vitgan_config, self.cfg.num_samples, self.cfg.seed)
        images = gan.ema_generator(self.z, training=False)
        grid = image_grid(images)
        with self.writer.as_default(step=step):
            tf.summary.image("samples/ema_generator", grid[None], step=step)
        if self.is_chief:
            sample_dir = os.path.join(self.cfg.workdir, "samples")
            os.makedirs(sample_dir, exist_ok=True)
            save_png(grid, os.path.join(sample_dir, f"step_{step:08d}.png"))
            save_png(grid, os.path.join(sample_dir, "latest.png"))


def _is_chief(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    return resolver.task_type in ("chief", None) or (
        resolver.task_type == "worker" and resolver.task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict())


def _write_dir(workdir, strategy, is_chief):
    # Non-chief workers write their (identical) checkpoints to a private temp dir.
    if is_chief:
        return workdir
    return os.path.join(workdir, "tmp_workers", f"worker_{strategy.cluster_resolver.task_id}")


def save_run_config(cfg, workdir):
    """Write config.json; on resume, refuse a run whose model differs from the saved one."""
    path = os.path.join(workdir, "config.json")
    model = model_config(cfg).to_dict()
    if os.path.exists(path):
        with open(path) as f:
            saved = json.load(f)
        if saved.get("model") != model:
            raise ValueError(
                f"--preset={cfg.preset!r} does not match the model of the run in {workdir} "
                f"(saved preset {saved.get('train', {}).get('preset')!r}); use a new --workdir.")
    with open(path + ".tmp", "w") as f:
        json.dump({"train": dataclasses.asdict(cfg), "model": model}, f, indent=2)
    os.replace(path + ".tmp", path)


def train(cfg, dataset=None):
    """Train (or resume) a ViTGAN run in `cfg.workdir`. Returns the trained ViTGAN.

    dataset: optional replacement for the configured data (a tf.data.Dataset of image batches
    of the global batch size), for tests and custom data; or a zero-argument callable returning
    one, which is called after the distribution strategy exists. Use the callable form with
    MultiWorkerMirroredStrategy: it must be created before the process runs any TF op, and
    building a dataset runs some.
    """
    validate(cfg)
    keras.config.set_dtype_policy(cfg.mixed_precision)
    strategy = make_strategy(cfg.strategy)
    is_chief = _is_chief(strategy)
    os.makedirs(cfg.workdir, exist_ok=True)
    if is_chief:
        save_run_config(cfg, cfg.workdir)
    model_cfg = model_config(cfg)
    if callable(dataset):
        dataset = dataset()
    if dataset is None:
        dataset = data_lib.make_dataset(cfg.dataset, model_cfg.image_size, cfg.batch_size,
                                        cfg.data_dir, seed=cfg.seed,
                                        channels=model_cfg.channels)
    logging.info("Strategy %s with %d replica(s); global batch %d", type(strategy).__name__,
                 strategy.num_replicas_in_sync, cfg.batch_size)
    if cfg.batch_size % strategy.num_replicas_in_sync:
        raise ValueError(f"--batch_size={cfg.batch_size}: expected a multiple of the "
                         f"{strategy.num_replicas_in_sync} replicas.")
    with strategy.scope():
        gan = build_gan(cfg)
    write_dir = _write_dir(cfg.workdir, strategy, is_chief)
    manager = tf.train.CheckpointManager(make_checkpoint(gan),
                                         os.path.join(write_dir, "checkpoints"),
                                         max_to_keep=cfg.keep_checkpoints)
    restored = restore_latest(gan, os.path.join(cfg.workdir, "checkpoints"))
    step = int(gan.g_optimizer.iterations.numpy())
    if restored:
        logging.info("Resumed from %s at step %d", restored, step)
    if step >= cfg.total_steps:
        logging.info("Already at step %d >= --total_steps=%d; nothing to do.", step,
                     cfg.total_steps)
        return gan
    if step % cfg.log_every:
        raise ValueError(f"Checkpoint step {step} is not a multiple of --log_every="
                         f"{cfg.log_every}; resume with the --log_every it was trained with.")
    writer = tf.summary.create_file_writer(os.path.join(write_dir, "logs"))
    extractor = None
    if cfg.kid_every and is_chief:
        from vitgan_tf import features

        extractor = features.make_extractor(cfg.kid_extractor, cfg.inception_path,
                                            cfg.inception_weights)
    callback = TrainingCallback(cfg, manager, writer, is_chief, extractor)
    epochs = math.ceil(cfg.total_steps / cfg.log_every)
    gan.fit(dataset, steps_per_epoch=cfg.log_every, epochs=epochs,
            initial_epoch=step // cfg.log_every, callbacks=[callback], verbose=0,
            shuffle=False)  # the tf.data pipeline shuffles
    logging.info("Done: step %d. Samples in %s, checkpoints in %s, TensorBoard logs in %s",
                 int(gan.g_optimizer.iterations.numpy()), os.path.join(cfg.workdir, "samples"),
                 os.path.join(cfg.workdir, "checkpoints"), os.path.join(cfg.workdir, "logs"))
    return gan


def load_run(workdir, checkpoint=None):
    """The config and trained ViTGAN of the run in `workdir` (for evaluate, sample, export).

    checkpoint: a checkpoint path (e.g. WORKDIR/checkpoints/ckpt-8); default the latest one.
    Returns (TrainConfig, ViTGAN, checkpoint path, step).
    """
    path = os.path.join(workdir or "", "config.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--workdir={workdir!r} has no config.json; is it a training run "
                                "directory (python -m vitgan_tf.train --workdir=...)?")
    with open(path) as f:
        saved = json.load(f)
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    cfg = TrainConfig(**{k: v for k, v in saved["train"].items() if k in fields})
    if saved.get("model") != model_config(cfg).to_dict():
        raise ValueError(f"{path}: the saved model differs from preset {cfg.preset!r} of this "
                         "version of vitgan_tf.")
    checkpoint = checkpoint or tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
    if not checkpoint:
        raise FileNotFoundError(f"--workdir={workdir!r} has no checkpoint yet in "
                                f"{os.path.join(workdir, 'checkpoints')}.")
    if not tf.io.gfile.exists(checkpoint + ".index"):
        raise FileNotFoundError(f"--checkpoint={checkpoint!r} does not exist.")
    keras.config.set_dtype_policy("float32")
    gan = build_gan(dataclasses.replace(cfg, jit_compile=False))
    _read_checkpoint(gan, checkpoint)
    return cfg, gan, checkpoint, int(gan.g_optimizer.iterations.numpy())
