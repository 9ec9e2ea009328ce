"""The training loop: strategy, data, the GAN, and `fit` with the callbacks.

The settings live in `config`, the GAN and its optimizers in `build`, checkpoints in
`checkpoints`, config.json and loading a run in `rundir`; the callbacks (progress, samples, KID,
checkpoints, signals) in `callbacks`.
"""

import functools
import os

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from vitgan_tf import build, checkpoints, cluster, errors, rundir
from vitgan_tf import callbacks as callbacks_lib
from vitgan_tf import data as data_lib
from vitgan_tf.errors import UserError
from vitgan_tf.workdir_lock import WorkdirLock


class Interrupted(Exception):
    """Training stopped on SIGINT/SIGTERM after saving a checkpoint."""

    def __init__(self, signum, step, checkpoint):
        super().__init__(f"Interrupted at step {step}; saved {checkpoint}. Run the same "
                         "command again to resume.")
        self.signum, self.step, self.checkpoint = signum, step, checkpoint


def make_strategy(name, cluster_timeout=0):
    """The tf.distribute strategy `name` (TrainConfig.strategy). A multi-worker strategy waits
    for the cluster at most `cluster_timeout` seconds (0: forever); see `cluster`."""
    # Nothing may touch the TF context before MultiWorkerMirroredStrategy is created (listing
    # devices does), so that case comes first.
    if name == "multi_worker" or (name == "auto" and os.environ.get("TF_CONFIG")):
        cluster.tf_config()  # refused in one line if it is not a cluster description
        try:
            return cluster.create_with_deadline(tf.distribute.MultiWorkerMirroredStrategy,
                                                cluster_timeout)
        except RuntimeError as error:
            raise RuntimeError(
                "MultiWorkerMirroredStrategy must be created before this process runs any "
                "TensorFlow op; call train() first thing (pass a custom dataset as a "
                "callable).") from error
    cluster.unblock_stop_signals()  # blocked by the CLI only for a cluster's start-up
    gpus = tf.config.list_logical_devices("GPU")
    if name == "mirrored" or (name == "auto" and len(gpus) > 1):
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


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


def monitor_settings(cfg):
    """The `scoring.Settings` of training's in-training evaluations: --eval_samples generated
    and real images, batches of 20 (a preemption signal waits for at most one: 18 s for 50
    Inception images on a busy 2-core machine), 50 KID subsets (half of evaluate's default:
    they run while training waits), latents of the run's seed."""
    from vitgan_tf import scoring

    return scoring.Settings(num_samples=cfg.eval_samples, real_samples=cfg.eval_samples,
                            batch_size=20, kid_subsets=50, seed=cfg.seed % scoring.SEEDS)


def _quality_monitor(cfg, model_cfg, writer, gan, extractors, stop):
    from vitgan_tf import real_stats, scoring

    names, _ = scoring.parse_metrics(cfg.eval_metrics.split(","), cfg.eval_samples)
    settings = monitor_settings(cfg)
    extractor, *others = extractors

    def reference(stop=None, extractor=extractor):
        return real_stats.for_settings(
            cfg.dataset, cfg.data_dir, model_cfg.image_size, extractor, settings,
            os.path.join(cfg.workdir, "stats"),
            num_classes=model_cfg.user_classes if "ifd" in names else 0, stop=stop)

    best = checkpoints.best_record(cfg.workdir, repair=True)
    if best and best["missing"]:
        logging.warning("The best checkpoint %s (step %d, FD %.3f) is gone; the next evaluation "
                        "takes its place.", best["path"], best["step"], best["fd"])
        best = None
    return callbacks_lib.QualityMonitor(
        cfg.eval_every, extractor, reference, settings, names, workdir=cfg.workdir,
        dataset=cfg.dataset, writer=writer, total_steps=cfg.total_steps,
        metrics_path=os.path.join(cfg.workdir, rundir.METRICS_FILE),
        on_best=lambda step, fd: checkpoints.save_best(gan, cfg.workdir, step, fd),
        best_fd=best["fd"] if best else float("inf"), batch_size=cfg.batch_size,
        stop=lambda: stop.signal_received is not None, other_extractors=others)


def _chunks(step, total, every):
    """(steps per epoch, epochs, initial epoch) fits from `step` to `total`, each logging on a
    multiple of `every` or at `total`: a partial head chunk, the aligned chunks, a partial
    tail chunk (a resume after an interruption starts off the grid)."""
    plan = []
    head = min(-step % every, total - step)
    if head:
        plan.append((head, 1, 0))
        step += head
    full = (total - step) // every
    if full:
        plan.append((every, step // every + full, step // every))
        step += full * every
    if total > step:
        plan.append((total - step, 1, 0))
    return plan


def _cluster_images(cfg, model_cfg, custom_data=None):
    """The real images that self-conditioning clusters: --self_cond_images of the training
    data, the same on every worker (the configured data shuffled with the run's seed, or the
    first ones of a custom dataset's batches)."""
    count = cfg.self_cond_images
    if isinstance(custom_data, tf.data.Dataset):
        source = custom_data.unbatch()
        if isinstance(source.element_spec, tuple):
            source = source.map(lambda image, *_: image)
    else:
        source = data_lib.with_channels(data_lib.image_source(
            cfg.dataset, model_cfg.image_size, cfg.data_dir, seed=cfg.seed), model_cfg.channels)
        source = source.shuffle(min(10 * count, 100_000), seed=cfg.seed)
    images = np.stack(list(source.take(count).as_numpy_iterator())).astype(np.float32)
    if len(images) < model_cfg.num_classes:
        raise data_lib.DataError(f": the data has only {len(images)} images.",
                                 argument="self_cond_clusters", value=model_cfg.num_classes)
    return images


def train(cfg, dataset=None):
    """Train (or resume) a ViTGAN run in `cfg.workdir`. Returns the trained ViTGAN.

    dataset: optional replacement for the configured data (a tf.data.Dataset of image batches
    of the global batch size, or of (images, labels) batches for a conditional run), for
    tests and custom data; or a zero-argument callable returning
    one, which is called after the distribution strategy exists. Use the callable form with
    MultiWorkerMirroredStrategy: it must be created before the process runs any TF op, and
    building a dataset runs some. Its tf.data autotuning is turned off (see
    `data.without_autotune`: with it, `fit` could return up to a minute late); its other
    options are kept.

    Nothing is written to the run directory until the run is known to start: the saved config
    matches, a checkpoint restored (or there is none at all), and the data can be read.
    The run holds the directory's lock (`workdir_lock`) from before it reads any checkpoint
    until it returns: a second training on the same directory is refused (`RunError`).
    Raises `Interrupted` after saving a checkpoint when SIGINT or SIGTERM stopped training.
    """
    cfg.validate()
    strategy = make_strategy(cfg.strategy, cfg.cluster_timeout)
    is_chief = _is_chief(strategy)
    if os.path.exists(cfg.workdir) and not os.path.isdir(cfg.workdir):
        raise errors.RunError(" is a file; expected a directory.",
                              argument="workdir", value=cfg.workdir)
    # Workers of a multi-worker run share the directory; the chief owns it.
    with WorkdirLock(cfg.workdir if is_chief else None) as lock:
        return _train(cfg, dataset, strategy, is_chief, lock)


def _train(cfg, dataset, strategy, is_chief, lock):
    # The run, resolved once: a conditional run's classes are the data's.
    run = build.resolve_run(cfg, class_names=data_lib.class_names(cfg.dataset, cfg.data_dir)
                            if cfg.conditional else None)
    rundir.check_resume(run)
    rundir.check_classes(run)
    model_cfg = run.model_cfg
    if callable(dataset):
        dataset = dataset()
    custom_data = dataset
    if dataset is None:
        dataset = data_lib.make_dataset(cfg.dataset, model_cfg.image_size, cfg.batch_size,
                                        cfg.data_dir, seed=cfg.seed,
                                        channels=model_cfg.channels,
                                        with_labels=cfg.conditional)
    if isinstance(dataset, tf.data.Dataset):  # fit returns on time (data.without_autotune)
        dataset = data_lib.without_autotune(dataset)
    # Read before anything is written: too few images must not leave a config.json behind.
    cluster_images = (_cluster_images(cfg, model_cfg, custom_data) if cfg.self_cond_clusters
                      else None)
    logging.info("Strategy %s with %d replica(s); global batch %d", type(strategy).__name__,
                 strategy.num_replicas_in_sync, cfg.batch_size)
    replicas = strategy.num_replicas_in_sync
    if cfg.batch_size % (replicas * model_cfg.d_pack):
        raise UserError(f"--batch_size={cfg.batch_size}: expected a multiple of the "
                        f"{replicas} replicas" + (f" times --model.d_pack={model_cfg.d_pack}"
                                                  if model_cfg.d_pack > 1 else "") + ".")
    # --seed covers the weights' initialisation too: the same command starts the same run.
    keras.utils.set_random_seed(cfg.seed % 2**32)
    with strategy.scope():
        gan = build.build_gan(run)
    if cfg.mixed_precision == "auto":
        logging.info("--mixed_precision=auto: %s on this machine", gan.dtype_policy.name)
    checkpoint_dir = os.path.join(cfg.workdir, checkpoints.CHECKPOINTS)
    # A checkpoint older than the image count takes its step times the batch it was saved with.
    saved = rundir.read_config(cfg.workdir)
    saved_batch = saved["train"].get("batch_size", cfg.batch_size) if saved else cfg.batch_size
    restored, _ = checkpoints.restore_latest(
        gan, checkpoint_dir, functools.partial(checkpoints.read_checkpoint,
                                               batch_size=saved_batch))
    step = int(gan.g_optimizer.iterations.numpy())
    if restored:
        logging.info("Resumed from %s at step %d (%.1f kimg)", restored, step, gan.kimg())
    source = None
    if cfg.init_from and not restored:  # read before anything is written
        from vitgan_tf import finetune

        source = finetune.initialize(gan, cfg.init_from)
    if step >= cfg.total_steps:
        logging.info("Already at step %d >= --total_steps=%d; nothing to do.", step,
                     cfg.total_steps)
        return gan
    extractors = None
    if cfg.eval_every and is_chief:  # a missing extractor stops the run before it writes
        from vitgan_tf import features, reports

        reports.check_reports_dir(cfg.workdir)  # not at the first evaluation, losing its step
        extractors = [features.make_extractor(name, cfg.inception_path, cfg.inception_weights)
                      for name in cfg.eval_extractors()]
    # The run starts: from here on the run directory is written.
    write_dir = _write_dir(cfg.workdir, strategy, is_chief)
    try:
        os.makedirs(write_dir, exist_ok=True)
        lock.acquire()  # a new directory exists only now
        if is_chief:
            rundir.write_config(run, init_from=source)
            checkpoints.set_aside_newer(checkpoint_dir, step)
            checkpoints.rewrite_state(checkpoint_dir)
    except OSError as error:
        raise errors.RunError(f" cannot be written ({error}).",
                              argument="workdir", value=cfg.workdir) from None
    manager = tf.train.CheckpointManager(checkpoints.make_checkpoint(gan),
                                         os.path.join(write_dir, checkpoints.CHECKPOINTS),
                                         max_to_keep=cfg.keep_checkpoints)
    writer = tf.summary.create_file_writer(os.path.join(write_dir, "logs"))
    stop = callbacks_lib.StopOnSignal()
    checkpointer = callbacks_lib.Checkpointer(manager, cfg.checkpoint_every, cfg.total_steps)
    callbacks = [
        callbacks_lib.ProgressLogger(writer, cfg.batch_size, lambda: manager.latest_checkpoint),
        callbacks_lib.SampleGrid(cfg.sample_every,
                                 os.path.join(cfg.workdir, "samples") if is_chief else None,
                                 writer, cfg.grid_size, cfg.seed, cfg.total_steps),
        checkpointer, stop]
    if cfg.self_cond_clusters:  # first: its time is not counted in the training's images/s
        callbacks.insert(0, callbacks_lib.Recluster(
            cluster_images, cfg.self_cond_every, cfg.seed, writer))
    if cfg.eval_every and is_chief:
        callbacks.insert(len(callbacks) - 2, _quality_monitor(
            cfg, model_cfg, writer, gan, extractors, stop))
    for steps_per_epoch, epochs, initial_epoch in _chunks(step, cfg.total_steps, cfg.log_every):
        try:
            gan.fit(dataset, steps_per_epoch=steps_per_epoch, epochs=epochs,
                    initial_epoch=initial_epoch, callbacks=callbacks, verbose=0,
                    shuffle=False)  # the tf.data pipeline shuffles
        except tf.errors.InvalidArgumentError as error:
            if data_lib.EMPTY_PASS_MESSAGE not in str(error):
                raise
            raise data_lib.DataError(
                f"The training data stopped giving images at step "
                f"{int(gan.g_optimizer.iterations.numpy())}: {data_lib.EMPTY_PASS_MESSAGE} "
                f"(--dataset={cfg.dataset}, --data_dir={cfg.data_dir}). Were files removed or "
                f"damaged? " + (f"The last checkpoint ({manager.latest_checkpoint}) is intact."
                                if manager.latest_checkpoint else "No checkpoint was written "
                                "yet.")) from None
        if stop.signal_received is not None:
            step = int(gan.g_optimizer.iterations.numpy())
            path = manager.latest_checkpoint
            if not (path or "").endswith(f"ckpt-{step}"):
                path = checkpointer.save(step)
            raise Interrupted(stop.signal_received, step, path)
    step = int(gan.g_optimizer.iterations.numpy())
    if step < cfg.total_steps:
        raise data_lib.DataError(
            f"The training data ran out at step {step} of {cfg.total_steps}: no readable images "
            "were left (were files removed or damaged during the run?).")
    logging.info("Done: step %d. Samples in %s, checkpoints in %s, TensorBoard logs in %s",
                 step, os.path.join(cfg.workdir, "samples"), checkpoint_dir,
                 os.path.join(cfg.workdir, "logs"))
    return gan
