import json
import os
import signal
import subprocess
import sys
import time
import types

import numpy as np
import pytest
import tensorflow as tf
from absl import flags as absl_flags
from PIL import Image

from tests.helpers import ROOT, TINY_CLI, randn, run_cli, tiny_config, tiny_images
from vitgan_tf import (
    build,
    callbacks,
    checkpoints,
    config,
    data,
    errors,
    evaluate,
    features,
    rundir,
    scoring,
    train_lib,
)

_cfg, _data = tiny_config, tiny_images


@pytest.mark.integration
def test_train_writes_checkpoints_samples_logs_and_resumes(tmp_path):
    gan = train_lib.train(_cfg(tmp_path), dataset=_data())
    assert gan.g_optimizer.iterations.numpy() == 4
    assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")).endswith("ckpt-4")
    assert (tmp_path / "samples" / "latest.png").exists()
    assert (tmp_path / "samples" / "step_00000002.png").exists()
    assert any(name.startswith("events") for name in os.listdir(tmp_path / "logs"))
    # Resume: the same workdir continues from step 4 with the saved weights.
    resumed = train_lib.train(_cfg(tmp_path, total_steps=8), dataset=_data())
    assert resumed.g_optimizer.iterations.numpy() == 8
    assert resumed.d_optimizer.iterations.numpy() == 8
    # A fresh model restored from the workdir holds the trained weights and optimizer state.
    restored = build.build_gan(_cfg(tmp_path))
    assert checkpoints.restore_latest(restored, str(tmp_path / "missing")) == (None, [])
    assert checkpoints.restore_latest(restored, str(tmp_path / "checkpoints"))[0].endswith("ckpt-8")
    assert restored.g_optimizer.iterations.numpy() == 8
    for name in ("generator", "discriminator", "ema_generator"):
        for a, b in zip(getattr(resumed, name).weights, getattr(restored, name).weights):
            assert a.path == b.path
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


def _batches(size):
    return tf.data.Dataset.from_tensors(np.clip(randn(size, 16, 16, 3), -1, 1)).repeat()


@pytest.mark.integration
def test_the_image_count_survives_a_resume_with_another_batch_size(tmp_path, monkeypatch):
    # 2 steps of batch 8, then 2 of batch 16: 16 + 32 images, not 4 steps x 16. The count is in
    # the checkpoint, the progress line's TensorBoard kimg and metrics.jsonl continue from it.
    train_lib.train(_cfg(tmp_path, batch_size=8, total_steps=2), dataset=_batches(8))
    first = tf.train.latest_checkpoint(str(tmp_path / "checkpoints"))
    assert checkpoints.images_seen(first) == 16
    gan = train_lib.train(_cfg(tmp_path, batch_size=16, total_steps=4), dataset=_batches(16))
    assert int(gan.images_seen.numpy()) == 48 and gan.kimg() == 0.048
    assert checkpoints.images_seen(tf.train.latest_checkpoint(str(tmp_path / "checkpoints"))) == 48
    kimg = {}
    for name in os.listdir(tmp_path / "logs"):
        for event in tf.compat.v1.train.summary_iterator(str(tmp_path / "logs" / name)):
            for value in event.summary.value:
                if value.tag == "train/kimg":
                    kimg[event.step] = float(tf.make_ndarray(value.tensor))
    assert kimg == pytest.approx({2: 0.016, 4: 0.048})
    # metrics.jsonl's kimg is the GAN's count too (the monitor is given the first batch size).
    monkeypatch.setattr(scoring, "score", lambda *a, **k: {"fd": 1.0})
    settings = scoring.Settings(num_samples=4)
    monitor = callbacks.QualityMonitor(
        2, types.SimpleNamespace(name="x"), lambda stop=None: ({}, "test", settings), settings,
        metrics_path=str(tmp_path / rundir.METRICS_FILE), batch_size=8)
    monitor.set_model(gan)
    monitor.evaluate(4)
    rows = [json.loads(line) for line in open(tmp_path / rundir.METRICS_FILE)]
    assert [(r["step"], r["kimg"]) for r in rows] == [(4, pytest.approx(0.048))]
    # The EMA's half-life stays in images: the per-step decay follows the batch of the step.
    half_life = gan.step.ema_half_life_kimg * 1000
    assert float(gan.ema_beta(16)) == pytest.approx(0.5 ** (16 / half_life), rel=1e-6)


def test_a_checkpoint_older_than_the_image_count_takes_step_times_its_batch(tmp_path):
    gan = build.build_gan(_cfg(tmp_path))
    gan.g_optimizer.iterations.assign(6)
    path = checkpoints.make_checkpoint(gan, progress=False).save(str(tmp_path / "old"))
    assert checkpoints.images_seen(path) is None and checkpoints.images_seen(path, 7) == 7
    restored = build.build_gan(_cfg(tmp_path))
    checkpoints.read_checkpoint(restored, path, batch_size=12)
    assert int(restored.g_optimizer.iterations.numpy()) == 6
    assert int(restored.images_seen.numpy()) == 72
    # A new checkpoint holds the count, read back as it is whatever the batch size.
    restored.images_seen.assign(100)
    path = checkpoints.make_checkpoint(restored).save(str(tmp_path / "new"))
    again = build.build_gan(_cfg(tmp_path))
    checkpoints.read_checkpoint(again, path, batch_size=12)
    assert int(again.images_seen.numpy()) == 100 == checkpoints.images_seen(path)


def test_checkpoint_holds_every_weight_of_every_model(tmp_path):
    # Keras 3 layers kept in Python lists are invisible to TF's object graph; a checkpoint of the
    # models themselves would silently drop them (and the non-trainable ISN state with them).
    gan = build.build_gan(_cfg(tmp_path))
    path = checkpoints.make_checkpoint(gan).write(str(tmp_path / "ckpt"))
    saved = {name.split("/")[0] + "/" + name.split("/")[1]
             for name, _ in tf.train.list_variables(path) if "/" in name}
    for model in (gan.generator, gan.discriminator, gan.ema_generator):
        for w in model.weights:
            # TF escapes "." in checkpoint keys as "..".
            key = model.name + "/" + w.path.split("/", 1)[1].replace("/", "..")
            assert key in saved, key


def test_fit_gets_the_data_with_tf_data_autotuning_off(tmp_path, monkeypatch):
    # With autotuning on, TF 2.21's fit often returned only at its autotune thread's next
    # wake-up (up to 60 s late; bench/README.md, "slow mode"). Training turns it off for the
    # configured pipeline and for a dataset passed in, keeping the dataset's other options.
    from vitgan_tf.models.gan import ViTGAN

    seen = []

    def fake_fit(self, x, **kwargs):
        seen.append(x.options())
        raise KeyboardInterrupt  # stop before any step

    monkeypatch.setattr(ViTGAN, "fit", fake_fit)
    options = tf.data.Options()
    options.deterministic = False
    custom = _data().with_options(options)
    assert custom.options().autotune.enabled is None  # TF's default: on
    with pytest.raises(KeyboardInterrupt):
        train_lib.train(_cfg(tmp_path / "custom"), dataset=custom)
    with pytest.raises(KeyboardInterrupt):
        train_lib.train(_cfg(tmp_path / "digits", dataset="digits"))
    assert [o.autotune.enabled for o in seen] == [False, False]
    assert seen[0].deterministic is False


@pytest.mark.integration
def test_resume_refuses_a_different_model(tmp_path):
    train_lib.train(_cfg(tmp_path, total_steps=2), dataset=_data())
    with pytest.raises(ValueError, match="preset"):
        train_lib.train(_cfg(tmp_path, preset="digits", total_steps=4), dataset=_data())


@pytest.mark.parametrize("flag,value,message", [
    ("batch_size", 0, "--batch_size=0"), ("checkpoint_every", 3, "--checkpoint_every=3"),
    ("dataset", "mnist2", "--dataset='mnist2'"), ("preset", "512", "--preset='512'"),
    ("augment_policy", "flip", "--augment_policy='flip'"),
    ("mixed_precision", "fp8", "--mixed_precision='fp8'"), ("d_lr", -1e-3, "--d_lr=-0.001"),
    ("loss", "hinge", "--loss='hinge'"), ("r1_interval", 0, "--r1_interval=0"),
    ("r2_gamma", float("nan"), "--r2_gamma=nan")])
def test_validate_names_the_flag(tmp_path, flag, value, message):
    with pytest.raises(ValueError) as err:
        _cfg(tmp_path, **{flag: value}).validate()
    # A library error names the argument; the command line writes it as the flag.
    assert str(err.value).startswith(message.removeprefix("--"))
    assert err.value.render(as_flag=True).startswith(message)


def _cli(*args, **kw):
    return run_cli("train", *args, **kw)


@pytest.mark.integration
def test_cli_bad_flag_value_fails_cleanly(tmp_path):
    result = _cli(f"--workdir={tmp_path}", "--batch_size=-1")
    assert result.returncode != 0
    assert "--batch_size=-1" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.integration
def test_cli_flagfile_and_sigkill_resume(tmp_path):
    flagfile = tmp_path / "run.flags"
    flagfile.write_text("\n".join([*TINY_CLI, "--batch_size=8", "--log_every=5",
                                    "--checkpoint_every=5", "--sample_every=5",
                                    "--grid_size=4"]) + "\n")
    workdir = tmp_path / "run"
    args = (f"--flagfile={flagfile}", f"--workdir={workdir}")
    proc = subprocess.Popen([sys.executable, "-m", "vitgan_tf.train", *args,
                             "--total_steps=100000"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 240
        while time.time() < deadline:
            latest = tf.train.latest_checkpoint(str(workdir / "checkpoints"))
            if latest and int(latest.rsplit("-", 1)[1]) >= 10:
                break
            time.sleep(0.2)
        else:
            pytest.fail("no checkpoint appeared")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    killed_at = int(tf.train.latest_checkpoint(str(workdir / "checkpoints")).rsplit("-", 1)[1])
    result = _cli(*args, f"--total_steps={killed_at + 5}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"at step {killed_at}" in result.stderr
    assert tf.train.latest_checkpoint(str(workdir / "checkpoints")).endswith(
        f"ckpt-{killed_at + 5}")


@pytest.mark.integration
def test_mirrored_strategy_step_matches_single_device(tmp_path):
    modes = ("single", "mirrored")
    procs = [subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "mirrored_step.py"),
                               mode, str(tmp_path / f"{mode}.npz")], cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": ROOT}) for mode in modes]
    try:
        assert [proc.wait(timeout=300) for proc in procs] == [0, 0]
    finally:
        for proc in procs:
            proc.kill()
    outs = {mode: np.load(tmp_path / f"{mode}.npz") for mode in modes}
    # Two replicas sum gradients in another order than one device: float32 rounding, up to
    # 2e-5 on this CPU (oneDNN's blocking differs between CPU models). A wrong reduction (say,
    # a loss not divided by the global batch) moves weights by orders of magnitude more.
    np.testing.assert_allclose(outs["mirrored"]["weights"], outs["single"]["weights"],
                               rtol=1e-4, atol=5e-5)
    np.testing.assert_allclose(outs["mirrored"]["d_loss"], outs["single"]["d_loss"], rtol=1e-4)
    # The image count adds the global batch once per step, not once per replica.
    assert outs["mirrored"]["images_seen"] == outs["single"]["images_seen"] == 2 * 8


def test_image_folder_skips_corrupt_files_and_handles_grayscale_and_odd_sizes(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (37, 53, 3), np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(rng.integers(0, 255, (64, 20), np.uint8)).save(tmp_path / "gray.jpg")
    os.makedirs(tmp_path / "sub")
    Image.fromarray(rng.integers(0, 255, (30, 30, 3), np.uint8)).save(tmp_path / "sub" / "c.webp")
    (tmp_path / "broken.jpg").write_bytes(b"not an image at all")
    (tmp_path / "notes.txt").write_text("ignored")
    files = data.list_image_files(str(tmp_path))
    assert sorted(os.path.basename(f) for f in files) == ["a.png", "c.webp", "gray.jpg"]
    images = np.stack(list(data.folder_source(str(tmp_path), 16).as_numpy_iterator()))
    assert images.shape == (3, 16, 16, 3)
    assert images.min() >= -1 and images.max() <= 1


def test_empty_or_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(data.DataError, match="no readable images there"):
        data.list_image_files(str(tmp_path))
    with pytest.raises(data.DataError, match="is not a folder"):
        data.list_image_files(str(tmp_path / "missing"))


def test_unprepared_tfds_dataset_is_a_clear_error(tmp_path):
    with pytest.raises(data.DataError, match="tfds build celeb_a"):
        data.tfds_source("celeb_a", str(tmp_path), 64)


def test_digits_source():
    images, labels = data.digits_images(16)
    assert images.shape == (1797, 16, 16, 3) and set(labels) == set(range(10))
    assert images.min() == -1.0 and images.max() == 1.0
    batch = next(iter(data.make_dataset("digits", 16, 32)))
    assert batch.shape == (32, 16, 16, 3)


FLAGFILES = [
    ("digits", "digits", "digits"), ("cifar10", "cifar10", "32"), ("celeba", "celeb_a", "64"),
    ("lsun_bedroom", "lsun_bedroom", "64"), ("fashion_mnist", "fashion_mnist", "fashion"),
    ("fashion_mnist_vitd", "fashion_mnist", "fashion"),
    ("fashion_mnist_cond", "fashion_mnist", "fashion"),
    ("cifar10_stylegan2d", "cifar10", "32"), ("digits_stylegan2d", "digits", "digits")]


def test_config_flagfiles_parse_and_validate(monkeypatch):
    # The command users are promised, `--flagfile=configs/NAME.flags` alone, has a workdir.
    # Settings are checked without TensorFlow, so the flags parse in this process.
    monkeypatch.chdir(ROOT)
    for name, dataset, preset in FLAGFILES:
        values = absl_flags.FlagValues()
        config.define_flags(values)
        values(["train", f"--flagfile=configs/{name}.flags"])
        cfg = config.from_flags(values).validate()
        assert (cfg.dataset, cfg.preset, cfg.workdir) == (dataset, preset, f"runs/{name}")
        hybrid = name.endswith("stylegan2d") or name in ("fashion_mnist", "fashion_mnist_cond")
        assert (config.model_config(cfg).d_arch == "stylegan2") == hybrid
        assert cfg.conditional == name.endswith("_cond")
    assert sorted(os.path.basename(p)[:-6] for p in os.listdir(os.path.join(ROOT, "configs"))
                  if p.endswith(".flags")) == sorted(name for name, _, _ in FLAGFILES)


def test_separate_discriminator_learning_rate(tmp_path):
    gan = build.build_gan(_cfg(tmp_path, lr=1e-3, d_lr=4e-3))
    assert float(gan.g_optimizer.learning_rate) == pytest.approx(1e-3)
    assert float(gan.d_optimizer.learning_rate) == pytest.approx(4e-3)
    same = build.build_gan(_cfg(tmp_path, lr=1e-3))
    assert float(same.d_optimizer.learning_rate) == pytest.approx(1e-3)


def _free_ports(n):
    import socket

    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.integration
def test_multi_worker_mirrored_two_processes_agree(tmp_path):
    # Two worker processes on 127.0.0.1 run the real training entry point with
    # MultiWorkerMirroredStrategy; both end at step 2 with the same weights, and only the
    # chief writes into the workdir.
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for index in range(2):
        # PYTHONPATH: this checkout's package, wherever `pip install -e` pointed.
        env = {**os.environ, "PYTHONPATH": ROOT, "TF_CONFIG": json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}})}
        procs.append(subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "tests", "multi_worker.py"),
             str(tmp_path / "run"), str(tmp_path / f"worker{index}.npz")],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    try:
        logs = [p.communicate(timeout=600)[0] for p in procs]
    finally:
        for p in procs:
            p.kill()
    for p, log in zip(procs, logs):
        assert p.returncode == 0, log[-3000:]
    a, b = np.load(tmp_path / "worker0.npz"), np.load(tmp_path / "worker1.npz")
    assert a["step"] == b["step"] == 2
    # Each process sums its own kernels; the all-reduce gives both the same gradients, so they
    # agree to float rounding (a replica that skipped the reduction would be ~1e-4 off).
    np.testing.assert_allclose(a["weights"], b["weights"], rtol=0, atol=1e-6)
    assert tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints")).endswith("ckpt-2")


@pytest.mark.integration
def test_fd_and_kid_during_training_keep_the_best_checkpoint(tmp_path, monkeypatch):
    # FDs in the order the monitor will see them (step 2, 4, 6): the best is step 4's.
    fds = iter([5.0, 3.0, 4.0])
    real_evaluate = scoring.score

    def scripted(*args, **kwargs):
        return {**real_evaluate(*args, **kwargs), "fd": next(fds)}

    monkeypatch.setattr(scoring, "score", scripted)
    cfg = _cfg(tmp_path, total_steps=6, eval_every=2, eval_samples=6, keep_checkpoints=1,
               inception_weights="none", eval_metrics="fid,kid,pr")
    train_lib.train(cfg, dataset=_data())
    tags = set()
    for name in os.listdir(tmp_path / "logs"):
        for event in tf.compat.v1.train.summary_iterator(str(tmp_path / "logs" / name)):
            tags.update(value.tag for value in event.summary.value)
    assert {"eval/kid_keras_inception_random", "eval/fd_keras_inception_random"} <= tags
    with open(tmp_path / "metrics.jsonl") as f:
        rows = [json.loads(line) for line in f]
    assert [(r["step"], r["fd"], r["best"]) for r in rows] == [
        (2, 5.0, True), (4, 3.0, True), (6, 4.0, False)]
    assert all(0 <= r["recall"] <= 1 and 0 <= r["precision"] <= 1 for r in rows)  # --eval_metrics
    # The best (step 4) survives the rotation (keep 1: only ckpt-6 is left there), alone.
    assert checkpoints.best_record(str(tmp_path))["step"] == 4
    best_files = sorted(os.listdir(tmp_path / "checkpoints" / "best"))
    assert best_files == ["best.json", "ckpt-4.data-00000-of-00001", "ckpt-4.index"]
    assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")).endswith("ckpt-6")
    _, _, path, step = rundir.load_generator(str(tmp_path), "best")
    assert step == 4 and path.endswith(os.path.join("best", "ckpt-4"))
    cached = os.listdir(tmp_path / "stats")
    assert len(cached) == 1 and cached[0].startswith("digits_train_")
    assert cached[0].endswith("_16px_keras_inception_random_6.npz")
    with pytest.raises(ValueError, match="eval_every=3"):
        _cfg(tmp_path, eval_every=3).validate()
    # Each in-training evaluation is also a report, written as `evaluate` writes one.
    reports_ = sorted(os.listdir(tmp_path / "eval"))
    assert [name[:13] for name in reports_] == ["step_00000002", "step_00000004", "step_00000006"]
    with open(tmp_path / "eval" / reports_[-1]) as f:
        trained = json.load(f)
    assert trained["during_training"] and trained["fd"] == 4.0 and trained["step"] == 6
    # `evaluate` on the same run writes the same quantity under the same key and tag, and with
    # the monitor's settings into the monitor's report of that step.
    monkeypatch.setattr(scoring, "score", real_evaluate)
    extractor = features.make_extractor("keras_inception", inception_weights="none")
    report, path = evaluate.run(str(tmp_path), extractor, ["fid", "kid", "pr"],
                                train_lib.monitor_settings(cfg))
    assert os.path.basename(path) == reports_[-1]
    assert "fd" in report and "fid" not in report and np.isfinite(report["fd"])
    assert set(trained) - {"checkpoint", "during_training"} <= set(report)
    assert not report["during_training"] and report["checkpoint"].endswith("ckpt-6")
    evaluated = set()
    for name in os.listdir(tmp_path / "logs"):
        for event in tf.compat.v1.train.summary_iterator(str(tmp_path / "logs" / name)):
            evaluated.update(value.tag for value in event.summary.value
                             if event.step == 6 and value.tag.startswith("eval/"))
    assert {"eval/fd_keras_inception_random", "eval/kid_keras_inception_random"} <= evaluated
    assert not {tag for tag in evaluated if "fid" in tag}


@pytest.mark.integration
def test_a_second_training_on_a_held_workdir_is_refused_and_sigkill_frees_it(tmp_path):
    # A run owns its workdir: a second `train` there is refused before it reads or moves any
    # checkpoint, naming the holder; the kernel drops the lock of a killed holder at once.
    workdir = tmp_path / "run"
    workdir.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\n"
         "from vitgan_tf.workdir_lock import WorkdirLock\n"
         f"lock = WorkdirLock({str(workdir)!r}).acquire()\n"
         "print('held', flush=True)\n"
         "time.sleep(120)\n"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        (workdir / "checkpoints").mkdir()
        (workdir / "checkpoints" / "ckpt-70.index").write_text("being written")
        result = _cli(*TINY_CLI, f"--workdir={workdir}",
                      "--total_steps=2", "--log_every=2", "--checkpoint_every=2",
                      "--sample_every=2")
        assert result.returncode == 2
        assert result.stderr.strip().splitlines()[-1] == (
            f"error: --workdir={str(workdir)!r} is in use by another training run "
            f"(PID {holder.pid}); wait for it to end, stop it, or use another --workdir.")
        # Nothing was quarantined or written.
        assert sorted(os.listdir(workdir)) == ["checkpoints"]
        assert os.listdir(workdir / "checkpoints") == ["ckpt-70.index"]
    finally:
        holder.kill()
        holder.wait()
    from vitgan_tf.workdir_lock import WorkdirLock

    with WorkdirLock(str(workdir)):  # free again, at once
        pass


def test_workdir_lock_is_exclusive_and_reentrant_free(tmp_path):
    from vitgan_tf.workdir_lock import WorkdirLock

    first = WorkdirLock(str(tmp_path)).acquire()
    with pytest.raises(errors.RunError, match="in use by another training run"):
        WorkdirLock(str(tmp_path)).acquire()
    first.release()
    WorkdirLock(str(tmp_path)).acquire().release()
    WorkdirLock(str(tmp_path / "missing")).acquire().release()  # nothing to lock yet
    WorkdirLock(None).acquire().release()


TINY = [*TINY_CLI, "--batch_size=8", "--log_every=2",
        "--checkpoint_every=2", "--sample_every=2", "--grid_size=4"]


def _one_error_line(result, start):
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert lines[-1].startswith(f"error: {start}"), lines[-1]


@pytest.mark.integration
def test_nan_loss_on_resume_is_one_line_and_keeps_the_checkpoint(tmp_path):
    assert _cli(*TINY, f"--workdir={tmp_path}", "--total_steps=2").returncode == 0
    result = _cli(*TINY, f"--workdir={tmp_path}", "--total_steps=6", "--lr=1e30")
    _one_error_line(result, "Non-finite loss at step")
    assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")).endswith("ckpt-2")


@pytest.mark.integration
@pytest.mark.parametrize("tf_config,strategy,message", [
    ("{bad json", "auto", "TF_CONFIG is not a valid cluster description (JSONDecodeError"),
    ('{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": 3}}',
     "auto", "TF_CONFIG: task index 3 is outside the cluster's 1 worker task(s)."),
])
def test_a_bad_tf_config_is_one_line(tmp_path, tf_config, strategy, message):
    result = _cli(*TINY, f"--workdir={tmp_path / 'run'}", f"--strategy={strategy}",
                  env={**os.environ, "TF_CONFIG": tf_config})
    _one_error_line(result, message)
    assert not (tmp_path / "run").exists()


@pytest.mark.integration
def test_a_start_that_fails_after_validation_writes_nothing(tmp_path):
    # The FID graph is missing: the run stops before it writes config.json, so a retry with
    # other settings is not refused as "does not match the model of the run".
    result = _cli(*TINY, f"--workdir={tmp_path / 'run'}", "--total_steps=2", "--eval_every=2",
                  "--eval_extractor=fid_inception")
    _one_error_line(result, "--inception_path=''")
    assert not (tmp_path / "run" / "config.json").exists()
    retry = _cli(*TINY, f"--workdir={tmp_path / 'run'}", "--total_steps=2", "--preset=digits")
    assert retry.returncode == 0, retry.stderr[-2000:]


def _waiting_cluster(tmp_path, *args):
    """The train CLI as worker 0 of a two-worker cluster whose worker 1 never starts."""
    ports = _free_ports(2)
    tf_config = {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                 "task": {"type": "worker", "index": 0}}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vitgan_tf.train", *TINY, f"--workdir={tmp_path / 'run'}", *args],
        cwd=ROOT, env={**os.environ, "TF_CONFIG": json.dumps(tf_config)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, ports


@pytest.mark.integration
def test_a_cluster_that_never_starts_ends_with_one_line_naming_the_missing_task(tmp_path):
    # Issue 23 item 3: it logged "Waiting for 1/2 tasks" and waited forever.
    proc, ports = _waiting_cluster(tmp_path, "--cluster_timeout=5")
    _, stderr = proc.communicate(timeout=180)
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode != 0 and "Traceback" not in stderr, stderr[-2000:]
    assert len(errors) == 1 and "--cluster_timeout=5" in errors[0], stderr[-2000:]
    assert f"worker 1 (127.0.0.1:{ports[1]})" in errors[0]
    assert not (tmp_path / "run").exists()


@pytest.mark.integration
@pytest.mark.slow
def test_sigterm_ends_a_run_waiting_for_its_cluster(tmp_path):
    # TF's preemption notifier took SIGTERM for itself: only SIGKILL stopped the wait.
    proc, _ = _waiting_cluster(tmp_path, "--cluster_timeout=0")
    time.sleep(20)  # importing TF and reaching the wait
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "stopped by SIGTERM" in errors[0], stderr[-2000:]
