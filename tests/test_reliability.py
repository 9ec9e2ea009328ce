"""A run's records under damage and interruption: the metrics log, the best checkpoint's
record and files, a full disk while the best is written, preemption during an evaluation, and
a conditional run whose class folders changed."""

import json
import math
import os
import re
import signal
import types

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import tiny_config
from vitgan_tf import (
    build,
    callbacks,
    checkpoints,
    errors,
    metrics_log,
    rundir,
    scoring,
    train_lib,
)


def _rows(path):
    with open(path) as f:
        return [json.loads(line) for line in f]  # every line must be JSON


class _FakeModel:
    """What QualityMonitor reads of the GAN: the step counter and the EMA generator."""

    def __init__(self, step):
        self.g_optimizer = types.SimpleNamespace(iterations=tf.Variable(step))
        self.ema_generator = None
        self.stop_training = False


def _monitor(tmp_path, monkeypatch, fds, stop=None, best_fd=math.inf):
    scripted = iter(fds)

    def fake_evaluate(generator, real, extractor, names, settings, stop=None):
        for _ in range(3):  # three batches, each asking `stop`
            if stop is not None and stop():
                raise scoring.Stopped()
        return {"fd": next(scripted), "kid": 0.1, "kid_std": 0.01}

    monkeypatch.setattr(scoring, "score", fake_evaluate)
    best = []
    settings = scoring.Settings(num_samples=4)
    monitor = callbacks.QualityMonitor(
        2, types.SimpleNamespace(name="x"), lambda stop=None: ({}, "test", settings), settings,
        metrics_path=str(tmp_path / metrics_log.FILE), on_best=lambda s, fd: best.append(s),
        stop=stop, best_fd=best_fd)
    return monitor, best


def test_a_metrics_log_with_a_cut_last_line_gets_its_next_row_on_a_line_of_its_own(
        tmp_path, monkeypatch):
    path = tmp_path / metrics_log.FILE
    path.write_text(json.dumps({"step": 2, "fd": 5.0}) + "\n" + json.dumps({"step": 4})[:-3])
    monitor, _ = _monitor(tmp_path, monkeypatch, [3.0])
    monitor.set_model(_FakeModel(6))
    monitor.evaluate(6)
    rows = _rows(path)
    assert [r["step"] for r in rows] == [2, 6] and rows[1]["fd"] == 3.0
    # The cut line is kept aside, not lost.
    assert (tmp_path / (metrics_log.FILE + ".damaged")).read_text() == '{"step":\n'
    assert [r["step"] for r in metrics_log.read_rows(str(tmp_path))] == [2, 6]


def _best_folder(workdir, steps, best_json):
    folder = workdir / "checkpoints" / "best"
    folder.mkdir(parents=True)
    for step in steps:
        (folder / f"ckpt-{step}.index").write_bytes(b"i")
        (folder / f"ckpt-{step}.data-00000-of-00001").write_bytes(b"d")
    (folder / "best.json").write_text(best_json)
    return folder


def test_a_garbled_best_json_is_rebuilt_from_the_metrics_log_and_the_files(tmp_path):
    (tmp_path / metrics_log.FILE).write_text("".join(
        json.dumps({"step": s, "fd": fd}) + "\n" for s, fd in ((2, 36.1), (4, 35.325),
                                                                 (6, 35.9))))
    folder = _best_folder(tmp_path, [4], '{"step": 4, "fd": 35.3')
    record = checkpoints.best_record(str(tmp_path), repair=True)
    assert (record["step"], record["fd"], record["missing"]) == (4, 35.325, False)
    assert json.loads((folder / "best.json").read_text())["checkpoint"] == "ckpt-4"
    # `sample --checkpoint=best` reads the same record (without writing).
    (folder / "best.json").write_text("{")
    assert checkpoints.best_record(str(tmp_path))["step"] == 4
    assert (folder / "best.json").read_text() == "{"


def test_a_garbled_best_json_that_cannot_be_rebuilt_is_refused_in_one_line(tmp_path):
    _best_folder(tmp_path, [4], "garbage")  # no metrics.jsonl: the FD of ckpt-4 is unknown
    with pytest.raises(checkpoints.CheckpointError) as error:
        checkpoints.best_record(str(tmp_path))
    message = str(error.value)
    assert "best.json is damaged" in message and "no FD for ckpt-4" in message
    assert "\n" not in message and "--eval_every" not in message


def test_a_best_checkpoint_whose_files_are_gone_is_said_and_replaced(tmp_path, monkeypatch):
    folder = _best_folder(tmp_path, [], json.dumps({"step": 4, "fd": 3.0,
                                                    "checkpoint": "ckpt-4"}))
    assert checkpoints.best_record(str(tmp_path))["missing"]
    with pytest.raises(errors.RunError, match="whose files are gone"):
        rundir._resolve_checkpoint(str(tmp_path), "best", None, None)
    warnings = []
    monkeypatch.setattr(train_lib.logging, "warning", lambda *a: warnings.append(a[0] % a[1:]))
    cfg = tiny_config(tmp_path, eval_every=2, eval_extractor="fashion_classifier")
    monitor = train_lib._quality_monitor(cfg, 16, None, None, [types.SimpleNamespace(name="x")],
                                         types.SimpleNamespace(signal_received=None))
    assert monitor.best_fd == math.inf  # the next evaluation takes its place
    assert any("is gone" in w and "ckpt-4" in w for w in warnings)
    assert folder.exists()


def test_disk_full_while_the_best_checkpoint_is_written_is_one_line_and_cleans_up(small_disk):
    workdir = small_disk / "run"
    gan = build.build_gan(tiny_config(workdir))
    checkpoints.save_best(gan, str(workdir), 2, 5.0)  # about 540 kB: a second one does not fit
    with pytest.raises(OSError) as error:
        checkpoints.save_best(gan, str(workdir), 4, 3.0)
    assert "Could not write the best checkpoint (step 4" in str(error.value)
    assert "\n" not in str(error.value)
    folder = workdir / "checkpoints" / "best"
    assert sorted(os.listdir(folder)) == ["best.json", "ckpt-2.data-00000-of-00001",
                                          "ckpt-2.index"]
    assert checkpoints.best_record(str(workdir))["step"] == 2


def test_a_signal_during_an_evaluation_stops_it_between_batches(tmp_path, monkeypatch):
    asked = []

    def stop():
        asked.append(1)
        return len(asked) >= 2  # the signal arrives during the first batch

    monitor, best = _monitor(tmp_path, monkeypatch, [3.0], stop=stop)
    model = _FakeModel(2)
    monitor.set_model(model)
    assert monitor.evaluate(2) is None
    assert model.stop_training and best == [] and len(asked) == 2
    assert not (tmp_path / metrics_log.FILE).exists()  # nothing half-measured is logged


def test_a_second_signal_is_taken_like_the_first():
    stopper = callbacks.StopOnSignal()
    stopper._handle(signal.SIGTERM, None)
    stopper._handle(signal.SIGTERM, None)  # raised KeyboardInterrupt: the checkpoint was lost
    assert stopper.signal_received == signal.SIGTERM


def _class_folder(root, names):
    from PIL import Image

    rng = np.random.default_rng(0)
    for name in names:
        (root / name).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 255, (16, 16, 3), np.uint8)).save(
                root / name / f"{i}.png")


def test_resuming_a_conditional_folder_run_whose_classes_changed_is_refused(tmp_path):
    data = tmp_path / "data"
    _class_folder(data, ["b", "c", "x"])  # the run was trained on a/ b/ c/
    cfg = tiny_config(tmp_path / "run", conditional=True, dataset="folder", data_dir=str(data),
                      model={"num_classes": 3})
    os.makedirs(cfg.workdir)
    rundir.write_config(build.Run(cfg, build.resolve_run(cfg).model_cfg, ("a", "b", "c")))
    before = (tmp_path / "run" / "config.json").read_text()
    with pytest.raises(errors.RunError) as error:
        train_lib.train(tiny_config(tmp_path / "run", conditional=True, dataset="folder",
                                    data_dir=str(data)))
    message = str(error.value)
    assert "missing 'a'; new 'x'" in message and "Class ids would shift" in message
    assert (tmp_path / "run" / "config.json").read_text() == before  # nothing rewritten


def test_resuming_with_another_conditioning_names_no_flag_the_user_did_not_type(tmp_path):
    cfg = tiny_config(tmp_path / "run")
    os.makedirs(cfg.workdir)
    rundir.write_config(build.resolve_run(cfg))
    conditional = tiny_config(tmp_path / "run", conditional=True)  # the digits: 10 classes
    with pytest.raises(errors.RunError) as error:
        rundir.check_resume(build.resolve_run(conditional))
    assert "--model.num_classes" not in str(error.value)
    assert "is unconditional" in str(error.value) and "conditional on 10 classes" in str(
        error.value)


@pytest.mark.parametrize("text,message", [
    ("{bad json", "not a valid cluster description (JSONDecodeError"),
    ('{"cluster": {"worker": ["h:1"]}}', "not a valid cluster description (KeyError"),
    ('{"cluster": {"worker": ["h:1"]}, "task": {"type": "worker", "index": 3}}',
     "task index 3 is outside the cluster's 1 worker task(s)")])
def test_tf_config_is_parsed_once_and_refused_in_one_line(monkeypatch, text, message):
    # make_strategy reads TF_CONFIG through this one function for every strategy (auto and
    # multi_worker alike), and the cluster's start-up watchdog lists the other tasks from it.
    from vitgan_tf import cluster

    monkeypatch.setenv("TF_CONFIG", text)
    with pytest.raises(errors.RunError, match=re.escape(message)):
        cluster.tf_config()
    monkeypatch.setenv("TF_CONFIG", json.dumps(
        {"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}))
    assert cluster.other_tasks() == [("worker 0", "a:1")]
    monkeypatch.delenv("TF_CONFIG")
    assert cluster.tf_config() == {} and cluster.other_tasks() == []


def test_config_json_records_the_version_that_wrote_it(tmp_path):
    import vitgan_tf

    cfg = tiny_config(tmp_path / "run")
    os.makedirs(cfg.workdir)
    rundir.write_config(build.resolve_run(cfg))
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["version"] == vitgan_tf.__version__ == "0.5.0"
    assert rundir.load_config(str(tmp_path / "run"))[0].preset == "tiny"
