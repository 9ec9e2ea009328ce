"""Keras callbacks for ViTGAN training, one job each; `train_lib.train` composes them in `fit`,
and each works on its own with a plain `gan.fit(...)` in a notebook.

`train` runs `fit` with one Keras "epoch" per `log_every` steps, so the epoch-end hooks below
run every `log_every` steps and no host sync happens inside a chunk. Steps are read from the
generator optimizer's iteration counter, so they continue across resumes.
"""

import math
import os
import signal
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from vitgan_tf import checkpoints, metrics_log
from vitgan_tf import images as images_lib


def _step(model):
    return int(model.g_optimizer.iterations.numpy())


def _kimg(model, step, batch_size):
    """Thousands of images trained on: the GAN's own count (`ViTGAN.images_seen`, which a
    resume with another batch size continues), else step times the batch size."""
    if hasattr(model, "images_seen"):
        return model.kimg()
    return step * (batch_size or 0) / 1000


def _every(step, every, last):
    return bool(every) and (step % every == 0 or last)


class Recluster(keras.callbacks.Callback):
    """Self-conditioning's reclustering (`ViTGAN.recluster`) of a fixed set of real images at
    every step that is a multiple of `every` (step 0 included) and whenever the discriminator
    has no centres yet. The centres are discriminator weights and the shares generator weights,
    so a resumed run continues with the clusters it had.

    Args:
        images: (n, H, W, C) float32 real images in [-1, 1].
        every: steps between reclusterings (a multiple of the fit's epoch length).
        seed: k-means' seed (plus the step).
        writer: optional `tf.summary` writer for the smallest and largest shares.
    """

    def __init__(self, images, every, seed=0, writer=None):
        super().__init__()
        self.images, self.every, self.seed, self.writer = images, every, seed, writer

    def on_epoch_begin(self, epoch, logs=None):
        step = _step(self.model)
        if step % self.every and np.any(self.model.discriminator.cluster_centres.numpy()):
            return
        start = time.perf_counter()
        shares = self.model.recluster(self.images, seed=self.seed + step)
        logging.info("step %d: %d real images in %d clusters, shares %.1f%%-%.1f%% (%.1f s)",
                     step, len(self.images), len(shares), 100 * shares.min(),
                     100 * shares.max(), time.perf_counter() - start)
        if self.writer is not None:
            with self.writer.as_default(step=step):
                tf.summary.scalar("self_cond/smallest_share", shares.min())
                tf.summary.scalar("self_cond/largest_share", shares.max())


class ProgressLogger(keras.callbacks.Callback):
    """The progress line, the train/* TensorBoard scalars, and the NaN guard.

    A non-finite loss, or a NaN or infinity in the EMA generator's weights (what every tool
    draws with), stops training with FloatingPointError before any later callback (put this
    one first) can save a checkpoint, so the last good one is kept.

    Args:
        writer: a `tf.summary` writer, or None for the log line alone.
        batch_size: global batch size, for images/s (kimg is the GAN's `images_seen`).
        last_checkpoint: optional callable returning the latest checkpoint path, for messages.
    """

    def __init__(self, writer, batch_size, last_checkpoint=None):
        super().__init__()
        self.writer, self.batch_size = writer, batch_size
        self.last_checkpoint = last_checkpoint or (lambda: None)
        self._start = self._start_step = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._start_step = time.perf_counter(), _step(self.model)

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: float(np.mean(v)) for k, v in (logs or {}).items()}
        step = _step(self.model)
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        images_per_s = (step - self._start_step) * self.batch_size / elapsed
        bad = {k: v for k, v in logs.items() if "loss" in k and not math.isfinite(v)}
        what = "loss"
        if not bad and hasattr(self.model, "ema_generator"):
            what, bad = "weights", checkpoints.non_finite_weights(self.model.ema_generator)
            bad = f"NaN or inf in the EMA generator's {', '.join(bad[:3])}" if bad else None
        if bad:
            self.model.stop_training = True
            raise FloatingPointError(
                f"Non-finite {what} at step {step}: {bad}. Stopped; the last good checkpoint "
                f"({self.last_checkpoint()}) is left as it was.")
        kimg = _kimg(self.model, step, self.batch_size)
        logging.info("step %d  kimg %.1f  %.1f img/s  %s", step, kimg, images_per_s,
                     "  ".join(f"{k} {v:.4f}" for k, v in sorted(logs.items())))
        if self.writer is None:
            return
        with self.writer.as_default(step=step):
            for name, value in logs.items():
                tf.summary.scalar(f"train/{name}", value)
            tf.summary.scalar("train/images_per_second", images_per_s)
            tf.summary.scalar("train/learning_rate",
                              float(self.model.g_optimizer.learning_rate.numpy()))
            tf.summary.scalar("train/kimg", kimg)
        self.writer.flush()


class SampleGrid(keras.callbacks.Callback):
    """Writes a grid of the EMA generator's images at fixed latents every `every` steps. A
    conditional generator's grid has one row per class, num_samples // classes (1 to 10)
    columns, and the same latents in every row.

    Args:
        every: steps between grids.
        sample_dir: folder for step_<N>.png and latest.png; None: TensorBoard only.
        writer: `tf.summary` writer for the samples/ema_generator image, or None.
        num_samples, seed: the grid's latents are those of seeds seed .. seed + num - 1.
        total_steps: a grid is also written at this last step.
    """

    def __init__(self, every, sample_dir=None, writer=None, num_samples=64, seed=0,
                 total_steps=None):
        super().__init__()
        self.every, self.sample_dir, self.writer = every, sample_dir, writer
        self.num_samples, self.seed, self.total_steps = num_samples, seed, total_steps

    def on_epoch_end(self, epoch, logs=None):
        step = _step(self.model)
        if _every(step, self.every, step == self.total_steps):
            self.write(step)

    def write(self, step):
        generator = self.model.ema_generator
        classes = generator.vitgan_config.user_classes
        # Conditional: one row per class, the same seeds in every row (a column is one z).
        columns = min(10, max(1, self.num_samples // classes)) if classes else self.num_samples
        grid = images_lib.class_grid(generator, range(self.seed, self.seed + columns),
                                     range(classes) if classes else None)
        if self.writer is not None:
            with self.writer.as_default(step=step):
                tf.summary.image("samples/ema_generator", grid[None], step=step)
        if self.sample_dir:
            os.makedirs(self.sample_dir, exist_ok=True)
            images_lib.save_png(grid, os.path.join(self.sample_dir, f"step_{step:08d}.png"))
            images_lib.save_png(grid, os.path.join(self.sample_dir, "latest.png"))


class QualityMonitor(keras.callbacks.Callback):
    """Scores the EMA generator every `every` steps the way `evaluate` does: the same scoring
    (`scoring.score`) and the same writer (`reports.write`: the report file in WORKDIR/eval,
    TensorBoard tags eval/<key>_<extractor>), and one JSON line per evaluation appended to
    `metrics_path` (the run's history: step, the numbers, whether the FD is the best so far).
    When the FD is the lowest so far, `on_best` is called with (step, fd): the training loop
    keeps that checkpoint as the run's best.

    Args:
        every: steps between evaluations.
        extractor: a `vitgan_tf.features` extractor.
        real_stats: a callable of `stop` returning (real statistics, split, settings), as
            `real_stats.for_settings` does; called once, at the first evaluation (and again
            at the next if a signal stopped it).
        settings: the `scoring.Settings` of the evaluations.
        metric_names: the metrics (keys of `scoring.METRICS`); "fid" among them.
        workdir, dataset: where the reports go, and what they are about.
        writer: `tf.summary` writer, or None (reports.write opens one on WORKDIR/logs).
        total_steps: also evaluate at this last step.
        metrics_path: the metrics.jsonl file, or None.
        on_best: callable (step, fd), or None.
        best_fd: the best FD of the run so far (a resumed run passes it on).
        batch_size: global batch size, for the kimg column of a model without
            `images_seen`.
        stop: optional zero-argument callable asked between batches of an evaluation; when
            it returns True (a SIGTERM: a preemption notice may be 30 s) the evaluation is
            given up, nothing is logged for it, and training stops at once.
        other_extractors: more judges: each scores the generator too (its own report, its
            numbers in the metrics row as <name>_<key>); `real_stats` is then also called
            with `extractor=` each of them. The best checkpoint is `extractor`'s.
    """

    def __init__(self, every, extractor, real_stats, settings, metric_names=("fid", "kid"),
                 workdir=None, dataset=None, writer=None, total_steps=None, metrics_path=None,
                 on_best=None, best_fd=math.inf, batch_size=None, stop=None,
                 other_extractors=()):
        super().__init__()
        self.others = list(other_extractors)
        self._other_real = {}
        self.every, self.extractor, self._real_stats = every, extractor, real_stats
        self.settings, self.metric_names = settings, tuple(metric_names)
        self.workdir, self.dataset, self.writer = workdir, dataset, writer
        self.total_steps, self.metrics_path = total_steps, metrics_path
        self.on_best, self.best_fd, self.batch_size, self.stop = on_best, best_fd, batch_size, stop
        self.real = self.split = None
        self._start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        step = _step(self.model)
        if _every(step, self.every, step == self.total_steps):
            self.evaluate(step)

    def evaluate(self, step):
        from vitgan_tf import reports, scoring

        try:
            if self.real is None:
                self.real, self.split, self.settings = self._real_stats(stop=self.stop)
            for other in self.others:
                if other.name not in self._other_real:
                    self._other_real[other.name] = self._real_stats(stop=self.stop,
                                                                    extractor=other)[0]
            # With more than one judge, the images are drawn once and scored by each.
            images = (scoring.generated_images(self.model.ema_generator, self.settings,
                                               self.stop) if self.others else None)
            drawn = {"images": images} if self.others else {}
            results = scoring.score(self.model.ema_generator, self.real, self.extractor,
                                    self.metric_names, self.settings, stop=self.stop, **drawn)
            other_results = {
                other.name: scoring.score(self.model.ema_generator,
                                          self._other_real[other.name], other,
                                          self.metric_names, self.settings, stop=self.stop,
                                          **drawn)
                for other in self.others}
        except scoring.Stopped:
            logging.warning("Stopped the evaluation of step %d to save at once.", step)
            self.model.stop_training = True
            return None
        fd, name = float(results["fd"]), self.extractor.name
        numbers = reports.scalars(results)
        logging.info("step %d  %s (%s, %d samples)", step, "  ".join(
            f"{key} {value:.5g}" for key, value in numbers.items()), name,
            self.settings.num_samples)
        if self.workdir:
            reports.write(self.workdir, step, results, settings=self.settings,
                          extractor_name=name, dataset=self.dataset, split=self.split,
                          writer=self.writer, during_training=True)
        for other, found in other_results.items():
            scalars = reports.scalars(found)
            logging.info("step %d  %s (%s)", step, "  ".join(
                f"{key} {value:.5g}" for key, value in scalars.items()), other)
            numbers.update({f"{other}_{key}": value for key, value in scalars.items()})
            if self.workdir:
                reports.write(self.workdir, step, found, settings=self.settings,
                              extractor_name=other, dataset=self.dataset, split=self.split,
                              writer=self.writer, during_training=True)
        best = math.isfinite(fd) and fd < self.best_fd
        try:
            if best and self.on_best is not None:
                self.on_best(step, fd)  # first: the row says best only once it is on disk
        except OSError:
            best = False
            raise
        finally:
            self._append_row(step, numbers, best)
        if best:
            self.best_fd = fd
        return results

    def _append_row(self, step, numbers, best):
        if self.metrics_path:
            row = {"step": step, **numbers, "extractor": self.extractor.name,
                   "num_samples": self.settings.num_samples, "best": best,
                   "seconds": round(time.time() - self._start, 1)}
            if self.batch_size or hasattr(self.model, "images_seen"):
                row["kimg"] = _kimg(self.model, step, self.batch_size)
            metrics_log.append_row(self.metrics_path, row)


class Checkpointer(keras.callbacks.Callback):
    """Saves a checkpoint through a `tf.train.CheckpointManager` every `every` steps and at
    `total_steps`, numbered by the step."""

    def __init__(self, manager, every, total_steps=None):
        super().__init__()
        self.manager, self.every, self.total_steps = manager, every, total_steps

    def on_epoch_end(self, epoch, logs=None):
        step = _step(self.model)
        if _every(step, self.every, step == self.total_steps):
            self.save(step)

    def save(self, step):
        try:
            path = self.manager.save(checkpoint_number=step)
        except (OSError, tf.errors.OpError) as error:
            raise OSError(f"Could not write checkpoint {step} in {self.manager.directory} "
                          f"({error}); is the disk full or read-only? The checkpoints already "
                          "there are intact.") from None
        logging.info("Saved checkpoint %s", path)
        return path


class StopOnSignal(keras.callbacks.Callback):
    """On SIGINT or SIGTERM, finish the running step and stop training (cloud machines are
    preempted with SIGTERM); a second signal changes nothing (SIGKILL stops at once).
    `signal_received` tells the caller which signal it was, so that it can save a checkpoint
    and exit. The previous handlers are put back when training ends."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        super().__init__()
        self.signal_received = None
        self._previous = {}

    def _handle(self, signum, frame):
        # A second signal (a preemption notice is often repeated) is taken like the first:
        # raising from a handler would leave the run without its checkpoint.
        if self.signal_received is not None:
            logging.warning("Got %s again: already stopping and saving.",
                            signal.Signals(signum).name)
            return
        self.signal_received = signum
        logging.warning("Got %s: stopping after this step (or this evaluation's batch) and "
                        "saving a checkpoint.", signal.Signals(signum).name)

    def on_train_begin(self, logs=None):
        try:
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        except ValueError:  # not the main thread: signals cannot be caught here
            self._previous = {}

    def on_train_batch_end(self, batch, logs=None):
        if self.signal_received is not None:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous = {}
