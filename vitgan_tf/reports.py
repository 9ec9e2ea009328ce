"""Where scores go: one writer for `evaluate` and training's monitor. Each evaluation is a JSON
report, WORKDIR/eval/step_<N>_<extractor>_n<samples>_psi<psi>_<settings hash>.json, and one
TensorBoard scalar per number, tag eval/<key>_<extractor> (eval/fd_fashion_classifier), at
the step of the generator scored.

A later evaluation of the same step, extractor and settings adds its metrics to that file and
replaces only the ones it recomputed; other settings get a file of their own, so each number
keeps the settings it was computed with.
"""

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import tempfile

import numpy as np
import tensorflow as tf
from absl import logging

from vitgan_tf import features
from vitgan_tf.errors import RunError

REPORTS_DIR = "eval"
LOGS_DIR = "logs"


def report_path(out_dir, step, extractor_name, settings):
    """eval/step_<N>_<extractor>_n<samples>_psi<psi>_<hash of all settings>.json."""
    digest = hashlib.sha256(json.dumps(dataclasses.asdict(settings), sort_keys=True)
                            .encode()).hexdigest()[:8]
    return os.path.join(out_dir, f"step_{step:08d}_{extractor_name}_n{settings.num_samples}_"
                        f"psi{settings.truncation_psi:g}_{digest}.json")


def scalars(results):
    """The numbers of `results` that are single values (not per-class lists)."""
    return {key: float(value) for key, value in results.items() if np.ndim(value) == 0}


def tag(key, extractor_name):
    """The TensorBoard tag of a metric key: eval/<key>_<extractor>."""
    return f"eval/{key}_{extractor_name}"


def write(workdir, step, results, *, settings, extractor_name, dataset, split, checkpoint=None,
          writer=None, during_training=False):
    """Write one evaluation: the JSON report (merged into the file of the same step, extractor
    and settings) and the TensorBoard scalars (with `writer`, else a writer on WORKDIR/logs).
    Returns (report, path)."""
    out_dir = check_reports_dir(workdir)
    os.makedirs(out_dir, exist_ok=True)
    path = report_path(out_dir, step, extractor_name, settings)
    with _locked(out_dir):  # evaluate and training may write one report at once
        report = _merge(path, {
            "step": step, "checkpoint": checkpoint, "during_training": during_training,
            "dataset": dataset, "extractor": extractor_name,
            "paper_comparable": extractor_name == features.FIDInception.name,
            "reference_split": split, "settings": dataclasses.asdict(settings),
            "num_samples": settings.num_samples, "real_samples": settings.real_samples,
            "truncation_psi": settings.truncation_psi, **results})
    own = writer is None
    if own:
        writer = tf.summary.create_file_writer(os.path.join(workdir, LOGS_DIR))
    with writer.as_default():
        for key, value in scalars(results).items():
            tf.summary.scalar(tag(key, extractor_name), value, step=step)
    writer.flush()
    if own:
        writer.close()
    logging.info("Wrote %s", path)
    return report, path


def check_reports_dir(workdir):
    """WORKDIR/eval, or RunError in one line when something other than a folder has the name
    (training checks it before its first step)."""
    out_dir = os.path.join(workdir, REPORTS_DIR)
    if os.path.lexists(out_dir) and not os.path.isdir(out_dir):
        raise RunError(f"{out_dir} is not a folder: evaluation reports are written there. "
                       "Move it away.")
    return out_dir


@contextlib.contextmanager
def _locked(folder):
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _merge(path, new):
    """The report at `path` updated with `new` (same settings: the metrics this evaluation
    skips are kept), written through a temporary file of this process's own."""
    report = {}
    if os.path.exists(path):
        try:
            with open(path) as f:
                report = json.load(f)
        except (OSError, ValueError):
            report = {}
    report.update(new)
    fd, temp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".report_", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(report, f, indent=2)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temp)
        raise
    return report
