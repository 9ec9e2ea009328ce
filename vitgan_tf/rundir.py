"""A training run's directory: its config, its checkpoints, and loading what it trained.

    WORKDIR/config.json          the TrainConfig and the model config (written once a run starts)
    WORKDIR/checkpoints/ckpt-N   G, D, EMA G (every weight, ISN state included), both optimizers
    WORKDIR/checkpoints/damaged/ newer checkpoints that did not restore, moved aside, never deleted
    WORKDIR/checkpoints/best/    the checkpoint with the lowest in-training FD (best.json says
                                 which), outside the rotation; `--checkpoint=best` reads it
    WORKDIR/metrics.jsonl        one line per in-training evaluation (FD, KID)
    WORKDIR/samples/, logs/      sample grids and TensorBoard events (written by the callbacks)

Sample, evaluate and export read runs through `load_generator`, which builds and restores the EMA
generator alone; `load_run` restores the whole GAN for training code.
"""

import dataclasses
import gc
import glob
import json
import logging as pylogging
import math
import os
import re
import shutil
import time

import keras
import tensorflow as tf
from absl import logging

from vitgan_tf import augment, data
from vitgan_tf.features import EXTRACTORS
from vitgan_tf.models import Generator, ViTGAN, get_config

CHECKPOINTS = "checkpoints"
BEST = "best"  # checkpoints/best/ and --checkpoint=best
METRICS_FILE = "metrics.jsonl"


class RunError(ValueError):
    """A run directory that cannot be used as asked, with what to do about it."""


def _field(default, help_text):
    return dataclasses.field(default=default, metadata={"help": help_text})


@dataclasses.dataclass
class TrainConfig:
    """Everything a training run needs. `train.py` makes one flag per field, with its help."""

    workdir: str = _field(
        "", "Run directory: checkpoints, TensorBoard logs, samples. An existing one resumes.")
    dataset: str = _field(
        "digits", "digits (embedded demo), fashion_mnist / mnist (IDX files), folder "
        "(--data_dir of images), cifar10, celeb_a, lsun_bedroom (tfds).")
    data_dir: str | None = _field(
        None, "Image folder for --dataset=folder; IDX folder for fashion_mnist (default "
        "/usr/share/datasets/fashion-mnist) and mnist; tfds data_dir for tfds datasets.")
    preset: str = _field("digits", "Model size: 32, 64, 128, fashion, digits or tiny.")
    model_overrides: str = _field(
        "", "Comma-separated field=value changes to the preset's ViTGANConfig, e.g. "
        "d_qk_init_std=0.05,decoder_omega_0=4 (ablations, experiments).")
    batch_size: int = _field(32, "Global batch size (split across replicas).")
    total_steps: int = _field(1000, "Training steps (one D and one G update each).")
    lr: float = _field(0.002, "Adam learning rate of the generator (and of the "
                       "discriminator unless --d_lr is set).")
    d_lr: float = _field(0.0, "Adam learning rate of the discriminator; 0: --lr. StyleGAN2's "
                         "equalized-lr discriminator trains at 0.002-0.0025.")
    beta1: float = _field(0.0, "Adam beta_1.")
    beta2: float = _field(0.99, "Adam beta_2.")
    warmup_steps: int = _field(0, "Linear learning-rate warmup steps (0: none).")
    d_steps: int = _field(1, "Discriminator steps per generator step.")
    bcr_real: float = _field(10.0, "bCR weight lambda_real.")
    bcr_fake: float = _field(10.0, "bCR weight lambda_fake.")
    augment_policy: str = _field(
        "color,scale,translation,cutout",
        "DiffAugment policy: comma-separated color,scale,translation,cutout; empty: none.")
    augment_probability: float = _field(0.8, "Per-sample probability of each augmentation.")
    ema_half_life_kimg: float = _field(10.0, "Generator EMA half-life in thousands of images.")
    r1_gamma: float = _field(
        0.0, "R1 penalty weight on real images (0: off, the ViT discriminator default; the "
        "StyleGAN2 discriminator needs it).")
    r2_gamma: float = _field(0.0, "R2 penalty weight: the same penalty on generated images.")
    r1_interval: int = _field(
        1, "Lazy regularization: R1/R2 every N steps, weighted by N (StyleGAN2 uses 16).")
    loss: str = _field("ns", "GAN loss: ns (non-saturating, the paper's) or rpgan "
                       "(relativistic pairing, R3GAN's).")
    mixed_precision: str = _field("float32", "float32, mixed_float16 or mixed_bfloat16.")
    jit_compile: bool = _field(False, "XLA-compile the train step.")
    strategy: str = _field(
        "auto", "auto (MultiWorker from TF_CONFIG, Mirrored on >1 GPU), default, mirrored, "
        "multi_worker.")
    cluster_timeout: float = _field(
        600.0, "Seconds a multi-worker run waits for every task of TF_CONFIG's cluster to "
        "start before it stops with an error naming the missing ones; 0 waits forever.")
    log_every: int = _field(50, "Steps between progress lines and TensorBoard scalars.")
    checkpoint_every: int = _field(500, "Steps between checkpoints (a multiple of --log_every).")
    sample_every: int = _field(500, "Steps between sample grids (a multiple of --log_every).")
    keep_checkpoints: int = _field(3, "Checkpoints kept.")
    num_samples: int = _field(64, "Images in each sample grid.")
    kid_every: int = _field(
        0, "Steps between FD and KID evaluations of the EMA generator (0: off; a multiple of "
        "--log_every). Logged to TensorBoard (eval/fd_<extractor>, eval/kid_<extractor>) and "
        "WORKDIR/metrics.jsonl; the checkpoint of the lowest FD is kept in checkpoints/best.")
    kid_samples: int = _field(2000, "Generated and real images for the in-training FD and KID.")
    kid_extractor: str = _field(
        "keras_inception", "fid_inception (2015 graph, --inception_path), keras_inception or "
        "fashion_classifier (Fashion-MNIST domain metric).")
    inception_path: str = _field("", "classify_image_graph_def.pb for fid_inception.")
    inception_weights: str = _field(
        "imagenet", "keras_inception weights: imagenet, a file, or none (random; tests).")
    seed: int = _field(0, "Run seed (0 <= seed < 2**63).")

    def validate(self):
        """Raise ValueError naming the flag for any bad value, before any work is done."""
        def need(ok, flag, expected):
            if not ok:
                raise ValueError(f"--{flag}={getattr(self, flag)!r}: expected {expected}.")

        def finite(flag):
            value = getattr(self, flag)
            return isinstance(value, (int, float)) and math.isfinite(value)

        need(bool(self.workdir), "workdir", "a run directory")
        need(self.dataset in data.SOURCES, "dataset", f"one of {data.SOURCES}")
        need(self.dataset != "folder" or bool(self.data_dir), "data_dir", "a folder of images")
        need(self.dataset != "mnist" or bool(self.data_dir), "data_dir",
             "the folder of MNIST's four *-ubyte.gz files")
        if self.dataset == "digits" and self.data_dir:
            raise ValueError(f"--data_dir={self.data_dir!r}: --dataset=digits is built in and "
                             "reads no files; for a folder of images add --dataset=folder.")
        need(self.batch_size >= 1, "batch_size", "a positive integer")
        need(self.total_steps >= 1, "total_steps", "a positive integer")
        for flag in ("lr", "beta1", "beta2", "bcr_real", "bcr_fake", "r1_gamma", "r2_gamma",
                     "augment_probability", "ema_half_life_kimg"):
            need(finite(flag), flag, "a finite number")
        need(self.lr > 0, "lr", "a positive number")
        need(finite("d_lr") and self.d_lr >= 0, "d_lr", "0 (the --lr) or a positive number")
        need(0 <= self.beta1 < 1, "beta1", "a number in [0, 1)")
        need(0 <= self.beta2 < 1, "beta2", "a number in [0, 1)")
        need(self.warmup_steps >= 0, "warmup_steps", "an integer >= 0")
        need(self.d_steps >= 1, "d_steps", "a positive integer")
        need(self.bcr_real >= 0, "bcr_real", "a number >= 0")
        need(self.bcr_fake >= 0, "bcr_fake", "a number >= 0")
        need(self.r1_gamma >= 0, "r1_gamma", "a number >= 0")
        need(self.r2_gamma >= 0, "r2_gamma", "a number >= 0")
        need(self.r1_interval >= 1, "r1_interval", "a positive integer")
        need(self.loss in ("ns", "rpgan"), "loss", "ns or rpgan")
        need(0 <= self.augment_probability <= 1, "augment_probability", "a number in [0, 1]")
        need(self.ema_half_life_kimg > 0, "ema_half_life_kimg", "a positive number")
        need(self.mixed_precision in ("float32", "mixed_float16", "mixed_bfloat16"),
             "mixed_precision", "float32, mixed_float16 or mixed_bfloat16")
        need(self.strategy in ("auto", "default", "mirrored", "multi_worker"), "strategy",
             "auto, default, mirrored or multi_worker")
        need(finite("cluster_timeout") and self.cluster_timeout >= 0, "cluster_timeout",
             "a number of seconds >= 0 (0: no limit)")
        need(self.log_every >= 1, "log_every", "a positive integer")
        for flag in ("checkpoint_every", "sample_every"):
            need(getattr(self, flag) >= 1 and getattr(self, flag) % self.log_every == 0, flag,
                 f"a positive multiple of --log_every={self.log_every}")
        need(self.keep_checkpoints >= 1, "keep_checkpoints", "a positive integer")
        need(self.num_samples >= 1, "num_samples", "a positive integer")
        need(self.kid_every >= 0 and self.kid_every % self.log_every == 0, "kid_every",
             "0 (off) or a multiple of --log_every")
        need(self.kid_samples >= 2, "kid_samples", "an integer >= 2")
        need(self.kid_extractor in EXTRACTORS, "kid_extractor",
             f"one of {', '.join(EXTRACTORS)}")
        need(0 <= self.seed < 2**63, "seed", "an integer in [0, 2**63)")
        try:
            get_config(self.preset)
        except ValueError as e:
            raise ValueError(f"--preset={self.preset!r}: {e}") from None
        try:
            model_config(self)
        except (ValueError, TypeError) as e:
            raise ValueError(f"--model_overrides={self.model_overrides!r}: {e}") from None
        try:
            augment.parse_policy(self.augment_policy)
        except ValueError as e:
            raise ValueError(f"--augment_policy={self.augment_policy!r}: {e}") from None


def parse_overrides(text, config):
    """"field=value,..." -> {field: value} typed as `config`'s current values."""
    changes = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not hasattr(config, name):
            raise ValueError(f"expected field=value pairs of ViTGANConfig fields, got {item!r}")
        current = getattr(config, name)
        if value.lower() == "none" and not isinstance(current, str):
            changes[name] = None
        elif isinstance(current, bool):
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError(f"{name} takes true or false, got {value!r}")
            changes[name] = value.lower() in ("true", "1")
        elif isinstance(current, int):
            changes[name] = int(value)
        elif current is None:  # An optional field: its declared type says int or float.
            declared = str(next(f.type for f in dataclasses.fields(config) if f.name == name))
            changes[name] = int(value) if declared.startswith("int") else float(value)
        elif isinstance(current, float):
            changes[name] = float(value)
        else:
            changes[name] = value
    return changes


def model_config(cfg):
    """The run's ViTGANConfig: its preset with `model_overrides` applied."""
    base = get_config(cfg.preset)
    return base.replace(**parse_overrides(cfg.model_overrides, base))


# -- the GAN and its optimizers ------------------------------------------------------------------


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


def make_optimizer(cfg, lr=None):
    opt = keras.optimizers.Adam(LinearWarmup(lr or cfg.lr, cfg.warmup_steps), beta_1=cfg.beta1,
                                beta_2=cfg.beta2)
    if cfg.mixed_precision == "mixed_float16":
        opt = keras.optimizers.LossScaleOptimizer(opt)
    return opt


def build_gan(cfg, model=None):
    """ViTGAN compiled with both optimizers, in the run's dtype policy (passed to the models,
    never set globally); call inside the strategy's scope. model: the ViTGANConfig, default
    `model_config(cfg)`."""
    gan = ViTGAN(model or model_config(cfg), augment_policy=cfg.augment_policy,
                 augment_probability=cfg.augment_probability, bcr_real=cfg.bcr_real,
                 bcr_fake=cfg.bcr_fake, r1_gamma=cfg.r1_gamma, r2_gamma=cfg.r2_gamma,
                 r1_interval=cfg.r1_interval, loss=cfg.loss,
                 ema_half_life_kimg=cfg.ema_half_life_kimg, d_steps=cfg.d_steps, seed=cfg.seed,
                 dtype=cfg.mixed_precision)
    gan.compile(g_optimizer=make_optimizer(cfg), d_optimizer=make_optimizer(cfg, cfg.d_lr),
                jit_compile=cfg.jit_compile)
    return gan


# -- checkpoints ----------------------------------------------------------------------------------


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


def _read_checkpoint(gan, path):
    checkpoint = make_checkpoint(gan)
    _ = checkpoint.save_counter  # created lazily; made so that every saved value has a home
    checkpoint.read(path).assert_consumed()


def _read_generator(generator, path):
    tf.train.Checkpoint(ema_generator=_variables_by_path(generator)).read(
        path).expect_partial().assert_existing_objects_matched()


def _probe(read, target, path):
    """read(target, path); None if it restored, else why not, in one line.

    A read that fails leaves TF's restore-status objects behind, and when they are collected
    (often at exit, after our error line) TensorFlow logs one warning per value of the
    checkpoint that found no home: hundreds of lines that buried the error. They are collected
    here, with TensorFlow's Python logger quiet; nothing of the failure outlives this call."""
    tf_logger = pylogging.getLogger("tensorflow")
    level = tf_logger.level
    tf_logger.setLevel(pylogging.ERROR)
    try:
        try:
            read(target, path)
            return None
        except (tf.errors.OpError, ValueError, AssertionError, OSError, IndexError) as error:
            why = short_error(error)
        gc.collect()  # the error and its frames are gone: collect the statuses now
        return why
    finally:
        tf_logger.setLevel(level)


def checkpoint_step(path):
    """N of a checkpoint path ".../ckpt-N"."""
    match = re.search(r"ckpt-(\d+)$", path)
    if not match:
        raise RunError(f"--checkpoint={path!r}: expected a checkpoint path such as "
                       "WORKDIR/checkpoints/ckpt-1000.")
    return int(match.group(1))


def checkpoint_files(checkpoint_dir):
    """{step: [files]} of every ckpt-N in `checkpoint_dir`, intact or not."""
    found = {}
    for path in glob.glob(os.path.join(checkpoint_dir, "ckpt-*")):
        match = re.match(r"ckpt-(\d+)\.(index|data-\d+-of-\d+)$", os.path.basename(path))
        if match:
            found.setdefault(int(match.group(1)), []).append(path)
    return found


def _candidates(checkpoint_dir):
    """Checkpoint paths with an index file, newest first."""
    return [os.path.join(checkpoint_dir, f"ckpt-{step}")
            for step, files in sorted(checkpoint_files(checkpoint_dir).items(), reverse=True)
            if any(f.endswith(".index") for f in files)]


def short_error(error):
    text = getattr(error, "message", None) or str(error) or type(error).__name__
    return text.strip().splitlines()[0][:300]


def restore_latest(target, checkpoint_dir, read=_read_checkpoint, model="this model"):
    """Restore the newest checkpoint in `checkpoint_dir` that reads completely into `target`.

    Damaged or unreadable newer checkpoints are skipped with a warning that says why; nothing
    is deleted. The `checkpoint` state file is not needed (it may be missing or garbled).
    Returns (path, [(skipped path, reason)]); path is None when the folder has no checkpoint
    data at all. Raises RunError when it has some but none restores.
    """
    skipped = []
    for path in _candidates(checkpoint_dir):
        why = _probe(read, target, path)
        if why is not None:
            skipped.append((path, why))
            continue
        for bad, why in skipped:
            logging.warning("Skipped checkpoint %s, which does not restore (%s); it is left on "
                            "disk.", bad, why)
        return path, skipped
    if checkpoint_files(checkpoint_dir):
        details = "; ".join(f"{os.path.basename(p)}: {why}" for p, why in skipped) or (
            "no checkpoint has its .index file")
        raise RunError(
            f"{checkpoint_dir} holds checkpoint files but none restores into {model} "
            f"({details}). If the run's settings changed, use the ones it was trained with or a "
            "new --workdir; if the files are damaged, move them away to start over.")
    return None, []


def set_aside_newer(checkpoint_dir, step):
    """Move the files of every ckpt-N with N > step (damaged: they did not restore) into
    checkpoints/damaged/, so that training on from `step` never overwrites them. Also removes
    the ckpt-N_temp folders that an interrupted save leaves. Returns the moved files."""
    moved = []
    for n, files in checkpoint_files(checkpoint_dir).items():
        if n <= step:
            continue
        target = os.path.join(checkpoint_dir, "damaged", time.strftime("%Y%m%d-%H%M%S"))
        os.makedirs(target, exist_ok=True)
        for path in files:
            shutil.move(path, os.path.join(target, os.path.basename(path)))
            moved.append(path)
    if moved:
        logging.warning("Moved %d files of checkpoints newer than step %d, which did not "
                        "restore, to %s", len(moved), step,
                        os.path.join(checkpoint_dir, "damaged"))
    for temp in glob.glob(os.path.join(checkpoint_dir, "ckpt-*_temp")):
        shutil.rmtree(temp, ignore_errors=True)
    return moved


def rewrite_state(checkpoint_dir):
    """Rewrite the `checkpoint` state file from the intact checkpoints on disk (it may be
    missing or garbled), so that CheckpointManager sees and rotates them.

    Each checkpoint gets its index file's time, and the "last preserved" time is set before
    the oldest: CheckpointManager only ever deletes recovered checkpoints newer than that time,
    so without them (as a state file without timestamps has) `--keep_checkpoints` would never
    remove the checkpoints that existed when the run restarted."""
    paths = list(reversed(_candidates(checkpoint_dir)))
    if paths:
        times = [os.path.getmtime(path + ".index") for path in paths]
        tf.compat.v1.train.update_checkpoint_state(
            checkpoint_dir, paths[-1], paths, all_model_checkpoint_timestamps=times,
            last_preserved_timestamp=min(times) - 1.0)


def best_record(workdir):
    """The run's best checkpoint as {"step", "fd", "path"}, or None when it has none."""
    path = os.path.join(workdir, CHECKPOINTS, BEST, "best.json")
    try:
        with open(path) as f:
            record = json.load(f)
        record["path"] = os.path.join(workdir, CHECKPOINTS, BEST, record["checkpoint"])
        return record
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_best(gan, workdir, step, fd):
    """Write the GAN's state as checkpoints/best/ckpt-<step>, then best.json (atomically), then
    remove the previous best: at every moment best.json names a complete checkpoint."""
    folder = os.path.join(workdir, CHECKPOINTS, BEST)
    os.makedirs(folder, exist_ok=True)
    previous = best_record(workdir)
    prefix = make_checkpoint(gan).write(os.path.join(folder, f"ckpt-{step}"))
    record = os.path.join(folder, "best.json")
    with open(record + ".tmp", "w") as f:
        json.dump({"step": step, "fd": fd, "checkpoint": os.path.basename(prefix)}, f)
    os.replace(record + ".tmp", record)
    if previous and os.path.basename(previous["path"]) != os.path.basename(prefix):
        for old in glob.glob(previous["path"] + ".*"):
            os.remove(old)
    logging.info("Best FD so far (%.3f at step %d): kept as %s", fd, step, prefix)
    return prefix


# -- config.json ---------------------------------------------------------------------------------


def read_config(workdir):
    """The saved {"train": ..., "model": ...} of a run, or None when there is none."""
    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            saved = json.load(f)
        saved["train"], saved["model"]  # noqa: B018 - both keys must be there
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise RunError(f"{path}: cannot be read ({short_error(error)}); restore it from a "
                       "backup, or delete it to take the run's settings from the flags "
                       "again.") from None
    return saved


def _saved_model(workdir, saved):
    """The saved model section as a ViTGANConfig; RunError naming the file if it is not one."""
    try:
        return get_config(dict(saved["model"]))
    except (ValueError, TypeError) as error:
        raise RunError(f"{os.path.join(workdir, 'config.json')}: its \"model\" section is not a "
                       f"valid model config of this version of vitgan_tf ({error}); fix the "
                       "file or use a new --workdir.") from None


def check_resume(cfg):
    """Refuse to resume a run with a model other than the saved one (nothing is written), and
    say which fields differ."""
    saved = read_config(cfg.workdir)
    if saved is None:
        return
    # Both sides normalised: a run saved before a field existed compares with its default.
    old, new = _saved_model(cfg.workdir, saved).to_dict(), model_config(cfg).to_dict()
    changed = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    if changed:
        shown = "; ".join(f"{k}: saved {old.get(k)!r}, now {new.get(k)!r}" for k in changed[:4])
        more = f" and {len(changed) - 4} more" if len(changed) > 4 else ""
        raise RunError(
            f"--preset={cfg.preset!r} (with --model_overrides={cfg.model_overrides!r}) does not "
            f"match the model of the run in {cfg.workdir} ({shown}{more}); use the run's "
            "settings or a new --workdir.")


def write_config(cfg):
    """Write config.json atomically; called once the run is known to start."""
    path = os.path.join(cfg.workdir, "config.json")
    with open(path + ".tmp", "w") as f:
        json.dump({"train": dataclasses.asdict(cfg), "model": model_config(cfg).to_dict()}, f,
                  indent=2)
    os.replace(path + ".tmp", path)


def load_config(workdir):
    """(TrainConfig, ViTGANConfig) of the run in `workdir`. The model config is the one saved
    with the run, so runs of an earlier version of a preset still load."""
    if not workdir or not os.path.isdir(workdir):
        raise RunError(f"--workdir={workdir!r} is not a directory; give a training run "
                       "directory (python -m vitgan_tf.train --workdir=...).")
    saved = read_config(workdir)
    if saved is None:
        raise RunError(f"--workdir={workdir!r} has no config.json; is it a training run "
                       "directory (python -m vitgan_tf.train --workdir=...)?")
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    cfg = TrainConfig(**{k: v for k, v in saved["train"].items() if k in fields})
    if cfg.dataset not in data.SOURCES:  # what sample/evaluate read of the train section
        raise RunError(f"{os.path.join(workdir, 'config.json')}: \"train\".\"dataset\" is "
                       f"{cfg.dataset!r}; expected one of {', '.join(data.SOURCES)}. Fix the "
                       "file.")
    return dataclasses.replace(cfg, workdir=workdir), _saved_model(workdir, saved)


def _resolve_checkpoint(workdir, checkpoint, target, read):
    checkpoint_dir = os.path.join(workdir, CHECKPOINTS)
    if checkpoint == BEST:
        record = best_record(workdir)
        if record is None:
            raise RunError(f"--checkpoint=best: {workdir} has no best checkpoint "
                           f"({os.path.join(checkpoint_dir, BEST, 'best.json')}); it is kept "
                           "by runs trained with --kid_every.")
        checkpoint = record["path"]
    if not checkpoint:
        path, _ = restore_latest(target, checkpoint_dir, read,
                                 model=f"the model of {os.path.join(workdir, 'config.json')}")
        if path is None:
            raise RunError(f"--workdir={workdir!r} has no checkpoint yet in {checkpoint_dir}.")
        return path
    if os.path.isdir(checkpoint):
        raise RunError(f"--checkpoint={checkpoint!r} is a folder; give one checkpoint, e.g. "
                       f"{os.path.join(checkpoint, 'ckpt-1000')} (no extension).")
    checkpoint = re.sub(r"\.(index|data-\d+-of-\d+)$", "", checkpoint)
    if not tf.io.gfile.exists(checkpoint + ".index"):
        raise RunError(f"--checkpoint={checkpoint!r} does not exist (no {checkpoint}.index).")
    why = _probe(read, target, checkpoint)
    if why is not None:
        raise RunError(f"--checkpoint={checkpoint!r} does not restore: {why}")
    return checkpoint


def load_run(workdir, checkpoint=None):
    """The config and trained ViTGAN (G, D, EMA G, optimizers) of the run in `workdir`.

    checkpoint: a checkpoint path (e.g. WORKDIR/checkpoints/ckpt-8, or its .index file);
    default the newest one that restores. Returns (TrainConfig, ViTGAN, checkpoint path, step).
    """
    cfg, model = load_config(workdir)
    gan = build_gan(dataclasses.replace(cfg, jit_compile=False, mixed_precision="float32"),
                    model)
    path = _resolve_checkpoint(workdir, checkpoint, gan, _read_checkpoint)
    return cfg, gan, path, int(gan.g_optimizer.iterations.numpy())


def load_generator(workdir, checkpoint=None):
    """The EMA generator alone (float32) of the run in `workdir`: no discriminator, no
    optimizers. Returns (TrainConfig, Generator, checkpoint path, step)."""
    cfg, model = load_config(workdir)
    generator = Generator(model, dtype="float32", name="ema_generator")
    path = _resolve_checkpoint(workdir, checkpoint, generator, _read_generator)
    return cfg, generator, path, checkpoint_step(path)
