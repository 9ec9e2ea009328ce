"""Round four of the fault suite (issue 40): odd workdir names, non-finite generators, and the
smaller refusals that used to crash or pass silently."""

import os
import shutil
import types

import numpy as np
import pytest

from tests.helpers import ROOT, tiny_config
from vitgan_tf import callbacks, checkpoints, config, errors, rundir

# -- glob characters in a run's path ------------------------------------------------------------


def _fake_checkpoint(folder, step):
    folder.mkdir(parents=True, exist_ok=True)
    for suffix in ("index", "data-00000-of-00001"):
        (folder / f"ckpt-{step}.{suffix}").write_bytes(b"x")


def test_checkpoint_scans_escape_the_folder_name(tmp_path):
    odd = tmp_path / "a[1]" / "checkpoints"
    _fake_checkpoint(odd, 10)
    # A sibling whose name the unescaped pattern a[1] matches, and one that a* matches.
    _fake_checkpoint(tmp_path / "a1" / "checkpoints", 30)
    _fake_checkpoint(tmp_path / "a2" / "checkpoints", 40)
    assert sorted(checkpoints.checkpoint_files(str(odd))) == [10]
    star = tmp_path / "a*" / "checkpoints"
    _fake_checkpoint(star, 20)
    assert sorted(checkpoints.checkpoint_files(str(star))) == [20]
    # Setting newer checkpoints aside touches the run's own folder only.
    checkpoints.set_aside_newer(str(odd), 5)
    assert (odd / "damaged").is_dir()
    assert sorted(p.name for p in (tmp_path / "a1" / "checkpoints").iterdir()) == [
        "ckpt-30.data-00000-of-00001", "ckpt-30.index"]


@pytest.mark.parametrize("name", ["a[1]", "a*", "what?"])
def test_a_workdir_tensorflow_cannot_read_back_is_refused_before_training(tmp_path, name):
    with pytest.raises(config.ConfigError) as error:
        tiny_config(tmp_path / name).validate()
    message = error.value.render(as_flag=True)
    assert message.startswith(f"--workdir='{tmp_path / name}': a path without")
    assert "glob" in message and "\n" not in message
    assert not (tmp_path / name).exists()
    # Reading such a run back says the same (its config.json is there).
    (tmp_path / name).mkdir()
    (tmp_path / name / "config.json").write_text("{}")
    with pytest.raises(errors.RunError, match="a path without"):
        rundir.load_config(str(tmp_path / name))


# -- non-finite weights ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nan_run(tiny_run, tmp_path_factory):
    """The tiny run with one EMA-generator weight of its ckpt-4 set to NaN."""
    workdir = tmp_path_factory.mktemp("nan") / "run"
    shutil.copytree(tiny_run, workdir)
    path = str(workdir / "checkpoints" / "ckpt-4")
    _, gan, _, _ = rundir.load_run(str(workdir), path)
    weight = gan.ema_generator.weights[3]
    value = weight.numpy()
    value.flat[0] = np.nan
    weight.assign(value)
    checkpoint = checkpoints.make_checkpoint(gan)
    _ = checkpoint.save_counter  # as a training checkpoint has
    checkpoint.write(path)
    return workdir, weight.path


def test_a_generator_with_nan_weights_is_refused_by_name(nan_run):
    workdir, bad = nan_run
    path = str(workdir / "checkpoints" / "ckpt-4")
    for load in (rundir.load_generator, rundir.load_run):
        with pytest.raises(errors.RunError) as error:
            load(str(workdir), path)
        message = str(error.value)
        assert "ckpt-4" in message and "non-finite weights" in message and bad in message
        assert "\n" not in message


def test_the_newest_checkpoint_with_nan_weights_is_skipped_with_its_reason(nan_run):
    workdir, _ = nan_run
    # sample/evaluate/export (no --checkpoint) and a resumed training take the last good one.
    _, _, path, step = rundir.load_generator(str(workdir))
    assert path.endswith("ckpt-2") and step == 2
    from vitgan_tf import build

    gan = build.build_gan(tiny_config(workdir))
    restored, skipped = checkpoints.restore_latest(gan, str(workdir / "checkpoints"))
    assert restored.endswith("ckpt-2")
    assert [p.rsplit("/", 1)[-1] for p, _ in skipped] == ["ckpt-4"]
    assert "non-finite weights (NaN or inf) in the ema_generator" in skipped[0][1]


def test_training_stops_when_the_ema_generator_goes_non_finite():
    from vitgan_tf.models.generator import Generator

    generator = Generator("tiny", name="ema_generator")
    generator(np.zeros((1, 32), "float32"))
    model = types.SimpleNamespace(g_optimizer=types.SimpleNamespace(
        iterations=types.SimpleNamespace(numpy=lambda: 6)), ema_generator=generator,
        stop_training=False)
    logger = callbacks.ProgressLogger(None, 4, lambda: "ckpt-4")
    logger.set_model(model)
    logger.on_epoch_begin(0)
    logger.on_epoch_end(0, {"g_loss": 1.0})  # finite: goes on
    value = generator.weights[0].numpy()
    value.flat[-1] = np.inf
    generator.weights[0].assign(value)
    with pytest.raises(FloatingPointError) as error:
        logger.on_epoch_end(0, {"g_loss": 1.0})
    assert "Non-finite weights at step 6" in str(error.value)
    assert generator.weights[0].path in str(error.value) and model.stop_training


# -- a fixed-batch conditional TFLite model --------------------------------------------------------


def test_run_tflite_checks_what_a_fixed_batch_interpreter_cannot(tmp_path):
    import dataclasses

    from vitgan_tf import export
    from vitgan_tf.models.config import get_config
    from vitgan_tf.models.generator import Generator

    generator = Generator(dataclasses.replace(get_config("tiny"), num_classes=4))
    z = np.random.default_rng(0).standard_normal((3, 32)).astype("float32")
    want = np.asarray(generator(z, labels=np.array([0, 1, 3], np.int32)))
    model = export.convert_tflite(generator, "float32", batch=3)
    out = export.run_tflite(model, z, class_id=[0, 1, 3])
    np.testing.assert_allclose(out["raw"], want, atol=1e-4)
    assert out["valid"].tolist() == [1, 1, 1]
    for kwargs, message in (
            (dict(z=z, class_id=[0, 1]), "class_id=[0, 1]: expected one class per row of z (3)"),
            (dict(z=z[:2], class_id=[0, 1]), "z='...': this model takes exactly 3 rows"),
            (dict(z=z), "class_id=None: the model is conditional"),
            (dict(z=z[:, :31], class_id=[0, 1, 2]), "expected float32 [rows, 32]")):
        with pytest.raises(errors.UserError) as error:
            export.run_tflite(model, **kwargs)
        assert str(error.value).startswith(message) or message in str(error.value)
    path = tmp_path / "u.tflite"
    path.write_bytes(export.convert_tflite(Generator("tiny"), "float32"))  # any batch
    assert export.run_tflite(str(path), z[:2])["images"].shape == (2, 16, 16, 3)
    with pytest.raises(errors.UserError, match="unconditional"):
        export.run_tflite(str(path), z, class_id=[0, 0, 0])


# -- preemption while the real statistics are computed ---------------------------------------------


def _counting_extractor(seen):
    def extractor(batch):
        seen.append(len(batch))
        return {"pool": np.ones((len(batch), 3), np.float32),
                "logits": np.zeros((len(batch), 2), np.float32)}
    extractor.name = "counting"
    return extractor


def test_a_signal_stops_the_real_statistics_between_batches(tmp_path):
    import tensorflow as tf

    from vitgan_tf import real_stats

    seen, asked = [], []
    source = tf.data.Dataset.from_tensor_slices(np.zeros((100, 4, 4, 1), np.float32))
    cache = tmp_path / "stats.npz"

    def stop():
        asked.append(1)
        return len(asked) >= 3  # the signal arrives during the second batch

    with pytest.raises(errors.Stopped):
        real_stats.real_statistics(source, _counting_extractor(seen), 100, 20, str(cache), stop)
    assert seen == [20, 20] and not cache.exists()  # no half-made statistics are cached


def test_the_monitor_gives_way_to_a_signal_during_its_real_statistics(tmp_path):
    from vitgan_tf import metrics_log, scoring, train_lib

    asked = []

    def real(stop=None):
        for _ in range(5):  # five batches of real images, each asking `stop`
            if stop():
                raise errors.Stopped()
            asked.append(1)
        raise AssertionError("the signal was not seen")

    settings = scoring.Settings(num_samples=4)
    signalled = []
    monitor = callbacks.QualityMonitor(
        2, types.SimpleNamespace(name="x"), real, settings,
        metrics_path=str(tmp_path / metrics_log.FILE), stop=lambda: bool(signalled))
    model = types.SimpleNamespace(g_optimizer=types.SimpleNamespace(
        iterations=types.SimpleNamespace(numpy=lambda: 2)), stop_training=False)
    monitor.set_model(model)
    signalled.append(1)
    assert monitor.evaluate(2) is None and model.stop_training and asked == []
    assert monitor.real is None  # computed again at the next evaluation
    assert not (tmp_path / metrics_log.FILE).exists()
    # The batches a signal waits for are small.
    assert train_lib.monitor_settings(tiny_config(tmp_path)).batch_size <= 20


# -- a best checkpoint that could not be written ---------------------------------------------------


def test_a_failed_best_save_leaves_a_row_that_does_not_say_best(tmp_path, monkeypatch):
    import json

    from vitgan_tf import metrics_log, scoring

    monkeypatch.setattr(scoring, "score", lambda *a, **k: {"fd": 3.0, "kid": 0.1,
                                                             "kid_std": 0.01})

    def full_disk(step, fd):
        raise OSError("Could not write the best checkpoint")

    settings = scoring.Settings(num_samples=4)
    monitor = callbacks.QualityMonitor(
        2, types.SimpleNamespace(name="x"), lambda stop=None: ({}, "test", settings), settings,
        metrics_path=str(tmp_path / metrics_log.FILE), on_best=full_disk)
    model = types.SimpleNamespace(g_optimizer=types.SimpleNamespace(
        iterations=types.SimpleNamespace(numpy=lambda: 2)), stop_training=False,
        ema_generator=None)
    monitor.set_model(model)
    with pytest.raises(OSError):
        monitor.evaluate(2)
    rows = [json.loads(line) for line in (tmp_path / metrics_log.FILE).read_text().splitlines()]
    assert [(r["step"], r["fd"], r["best"]) for r in rows] == [(2, 3.0, False)]
    assert monitor.best_fd == float("inf")


# -- the report file, two writers ------------------------------------------------------------------


def _write_reports(workdir, key, count):
    from vitgan_tf import reports, scoring

    settings = scoring.Settings(num_samples=4)
    for i in range(count):
        # Lists: no TensorBoard scalar, so the forked writers call no TensorFlow op.
        reports.write(workdir, 2, {f"{key}_{i}": [float(i)]}, settings=settings,
                      extractor_name="x", dataset="digits", split="test", writer=_NoWriter())


class _NoWriter:
    def as_default(self):
        import contextlib

        return contextlib.nullcontext()

    def flush(self):
        pass


def test_two_processes_writing_one_report_lose_nothing(tmp_path):
    import json
    import multiprocessing

    context = multiprocessing.get_context("fork")
    writers = [context.Process(target=_write_reports, args=(str(tmp_path), key, 150))
               for key in ("a", "b")]
    for process in writers:
        process.start()
    for process in writers:
        process.join(120)
        assert process.exitcode == 0
    (path,) = (tmp_path / "eval").iterdir()
    report = json.loads(path.read_text())
    assert sum(key.startswith(("a_", "b_")) for key in report) == 300


def test_a_file_named_eval_is_refused_before_training(tmp_path):
    from tests.helpers import tiny_images
    from vitgan_tf import train_lib

    (tmp_path / "eval").write_text("not a folder")
    cfg = tiny_config(tmp_path, eval_every=2, eval_extractor="fashion_classifier")
    with pytest.raises(errors.RunError) as error:
        train_lib.train(cfg, dataset=tiny_images())
    assert "eval is not a folder" in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "checkpoints").exists()


# -- refusals at validation ----------------------------------------------------------------------


@pytest.mark.parametrize("changes,flag,words", [
    (dict(eval_every=2, eval_metrics="fid,kid,pr", eval_samples=3), "--eval_samples=3",
     "computes pr, which needs at least 4 samples"),
    (dict(eval_every=2, eval_metrics="fid,is", eval_samples=8), "--eval_samples=8",
     "computes is, which needs at least 10 samples"),
    (dict(conditional=True, dataset="folder", data_dir="d", model={"d_pack": 2}),
     "--model.d_pack=2", "1 with --conditional"),
    (dict(model={"self_conditioned": True}), "--model.self_conditioned=True",
     "set --self_cond_clusters=k instead"),
])
def test_settings_that_failed_later_are_refused_at_validation(tmp_path, changes, flag, words):
    with pytest.raises(config.ConfigError) as error:
        tiny_config(tmp_path, **changes).validate()
    message = error.value.render(as_flag=True)
    assert message.startswith(flag) and words in message, message


def test_evaluate_refuses_no_metrics_and_too_few_samples_for_pr():
    from vitgan_tf import scoring

    with pytest.raises(errors.UserError, match="metrics='': expected one or more of fid"):
        scoring.parse_metrics([], 100)
    with pytest.raises(errors.UserError, match="expected one or more"):
        scoring.parse_metrics([" "], 100)
    with pytest.raises(config.ConfigError) as error:
        scoring.Settings(num_samples=3).check(["fid", "pr"])
    assert error.value.render(as_flag=True).startswith("--num_samples=3: precision and recall")
    with pytest.raises(config.ConfigError, match="real_samples=3"):
        scoring.Settings(num_samples=10, real_samples=3).check(["pr"])
    scoring.Settings(num_samples=4, real_samples=4).check(["pr"])  # enough


def test_the_model_flags_set_by_other_flags_say_so_in_help():
    from absl import flags

    values = flags.FlagValues()
    config.define_flags(values)
    for name, by in (("num_classes", "--conditional"),
                     ("self_conditioned", "--self_cond_clusters")):
        assert values[f"model.{name}"].help.startswith(f"Set by {by}")


def test_a_self_conditioned_start_with_too_few_images_writes_nothing(tmp_path):
    import tensorflow as tf

    from vitgan_tf import data as data_lib
    from vitgan_tf import train_lib

    four = tf.data.Dataset.from_tensors(np.zeros((4, 16, 16, 3), np.float32))
    cfg = tiny_config(tmp_path / "run", self_cond_clusters=5, self_cond_images=10)
    with pytest.raises(data_lib.DataError, match="the data has only 4 images"):
        train_lib.train(cfg, dataset=four)
    assert not (tmp_path / "run" / "config.json").exists()


# -- config.json: the version, a user's keys, the seed ---------------------------------------------


def _saved_config(workdir, **changes):
    import json

    path = workdir / "config.json"
    saved = json.loads(path.read_text())
    saved.update(changes)
    path.write_text(json.dumps(saved))
    return saved


def test_a_run_written_by_a_newer_release_is_not_resumed(tiny_run, tmp_path):
    import vitgan_tf
    from vitgan_tf import build

    workdir = tmp_path / "run"
    shutil.copytree(tiny_run, workdir)
    major, minor, _ = (int(p) for p in vitgan_tf.__version__.split("."))
    _saved_config(workdir, version=f"{major}.{minor + 1}.0")
    run = build.resolve_run(tiny_config(workdir))
    with pytest.raises(errors.RunError) as error:
        rundir.check_resume(run)
    assert f"written by vitgan_tf {major}.{minor + 1}.0, newer than this" in str(error.value)
    _saved_config(workdir, version=f"{major}.{minor}.99")  # a patch release: a warning only
    rundir.check_resume(run)
    _saved_config(workdir, version="0.1.0")  # older: resumed as before
    rundir.check_resume(run)


def test_keys_a_user_added_to_config_json_are_kept_on_resume(tiny_run, tmp_path, monkeypatch):
    import json

    from vitgan_tf import build

    workdir = tmp_path / "run"
    shutil.copytree(tiny_run, workdir)
    saved = _saved_config(workdir, notes="lr sweep, second try")
    saved["train"]["my_field"] = 1
    (workdir / "config.json").write_text(json.dumps(saved))
    warnings = []
    monkeypatch.setattr(rundir.logging, "warning", lambda *a: warnings.append(a[0] % a[1:]))
    rundir.write_config(build.resolve_run(tiny_config(workdir)))
    again = json.loads((workdir / "config.json").read_text())
    assert again["notes"] == "lr sweep, second try" and "my_field" not in again["train"]
    assert any("my_field" in w and "not kept" in w for w in warnings)


def test_the_seed_covers_the_weights_initialisation(tmp_path, monkeypatch):
    from tests.helpers import tiny_images
    from vitgan_tf import build, train_lib

    built = []

    class Built(Exception):
        pass

    def build_and_stop(run):
        built.append(real_build(run))
        raise Built()

    real_build = build.build_gan
    monkeypatch.setattr(train_lib.build, "build_gan", build_and_stop)

    def initial(seed, name):
        with pytest.raises(Built):
            train_lib.train(tiny_config(tmp_path / name, seed=seed), dataset=tiny_images())
        gan = built.pop()
        return [w.numpy() for w in gan.generator.weights + gan.discriminator.weights]

    a, b, c = initial(3, "a"), initial(3, "b"), initial(4, "c")
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, z) for x, z in zip(a, c))


# -- sample's seeds ------------------------------------------------------------------------------


@pytest.mark.parametrize("text,message", [
    ("0-99999999999999999999999", "0-99999999999999999999999 is outside [0, 2**63)"),
    ("9223372036854775808", "is outside [0, 2**63)"),
    ("5-3", "the range 5-3 is reversed; write 3-5."),
    ("-1", "expected integers and ranges"),
])
def test_seeds_out_of_range_or_reversed_are_one_line(text, message):
    from vitgan_tf import sample

    with pytest.raises(errors.UserError) as error:
        sample.parse_seeds(text, limit=64)
    assert message in str(error.value)


@pytest.mark.integration
def test_a_first_seed_whose_grid_overflows_is_one_line(tiny_run, tmp_path):
    from tests.helpers import run_cli

    result = run_cli("sample", f"--workdir={tiny_run}", "--seed=9223372036854775807",
                     "--num=2", f"--out={tmp_path / 'x.png'}")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "error: --seed=9223372036854775807: the grid's last seed would be 9223372036854775808, "
        "outside [0, 2**63); start lower.")


# -- the web server --------------------------------------------------------------------------------


def _web_export(tiny_run, output):
    from vitgan_tf import export

    export.export(str(tiny_run), str(output), formats=("tflite",),
                  tflite_variants=("float32",), tflite_batch=1)
    return output


def _raw_request(port, request):
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data.split(b"\r\n", 1)[0].decode()


def test_the_server_answers_bad_requests_and_foreign_hosts_with_an_error(tiny_run, tmp_path,
                                                                         capfd):
    from vitgan_tf import web

    model_dir = _web_export(tiny_run, tmp_path / "export")
    for port in (-1, 70000):
        with pytest.raises(errors.UserError, match=f"port={port}: expected a port from 1"):
            web.make_server(str(model_dir), port=port)
    # The page's files may be missing in a bare checkout; the server's answers do not need them.
    handler_page = web.PAGE_DIR
    server = web.http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), web.functools.partial(
            web.Handler, directory=handler_page,
            files={"/model.tflite": str(model_dir / "tflite" / "v1_float32.tflite"),
                   "/vitgan_tf.json": str(model_dir / "tflite" / "v1_vitgan_tf.json")}))
    server.verbose = False
    port = server.server_address[1]
    import threading

    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert _raw_request(port, b"GET /%00/etc/passwd HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
                            ).startswith("HTTP/1.0 400")
        assert _raw_request(port, b"GET /model.tflite HTTP/1.0\r\nHost: evil.example:%d\r\n\r\n"
                            % port).startswith("HTTP/1.0 403")
        for host in (b"127.0.0.1:%d" % port, b"localhost:%d" % port):
            assert _raw_request(port, b"GET /model.tflite HTTP/1.0\r\nHost: " + host
                                + b"\r\n\r\n").startswith("HTTP/1.0 200")
    finally:
        server.shutdown()
        server.server_close()
    assert "Traceback" not in capfd.readouterr().err


def test_the_server_serves_the_newest_complete_export(tiny_run, tmp_path):
    from vitgan_tf import web

    model_dir = _web_export(tiny_run, tmp_path / "export")
    _web_export(tiny_run, model_dir)  # version 2, then as an export killed before its end
    (model_dir / "tflite" / "v2_vitgan_tf.json").unlink()
    model, description = web.model_files(str(model_dir))
    assert model.endswith("v1_float32.tflite") and description.endswith("v1_vitgan_tf.json")
    with pytest.raises(errors.UserError) as error:
        web.model_files(str(model_dir), version=2)
    assert "version 2 is incomplete (an export stopped before it finished" in str(error.value)


# -- preparing a tfds dataset ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cifar10", "celeb_a"])
def test_an_unprepared_tfds_dataset_says_how_to_prepare_it_without_beam(tmp_path, name):
    from vitgan_tf import data

    for data_dir, flag in ((None, f"--dataset='{name}'"),
                           (str(tmp_path), f"--data_dir='{tmp_path}'")):
        with pytest.raises(data.DataError) as error:
            data.tfds_source(name, data_dir, 32)
        message = error.value.render(as_flag=True)
        assert message.startswith(flag + ": the tfds dataset"), message
        assert "None" not in message and "\n" not in message
        assert "download_and_prepare(" in message and "pip install apache-beam" in message
        if name == "celeb_a":
            assert "manual_dir='FOLDER'" in message and "README.md, Training" in message
    readme = open(os.path.join(ROOT, "README.md")).read()
    assert "'Train on CIFAR-10, CelebA, LSUN bedroom'" not in message
    assert "## Training" in readme and "img_align_celeba.zip" in readme


# -- the second judge during training ------------------------------------------------------------


def test_the_monitor_scores_with_every_judge_and_keeps_the_first_for_the_best(
        tmp_path, monkeypatch):
    import json

    from vitgan_tf import metrics_log, scoring

    drawn = []
    monkeypatch.setattr(scoring, "generated_images",
                        lambda *a, **k: drawn.append(1) or [np.zeros((4, 16, 16, 3))])

    def fake_score(generator, real, extractor, names, settings, stop=None, images=None):
        assert images is not None and len(drawn) in (1, 2)  # drawn once, scored by each
        fd = {"first": 3.0, "second": 5.0}[extractor.name]
        assert real == {"of": extractor.name}  # each judge against its own statistics
        return {"fd": fd, "kid": fd / 10, "kid_std": 0.01}

    monkeypatch.setattr(scoring, "score", fake_score)
    settings = scoring.Settings(num_samples=4)
    first, second = types.SimpleNamespace(name="first"), types.SimpleNamespace(name="second")
    asked = []

    def real(stop=None, extractor=first):
        asked.append(extractor.name)
        return {"of": extractor.name}, "test", settings

    best = []
    monitor = callbacks.QualityMonitor(
        2, first, real, settings, workdir=str(tmp_path), dataset="digits",
        metrics_path=str(tmp_path / metrics_log.FILE), on_best=lambda s, fd: best.append(fd),
        other_extractors=[second], writer=None)
    model = types.SimpleNamespace(g_optimizer=types.SimpleNamespace(
        iterations=types.SimpleNamespace(numpy=lambda: 2)), stop_training=False,
        ema_generator=None)
    monitor.set_model(model)
    monitor.evaluate(2)
    monitor.evaluate(2)
    assert asked == ["first", "second"]  # the statistics are computed once per judge
    assert len(drawn) == 2  # one set of images per evaluation, for both judges
    (row, _) = [json.loads(line) for line in (tmp_path / metrics_log.FILE).read_text()
                .splitlines()]
    assert (row["fd"], row["second_fd"], row["second_kid"]) == (3.0, 5.0, 0.5)
    assert best == [3.0]
    reports = sorted(p.name for p in (tmp_path / "eval").iterdir())
    assert len(reports) == 2 and "_first_" in reports[0] and "_second_" in reports[1]


@pytest.mark.parametrize("value,ok", [("fashion_classifier,fashion_resnet", True),
                                      ("fashion_resnet", True), ("", False),
                                      ("fashion_classifier,fashion_classifier", False),
                                      ("fashion_classifier,nope", False)])
def test_eval_extractor_takes_a_list_of_known_judges(tmp_path, value, ok):
    cfg = tiny_config(tmp_path, eval_every=2, eval_extractor=value)
    if ok:
        assert cfg.validate().eval_extractors() == value.split(",")
    else:
        with pytest.raises(config.ConfigError, match="eval_extractor="):
            cfg.validate()


def test_evaluate_takes_one_report_per_extractor():
    # evaluate's --extractor list, checked as train's --eval_extractor is.
    assert config.extractor_names(["fashion_classifier", " fashion_resnet"], "extractor") == [
        "fashion_classifier", "fashion_resnet"]
    for bad in (["nope"], [], ["fashion_resnet", "fashion_resnet"]):
        with pytest.raises(errors.UserError, match="expected one or more of fid_inception"):
            config.extractor_names(bad, "extractor")
