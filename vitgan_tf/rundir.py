"""A training run's directory: its config.json, and loading what it trained.

    WORKDIR/config.json          the TrainConfig and the model config (written once a run starts)
    WORKDIR/checkpoints/ckpt-N   G, D, EMA G (every weight, ISN state included), both optimizers
    WORKDIR/checkpoints/damaged/ newer checkpoints that did not restore, moved aside, never deleted
    WORKDIR/checkpoints/best/    the checkpoint with the lowest in-training FD (best.json says
                                 which), outside the rotation; `--checkpoint=best` reads it
    WORKDIR/metrics.jsonl        one line per in-training evaluation (FD, KID)
    WORKDIR/samples/, logs/      sample grids and TensorBoard events (written by the callbacks)

Sample, evaluate and export read runs through `load_generator`, which builds and restores the EMA
generator alone; `load_run` restores the whole GAN for training code. Reading and checking
config.json needs no TensorFlow: the tools refuse a bad run directory before they import it.
"""

import dataclasses
import json
import os
import re

from absl import logging

import vitgan_tf
from vitgan_tf import metrics_log
from vitgan_tf.config import DATASETS, fits_type, from_dict, type_name
from vitgan_tf.errors import RunError, check_run_path, short_error
from vitgan_tf.models.config import ViTGANConfig, get_config

METRICS_FILE = metrics_log.FILE


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
        raise RunError(f"{path}: cannot be read ({short_error(error)}); restore "
                       "it from a backup, or delete it to take the run's settings from the flags "
                       "again.") from None
    return saved


def _saved_model(workdir, saved):
    """The saved model section as a ViTGANConfig; RunError naming the file, and the field
    where one is wrong, if it is not one."""
    model = saved["model"]
    try:
        return get_config(dict(model))
    except (ValueError, TypeError) as error:
        why = str(error)
        fields = {f.name: f for f in dataclasses.fields(ViTGANConfig)}
        wrong = [k for k, v in model.items() if k in fields
                 and not fits_type(fields[k], v)] if isinstance(model, dict) else []
        if wrong:  # name the field: the dataclass's own error may not
            why = "; ".join(f"\"{k}\" is {model[k]!r}, expected {type_name(fields[k])}"
                            for k in wrong)
    raise RunError(f"{os.path.join(workdir, 'config.json')}: its \"model\" section is not a "
                   f"valid model config of this version of vitgan_tf ({why}); fix the "
                   "file or use a new --workdir.")


def _release(version):
    """(major, minor, patch) of a version string such as 0.4.0; None if it is not one."""
    match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", str(version))
    return tuple(int(part or 0) for part in match.groups()) if match else None


def check_version(workdir, saved):
    """Refuse to resume a run written by a newer release of vitgan_tf (its file may hold
    settings this one reads otherwise, and resuming would relabel it as this version's); a
    newer patch release only gets a warning."""
    theirs, ours = _release(saved.get("version")), _release(vitgan_tf.__version__)
    if theirs is None or ours is None or theirs <= ours:
        return
    path = os.path.join(workdir, "config.json")
    if theirs[:2] > ours[:2]:
        raise RunError(f"{path} was written by vitgan_tf {saved['version']}, newer than this "
                       f"{vitgan_tf.__version__}: resume it with that version (pip install "
                       f"'vitgan_tf>={saved['version']}'), or use a new --workdir.")
    logging.warning("%s was written by vitgan_tf %s, a newer patch release than this %s.",
                    path, saved["version"], vitgan_tf.__version__)


def check_resume(run):
    """Refuse to resume a run with a model other than the saved one (nothing is written), and
    say which fields differ. run: a `build.Run`."""
    cfg = run.train_cfg
    saved = read_config(cfg.workdir)
    if saved is None:
        return
    if is_generator_only(cfg.workdir):
        raise RunError(f" holds a trained generator alone ({GENERATOR_FILE}: no discriminator, "
                       "no checkpoints), which sample, project, evaluate, export and the page "
                       "read; train in a new --workdir.", argument="workdir", value=cfg.workdir)
    check_version(cfg.workdir, saved)
    # Both sides normalised: a run saved before a field existed compares with its default.
    old, new = _saved_model(cfg.workdir, saved).to_dict(), run.model_cfg.to_dict()
    changed = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    if {"num_classes", "self_conditioned"} & set(changed):
        # Set by --conditional and the data, or by --self_cond_clusters, not by a model flag.
        def describe(model):
            n = model.get("num_classes") or 0
            if model.get("self_conditioned"):
                return f"self-conditioned on {n} clusters (--self_cond_clusters={n})"
            return f"conditional on {n} classes" if n else "unconditional"

        if new.get("self_conditioned"):
            now = f"these flags would make it {describe(new)}"
        elif new.get("num_classes"):
            now = f"--conditional on --dataset={cfg.dataset} would make it {describe(new)}"
        elif old.get("self_conditioned"):
            now = f"resuming it needs --self_cond_clusters={old['num_classes']}"
        else:
            now = "resuming it needs --conditional"
        changed_classes = (old.get("num_classes") and new.get("num_classes")
                           and not (old.get("self_conditioned") or new.get("self_conditioned")))
        raise RunError(
            f"The run in {cfg.workdir} is {describe(old)}; {now}"
            + (" (the data's classes changed)" if changed_classes else "")
            + "; resume with the run's settings or use a new --workdir.")
    if changed:
        shown = "; ".join(f"{k}: saved {old.get(k)!r}, now {new.get(k)!r}" for k in changed[:4])
        more = f" and {len(changed) - 4} more" if len(changed) > 4 else ""
        raise RunError(
            f"{_model_flags(cfg)} does not match the model of the run "
            f"in {cfg.workdir} ({shown}{more}); use the run's settings or a new --workdir.",
            argument="preset", value=cfg.preset)


def _model_flags(cfg):
    return "".join(f" --model.{k}={v!r}" for k, v in sorted(cfg.model.items())
                   if k != "num_classes")  # from --conditional and the data, not a flag


def check_classes(run):
    """Refuse to resume a conditional run whose data's class names differ from the saved ones
    (config.json's "classes" are the run's truth: class id i is names[i]); names what differs.
    """
    cfg, classes = run.train_cfg, run.class_names
    saved = load_classes(cfg.workdir)
    if saved is None or classes is None or list(saved) == list(classes):
        return
    gone = [c for c in saved if c not in classes]
    new = [c for c in classes if c not in saved]
    what = "; ".join(part for part in (
        f"missing {', '.join(map(repr, gone))}" if gone else "",
        f"new {', '.join(map(repr, new))}" if new else "",
        "the same names in another order" if not gone and not new else "") if part)
    raise RunError(
        f": its classes ({', '.join(map(str, classes))}) are not "
        f"the run's ({', '.join(map(str, saved))}, in {os.path.join(cfg.workdir, 'config.json')}"
        f"): {what}. Class ids would shift; restore the class folders' names or use a new "
        "--workdir.", argument="data_dir", value=cfg.data_dir)


def write_config(run, init_from=None):
    """Write config.json atomically; called once the run is known to start. run: a `build.Run`
    (a conditional run's class names are saved: id i is classes[i]). init_from: a fine-tuning
    run's source (`finetune.initialize`'s record), kept as "init_from" from then on."""
    cfg = run.train_cfg
    path = os.path.join(cfg.workdir, "config.json")
    saved = {"version": vitgan_tf.__version__, "train": dataclasses.asdict(cfg),
             "model": run.model_cfg.to_dict()}
    if run.class_names is not None:
        saved["classes"] = list(run.class_names)
    if init_from is not None:
        saved["init_from"] = init_from
    old = read_config(cfg.workdir) or {}
    # What a user added to the file is kept: their own top-level keys as they are; fields of
    # the train and model sections that this version does not know are said to be dropped.
    saved.update({k: v for k, v in old.items() if k not in ("version", "train", "model",
                                                            "classes") and k not in saved})
    for section in ("train", "model"):
        unknown = sorted(set(old.get(section) or {}) - set(saved[section]))
        if unknown:
            logging.warning("%s: not settings of this version, so not kept: %s (in \"%s\"; "
                            "keys of your own at the top level of the file are kept).", path,
                            ", ".join(unknown), section)
    with open(path + ".tmp", "w") as f:
        json.dump(saved, f, indent=2)
    os.replace(path + ".tmp", path)


def load_classes(workdir):
    """The class names of the conditional run in `workdir` (id i is names[i]), or None for an
    unconditional run."""
    saved = read_config(workdir)
    return None if saved is None else saved.get("classes")


def load_config(workdir):
    """(TrainConfig, ViTGANConfig) of the run in `workdir`. The model config is the one saved
    with the run, so runs of an earlier version of a preset still load."""
    if not workdir or not os.path.isdir(workdir):
        raise RunError(" is not a directory; give a training run "
                       "directory (python -m vitgan_tf.train --workdir=...).",
                       argument="workdir", value=workdir)
    check_run_path(workdir, error=RunError)
    saved = read_config(workdir)
    if saved is None:
        raise RunError(" has no config.json; is it a training run "
                       "directory (python -m vitgan_tf.train --workdir=...)?",
                       argument="workdir", value=workdir)
    try:
        cfg = from_dict(saved["train"])
    except TypeError as error:
        raise RunError(f"{os.path.join(workdir, 'config.json')}: its \"train\" section is not "
                       f"a training config ({error}); fix the file.") from None
    if cfg.dataset not in DATASETS:  # what sample/evaluate read of the train section
        raise RunError(f"{os.path.join(workdir, 'config.json')}: \"train\".\"dataset\" is "
                       f"{cfg.dataset!r}; expected one of {', '.join(DATASETS)}. Fix the "
                       "file.")
    return dataclasses.replace(cfg, workdir=workdir), _saved_model(workdir, saved)


def _resolve_checkpoint(workdir, checkpoint, target, read):
    import tensorflow as tf

    from vitgan_tf import checkpoints

    checkpoint_dir = os.path.join(workdir, checkpoints.CHECKPOINTS)
    if checkpoint == checkpoints.BEST:
        record = checkpoints.best_record(workdir)
        if record is None:
            raise RunError(f"--checkpoint=best: {workdir} has no best checkpoint "
                           f"({os.path.join(checkpoint_dir, checkpoints.BEST, 'best.json')}); "
                           "it is kept by runs trained with --eval_every.")
        if record["missing"]:
            raise RunError(f"--checkpoint=best: best.json names {record['path']} (step "
                           f"{record['step']}, FD {record['fd']:.3f}), whose files are gone; "
                           "resuming the run keeps its next evaluation as the best.")
        checkpoint = record["path"]
    if not checkpoint:
        path, _ = checkpoints.restore_latest(target, checkpoint_dir, read,
                                 model=f"the model of {os.path.join(workdir, 'config.json')}")
        if path is None:
            raise RunError(f" has no checkpoint yet in {checkpoint_dir}.",
                           argument="workdir", value=workdir)
        return path
    if os.path.isdir(checkpoint):
        raise RunError(f" is a folder; give one checkpoint, e.g. "
                       f"{os.path.join(checkpoint, 'ckpt-1000')} (no extension).",
                       argument="checkpoint", value=checkpoint)
    checkpoint = re.sub(r"\.(index|data-\d+-of-\d+)$", "", checkpoint)
    if not tf.io.gfile.exists(checkpoint + ".index"):
        raise RunError(f" does not exist (no {checkpoint}.index).",
                       argument="checkpoint", value=checkpoint)
    why = checkpoints.probe(read, target, checkpoint)
    if why is not None:
        raise RunError(f" does not restore: {why}", argument="checkpoint", value=checkpoint)
    return checkpoint


def load_run(workdir, checkpoint=None):
    """The config and trained ViTGAN (G, D, EMA G, optimizers) of the run in `workdir`.

    checkpoint: a checkpoint path (e.g. WORKDIR/checkpoints/ckpt-8, or its .index file);
    default the newest one that restores. Returns (TrainConfig, ViTGAN, checkpoint path, step).
    """
    from vitgan_tf import checkpoints
    from vitgan_tf.build import build_gan

    cfg, model = load_config(workdir)
    gan = build_gan(dataclasses.replace(cfg, jit_compile=False, mixed_precision="float32"),
                    model)
    path = _resolve_checkpoint(workdir, checkpoint, gan, checkpoints.read_checkpoint)
    return cfg, gan, path, int(gan.g_optimizer.iterations.numpy())


def load_generator(workdir, checkpoint=None):
    """The EMA generator alone (float32) of the run in `workdir`: no discriminator, no
    optimizers. Returns (TrainConfig, Generator, checkpoint path, step). A generator-only
    folder (`write_generator_only`: config.json and GENERATOR_FILE) loads from that file."""
    from vitgan_tf import checkpoints
    from vitgan_tf.models.generator import Generator

    cfg, model = load_config(workdir)
    generator = Generator(model, dtype="float32", name="ema_generator")
    if is_generator_only(workdir):
        if checkpoint:
            raise RunError(f" holds one generator ({GENERATOR_FILE}) and no checkpoints; drop "
                           "--checkpoint.", argument="workdir", value=workdir)
        path = os.path.join(workdir, GENERATOR_FILE)
        return cfg, generator, path, read_generator_only(generator, path)
    path = _resolve_checkpoint(workdir, checkpoint, generator, checkpoints.read_generator)
    return cfg, generator, path, checkpoints.checkpoint_step(path)


# A generator-only folder: the EMA generator's weights in float16, by Keras path, and the step.
GENERATOR_FILE = "ema_generator.npz"


def is_generator_only(workdir):
    """Whether `workdir` is a generator-only folder (a trained model shipped without its
    checkpoints, e.g. pretrained/fashion_mnist)."""
    return os.path.isfile(os.path.join(workdir, GENERATOR_FILE)) and not os.path.isdir(
        os.path.join(workdir, "checkpoints"))


def write_generator_only(workdir, out, generator, path, step):
    """Writes `generator`, the EMA generator of the run in `workdir` read from checkpoint
    `path` at `step` (`load_generator`), to `out` as a generator-only folder: config.json (the
    run's, with the source recorded) and GENERATOR_FILE (float16 weights: half the bytes; the
    images differ from the float32 generator's by about a grey level). Returns the weights
    file's path."""
    import numpy as np

    weights = {w.path: np.asarray(w.numpy(), np.float16) for w in generator.weights}
    os.makedirs(out, exist_ok=True)
    target = os.path.join(out, GENERATOR_FILE)
    with open(target + ".tmp", "wb") as f:
        np.savez_compressed(f, __step__=np.int64(step), **weights)
    os.replace(target + ".tmp", target)
    saved = read_config(workdir)
    saved["train"]["workdir"] = out
    saved["generator_only"] = {"source": os.path.abspath(path), "step": step,
                               "dtype": "float16"}
    with open(os.path.join(out, "config.json.tmp"), "w") as f:
        json.dump(saved, f, indent=2)
    os.replace(os.path.join(out, "config.json.tmp"), os.path.join(out, "config.json"))
    return target


def read_generator_only(generator, path):
    """Sets `generator`'s weights from a GENERATOR_FILE; returns its step. RunError naming the
    file when it does not hold every weight of this generator."""
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as saved:
            values = {key: saved[key] for key in saved.files}
    except (OSError, ValueError) as error:
        raise RunError(f"{path}: cannot be read ({short_error(error)}).") from None
    for weight in generator.weights:
        value = values.get(weight.path)
        if value is None or value.shape != tuple(weight.shape):
            raise RunError(f"{path}: no weight {weight.path} of shape {tuple(weight.shape)} "
                           "(a file of another model?).")
        weight.assign(value.astype(np.float32))
    return int(values.get("__step__", 0))
