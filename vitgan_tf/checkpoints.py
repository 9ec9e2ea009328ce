"""Checkpoints of a run: what they hold, saving the best, and restoring past damage.

    WORKDIR/checkpoints/ckpt-N   G, D, EMA G (every weight, ISN state included), both optimizers
    WORKDIR/checkpoints/damaged/ newer checkpoints that did not restore, moved aside, never deleted
    WORKDIR/checkpoints/best/    the checkpoint with the lowest in-training FD (best.json says
                                 which), outside the rotation; `--checkpoint=best` reads it
"""

import gc
import glob
import json
import logging as pylogging
import os
import re
import shutil
import time

import numpy as np
import tensorflow as tf
from absl import logging

from vitgan_tf import metrics_log
from vitgan_tf.errors import RunError, short_error

CHECKPOINTS = "checkpoints"
BEST = "best"  # checkpoints/best/ and --checkpoint=best


class CheckpointError(RunError):
    """A checkpoint that does not exist or does not restore, with what to do about it."""


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


# Where a checkpoint keeps the count of images trained on (written since 0.5).
IMAGES_KEY = "progress/images/.ATTRIBUTES/VARIABLE_VALUE"


def make_checkpoint(gan, progress=True):
    """Checkpoint of G, D, EMA G (all weights, ISN state included), both optimizers and
    (`progress`) the count of images trained on, `gan.images_seen`.

    The optimizers' iteration counters are the training step and, with the run seed, the whole
    random state: every random draw in the train step is a stateless function of them.
    progress=False: the layout of checkpoints written before the image count was kept.
    """
    parts = dict(generator=_variables_by_path(gan.generator),
                 discriminator=_variables_by_path(gan.discriminator),
                 ema_generator=_variables_by_path(gan.ema_generator),
                 g_optimizer=gan.g_optimizer, d_optimizer=gan.d_optimizer)
    if progress:
        parts["progress"] = tf.train.Checkpoint(images=gan.images_seen)
    return tf.train.Checkpoint(**parts)


def images_seen(path, default=None):
    """The count of images trained on that checkpoint `path` holds; `default` for a
    checkpoint written before it was kept (or one that cannot be read)."""
    try:
        reader = tf.train.load_checkpoint(path)
        if reader.has_tensor(IMAGES_KEY):
            return int(reader.get_tensor(IMAGES_KEY))
    except (tf.errors.OpError, ValueError):
        pass
    return default


class NonFiniteWeights(ValueError):
    """A model whose weights hold NaN or infinity: it draws black (or NaN) images."""


def non_finite_weights(model):
    """The paths of `model`'s floating-point weights that hold a NaN or an infinity."""
    return [w.path for w in model.weights
            if w.dtype in ("float16", "bfloat16", "float32", "float64")
            and not np.all(np.isfinite(np.asarray(w.numpy(), np.float32)))]


def check_finite(where, **models):
    """Raise NonFiniteWeights naming `where` (a checkpoint, a step) and the first bad weights
    when a model given by name holds a NaN or an infinity."""
    for name, model in models.items():
        bad = non_finite_weights(model)
        if bad:
            raise NonFiniteWeights(
                f"{where}: non-finite weights (NaN or inf) in the {name}: {', '.join(bad[:3])}"
                + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
                + f" ({len(bad)} of {len(model.weights)} tensors)")


def read_checkpoint(gan, path, batch_size=None):
    """Reads a training checkpoint into `gan`; NonFiniteWeights when a model's weights in it
    hold NaN or infinity (a resume would train on, and keep, a broken model).

    A checkpoint written before the image count was kept sets `gan.images_seen` to its step
    times `batch_size` (the batch size it was trained with; default: unknown, left at 0)."""
    progress = images_seen(path) is not None
    checkpoint = make_checkpoint(gan, progress=progress)
    _ = checkpoint.save_counter  # created lazily; made so that every saved value has a home
    checkpoint.read(path).assert_consumed()
    if not progress:
        step = int(gan.g_optimizer.iterations.numpy())
        gan.images_seen.assign(step * (batch_size or 0))
    check_finite(path, generator=gan.generator, discriminator=gan.discriminator,
                 ema_generator=gan.ema_generator)


def read_generator(generator, path, which="ema_generator"):
    """Reads one generator of a training checkpoint into `generator`: the EMA one (what
    sample, evaluate and export use) or, with which="generator", the trained weights;
    NonFiniteWeights when they hold NaN or infinity."""
    if which not in ("ema_generator", "generator"):
        raise ValueError(f"which: expected 'ema_generator' or 'generator', got {which!r}.")
    tf.train.Checkpoint(**{which: _variables_by_path(generator)}).read(
        path).expect_partial().assert_existing_objects_matched()
    check_finite(path, **{which: generator})


def probe(read, target, path):
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
        raise CheckpointError(": expected a checkpoint path such as "
                       "WORKDIR/checkpoints/ckpt-1000.", argument="checkpoint", value=path)
    return int(match.group(1))


def checkpoint_files(checkpoint_dir):
    """{step: [files]} of every ckpt-N in `checkpoint_dir`, intact or not."""
    found = {}
    for path in glob.glob(os.path.join(glob.escape(checkpoint_dir), "ckpt-*")):
        match = re.match(r"ckpt-(\d+)\.(index|data-\d+-of-\d+)$", os.path.basename(path))
        if match:
            found.setdefault(int(match.group(1)), []).append(path)
    return found


def _candidates(checkpoint_dir):
    """Checkpoint paths with an index file, newest first."""
    return [os.path.join(checkpoint_dir, f"ckpt-{step}")
            for step, files in sorted(checkpoint_files(checkpoint_dir).items(), reverse=True)
            if any(f.endswith(".index") for f in files)]


def restore_latest(target, checkpoint_dir, read=read_checkpoint, model="this model"):
    """Restore the newest checkpoint in `checkpoint_dir` that reads completely into `target`.

    Damaged or unreadable newer checkpoints are skipped with a warning that says why; nothing
    is deleted. The `checkpoint` state file is not needed (it may be missing or garbled).
    Returns (path, [(skipped path, reason)]); path is None when the folder has no checkpoint
    data at all. Raises RunError when it has some but none restores.
    """
    skipped = []
    for path in _candidates(checkpoint_dir):
        why = probe(read, target, path)
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
        raise CheckpointError(
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
    for temp in glob.glob(os.path.join(glob.escape(checkpoint_dir), "ckpt-*_temp")):
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


def _best_files(folder):
    """{step: prefix} of the complete checkpoints (index and data) in checkpoints/best/."""
    return {step: os.path.join(folder, f"ckpt-{step}")
            for step, files in checkpoint_files(folder).items()
            if any(f.endswith(".index") for f in files)
            and any(".data-" in f for f in files)}


def best_record(workdir, repair=False):
    """The run's best checkpoint as {"step", "fd", "path"}, or None when it has none.

    best.json names it. When best.json is damaged, the record is rebuilt from what is on disk:
    the complete checkpoints in checkpoints/best/ and their FDs in metrics.jsonl (the lowest
    wins); with `repair`, best.json is rewritten. A damaged best.json that cannot be rebuilt
    raises CheckpointError in one line: a better checkpoint is never silently forgotten.
    The record's "missing" is True when best.json names files that are gone."""
    folder = os.path.join(workdir, CHECKPOINTS, BEST)
    path = os.path.join(folder, "best.json")
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            record = json.load(f)
        record = {"step": int(record["step"]), "fd": float(record["fd"]),
                  "checkpoint": str(record["checkpoint"])}
    except (OSError, ValueError, KeyError, TypeError) as error:
        record = _rebuild_best(workdir, folder, short_error(error))
        if repair:
            _write_best_json(folder, record)
    record["path"] = os.path.join(folder, record["checkpoint"])
    record["missing"] = not os.path.exists(record["path"] + ".index")
    return record


def _rebuild_best(workdir, folder, why):
    fds = {}
    for row in metrics_log.read_rows(workdir):
        if isinstance(row.get("step"), int) and isinstance(row.get("fd"), (int, float)):
            fds[row["step"]] = float(row["fd"])
    found = _best_files(folder)
    scored = sorted((fds[step], step) for step in found if step in fds)
    if not scored:
        raise CheckpointError(
            f"{os.path.join(folder, 'best.json')} is damaged ({why}) and cannot be rebuilt: "
            + (f"{metrics_log.FILE} has no FD for {', '.join(f'ckpt-{s}' for s in sorted(found))}"
               if found else "checkpoints/best/ holds no complete checkpoint")
            + ". Restore best.json from a backup, or delete checkpoints/best/ to start the "
            "record over.")
    fd, step = scored[0]
    logging.warning("%s was damaged (%s); rebuilt from %s and the files present: the best is "
                    "ckpt-%d (FD %.3f).", os.path.join(folder, "best.json"), why, metrics_log.FILE,
                    step, fd)
    return {"step": step, "fd": fd, "checkpoint": f"ckpt-{step}"}


def _write_best_json(folder, record):
    path = os.path.join(folder, "best.json")
    with open(path + ".tmp", "w") as f:
        json.dump({k: record[k] for k in ("step", "fd", "checkpoint")}, f)
    os.replace(path + ".tmp", path)


def save_best(gan, workdir, step, fd):
    """Write the GAN's state as checkpoints/best/ckpt-<step>, then best.json (atomically), then
    remove the other checkpoints of best/: at every moment best.json names a complete
    checkpoint. A save that fails (a full disk) leaves the previous best as it was, removes
    what it wrote, and raises OSError in one line."""
    folder = os.path.join(workdir, CHECKPOINTS, BEST)
    prefix = os.path.join(folder, f"ckpt-{step}")
    try:
        os.makedirs(folder, exist_ok=True)
        prefix = make_checkpoint(gan).write(prefix)
        _write_best_json(folder, {"step": step, "fd": fd,
                                  "checkpoint": os.path.basename(prefix)})
    except (OSError, tf.errors.OpError) as error:
        escaped = glob.escape(prefix)
        for partial in glob.glob(escaped + ".*") + glob.glob(escaped + "_temp*") + glob.glob(
                os.path.join(glob.escape(folder), "*.tmp")):
            if os.path.isdir(partial):
                shutil.rmtree(partial, ignore_errors=True)
            else:
                os.remove(partial)
        raise OSError(f"Could not write the best checkpoint (step {step}, FD {fd:.3f}) in "
                      f"{folder} ({short_error(error)}); is the disk full? The previous best "
                      "and the run's checkpoints are intact.") from None
    for other, old in _best_files(folder).items():
        if other != step:
            for path in glob.glob(glob.escape(old) + ".*"):
                os.remove(path)
    logging.info("Best FD so far (%.3f at step %d): kept as %s", fd, step, prefix)
    return prefix
