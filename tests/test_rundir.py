"""Run directories under faults: damaged checkpoints and metadata, interruption, bad flags.

Each scenario starts from one small trained run (tiny preset, ckpt-2 and ckpt-4), copied.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import tensorflow as tf

from tests.helpers import ROOT, TINY_CLI, run_cli, tiny_config, tiny_images
from vitgan_tf import build, checkpoints, errors, rundir, train_lib

pytestmark = pytest.mark.integration
_cfg, _data = tiny_config, tiny_images


@pytest.fixture
def run(tiny_run_master, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(tiny_run_master, copy)
    return copy


def _ckpt(run):
    return run / "checkpoints"


def _digest(path):
    return {p.name: p.read_bytes() for p in sorted(path.glob("ckpt-*")) if p.is_file()}


def test_resume_without_a_readable_state_file_continues_from_the_newest_checkpoint(run):
    state = _ckpt(run) / "checkpoint"
    # A missing state file takes the same fallback as a garbled one (restore_latest lists the
    # files, never the state file): checked in-process, then the garbled one end to end.
    state.unlink()
    assert checkpoints.restore_latest(build.build_gan(_cfg(run)), str(_ckpt(run)))[0].endswith(
        "ckpt-4")
    state.write_text("model_checkpoint_path: \x00\x01 garbage {{{")
    before = _digest(_ckpt(run))
    gan = train_lib.train(_cfg(run, total_steps=6), dataset=_data())
    assert gan.g_optimizer.iterations.numpy() == 6  # resumed at 4, not restarted at 0
    after = _digest(_ckpt(run))
    for name in ("ckpt-2.index", "ckpt-4.index"):
        assert after[name] == before[name]  # never rewritten
    assert tf.train.latest_checkpoint(str(_ckpt(run))).endswith("ckpt-6")


def test_a_damaged_newest_checkpoint_is_skipped_kept_and_never_overwritten(run):
    data_file = next(_ckpt(run).glob("ckpt-4.data-*"))
    damaged = data_file.read_bytes()[:100]
    data_file.write_bytes(damaged)
    # sample / evaluate / export load the generator: they fall back to ckpt-2.
    _, generator, path, step = rundir.load_generator(str(run))
    assert path.endswith("ckpt-2") and step == 2
    # Training resumes from ckpt-2 and sets the damaged ckpt-4 aside, byte for byte.
    gan = train_lib.train(_cfg(run, total_steps=4), dataset=_data())
    assert gan.g_optimizer.iterations.numpy() == 4
    kept = list((_ckpt(run) / "damaged").rglob(data_file.name))
    assert len(kept) == 1 and kept[0].read_bytes() == damaged
    # The new ckpt-4 is a complete checkpoint.
    assert rundir.load_generator(str(run))[2].endswith("ckpt-4")


def test_keep_checkpoints_also_rotates_the_checkpoints_of_earlier_sessions(run):
    # Issue 23 item 4: the state file rewritten on resume had no timestamps, so the manager
    # never deleted the checkpoints that were there before the restart.
    train_lib.train(_cfg(run, total_steps=6, keep_checkpoints=1), dataset=_data())
    assert sorted(p.name for p in _ckpt(run).glob("ckpt-*.index")) == ["ckpt-6.index"]


def test_a_missing_newest_index_falls_back_and_keeps_the_orphaned_data(run):
    (_ckpt(run) / "ckpt-4.index").unlink()
    orphan = next(_ckpt(run).glob("ckpt-4.data-*"))
    content = orphan.read_bytes()
    gan = train_lib.train(_cfg(run, total_steps=4), dataset=_data())
    assert gan.g_optimizer.iterations.numpy() == 4
    assert [p.read_bytes() for p in (_ckpt(run) / "damaged").rglob(orphan.name)] == [content]


def test_checkpoint_data_that_never_restores_stops_with_a_message(run):
    for path in _ckpt(run).glob("ckpt-*.data-*"):
        path.write_bytes(b"")
    before = _digest(_ckpt(run))
    with pytest.raises(errors.RunError, match="none restores"):
        train_lib.train(_cfg(run, total_steps=6), dataset=_data())
    assert _digest(_ckpt(run)) == before


def test_a_wrong_preset_without_config_json_writes_nothing(run):
    (run / "config.json").unlink()
    with pytest.raises(errors.RunError, match="none restores"):
        train_lib.train(_cfg(run, preset="digits", total_steps=6), dataset=_data())
    assert not (run / "config.json").exists()
    # The right preset still resumes.
    gan = train_lib.train(_cfg(run, total_steps=6), dataset=_data())
    assert gan.g_optimizer.iterations.numpy() == 6
    assert json.loads((run / "config.json").read_text())["train"]["preset"] == "tiny"


def test_total_steps_off_the_log_grid_trains_exactly_that_many(run):
    gan = train_lib.train(_cfg(run, total_steps=7), dataset=_data())
    assert gan.g_optimizer.iterations.numpy() == 7
    assert tf.train.latest_checkpoint(str(_ckpt(run))).endswith("ckpt-7")
    # And a resume from step 7 gets back on the grid.
    gan = train_lib.train(_cfg(run, total_steps=10), dataset=_data())
    assert gan.g_optimizer.iterations.numpy() == 10


def test_checkpoint_flag_accepts_the_index_file_and_names_a_folder(run):
    _, _, path, step = rundir.load_generator(str(run), str(_ckpt(run) / "ckpt-2.index"))
    assert path.endswith("ckpt-2") and step == 2
    with pytest.raises(errors.RunError, match="is a folder"):
        rundir.load_generator(str(run), str(_ckpt(run)))
    with pytest.raises(errors.RunError, match="does not exist"):
        rundir.load_generator(str(run), str(_ckpt(run) / "ckpt-99"))


def test_a_truncated_config_json_is_named(run):
    (run / "config.json").write_text('{"train": {"preset": "ti')
    with pytest.raises(errors.RunError, match="config.json: cannot be read"):
        rundir.load_generator(str(run))


def _edit_config(run, section, **values):
    config = json.loads((run / "config.json").read_text())
    config[section].update(values)
    (run / "config.json").write_text(json.dumps(config))


def test_a_hand_edited_config_json_is_named_with_its_field(run):
    # Issue 23 item 10: no contradictory "--preset='tiny' ... (saved preset 'tiny')".
    _edit_config(run, "model", d_arch="bogus")
    for call in (lambda: train_lib.train(_cfg(run, total_steps=6), dataset=_data()),
                 lambda: rundir.load_generator(str(run))):
        with pytest.raises(errors.RunError) as error:
            call()
        assert "config.json" in str(error.value) and '"model" section' in str(error.value)
        assert "d_arch" in str(error.value) and "--preset" not in str(error.value)
    # A value of the wrong type is named by its field.
    _edit_config(run, "model", d_arch="vit", image_size="abc")
    with pytest.raises(errors.RunError, match='"image_size" is \'abc\', expected int'):
        rundir.load_generator(str(run))
    _edit_config(run, "model", image_size=16)
    # A valid but different model names the fields that differ.
    _edit_config(run, "model", d_arch="vit", g_depth=3)
    with pytest.raises(errors.RunError, match="g_depth: saved 3, now"):
        train_lib.train(_cfg(run, total_steps=6), dataset=_data())
    # An invalid dataset in the train section is named as the file's field, not as a flag
    # (evaluate has no --dataset).
    _edit_config(run, "train", dataset="nonsense")
    with pytest.raises(errors.RunError, match=r'config.json: "train"."dataset" is \'nonsense\''):
        rundir.load_config(str(run))


def test_a_checkpoint_of_another_model_is_one_line_not_hundreds(run, tmp_path):
    # Issue 23 item 9: TF logged one warning per unmatched value (708 lines) after our error.
    other = tmp_path / "other" / "ckpt-1"
    checkpoints.make_checkpoint(build.build_gan(_cfg(run, preset="digits"))).write(str(other))
    _edit = [("--checkpoint", str(other)), ("config.json", None)]
    for what, checkpoint in _edit:
        if checkpoint is None:  # a config.json that does not fit the run's checkpoints
            _edit_config(run, "model", g_depth=3)
        result = subprocess.run(
            [sys.executable, "-m", "vitgan_tf.sample", f"--workdir={run}",
             f"--out={tmp_path / 'x.png'}"] + ([f"--checkpoint={checkpoint}"] if checkpoint
                                                else []),
            cwd=ROOT, capture_output=True, text=True, timeout=300)
        lines = result.stderr.splitlines()
        assert result.returncode == 2 and len(lines) < 10, lines[:20]
        assert lines[-1].startswith("error: ") and what in lines[-1], lines[-1]


def _cli(*args, **kw):
    return run_cli("train", *args, **kw)


# SIGINT goes to the same handler (StopOnSignal, whose signals test_reliability checks
# in-process) and the same exit path (128 + the signal's number): one run, with SIGTERM.
def test_sigterm_saves_a_checkpoint_and_exits_nonzero(tmp_path):
    sig = signal.SIGTERM
    workdir = tmp_path / "run"
    (_ckpt(workdir) / "ckpt-0_temp").mkdir(parents=True)  # left by an interrupted save
    args = [*TINY_CLI, "--batch_size=4", "--log_every=1000",
            "--checkpoint_every=1000", "--sample_every=1000", "--grid_size=4",
            "--total_steps=100000", f"--workdir={workdir}"]
    proc = subprocess.Popen([sys.executable, "-m", "vitgan_tf.train", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 240
        while time.time() < deadline and not (workdir / "config.json").exists():
            time.sleep(0.2)
        time.sleep(8)  # into training
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 128 + sig, stderr[-2000:]
    assert "Traceback" not in stderr
    assert "Interrupted at step" in stderr and "Run the same command again" in stderr
    latest = tf.train.latest_checkpoint(str(_ckpt(workdir)))
    step = int(latest.rsplit("-", 1)[1])
    assert step > 0 and f"ckpt-{step}" in stderr
    assert not (_ckpt(workdir) / "ckpt-0_temp").exists()
    # Resume continues from there.
    result = _cli(*args[:-2], f"--total_steps={step + 1}", f"--workdir={workdir}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"at step {step}" in result.stderr


@pytest.mark.parametrize("args,message", [
    (["--seed=9223372036854775808"], "--seed"),
    (["--lr=inf"], "--lr=inf"),
    # The replaced --model_overrides names its replacement; a bad model field value is named.
    (["--model_overrides=d_norm=sn"], "write --model.d_norm=sn instead"),
    (["--model.d_conv_channels=0"], "--model.d_conv_channels=0"),
    # Issue 23 item 6: a folder given without --dataset=folder is not silently ignored.
    (["--data_dir=/tmp"], "--dataset=digits is built in"),
    # Flag parsing errors, which absl reports with a usage hint and exit 1.
    (["--total_steps=abc"], "--total_steps=abc"),
    (["--no_such_flag=1"], "no_such_flag"),
    (["positional"], "unexpected arguments ['positional']"),
])
def test_cli_user_errors_are_one_line_with_exit_2(tmp_path, args, message):
    result = _cli("--preset=tiny", f"--workdir={tmp_path / 'w'}", *args)
    assert result.returncode == 2, result.stderr[-1000:]
    assert message in result.stderr and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if message in line]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-1000:]
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("tool,args,message", [
    ("sample", [], "--workdir"), ("export", ["--workdir=x"], "--output"),
    ("evaluate", ["--workdir=x", "--num_samples=many"], "--num_samples=many"),
    ("evaluate", ["--workdir=x", "--truncation_psi=inf"], "--truncation_psi=inf"),
    # The run directory is checked before any extractor weights are looked for.
    ("evaluate", ["--workdir=/nonexistent/run"], "--workdir='/nonexistent/run'")])
def test_other_clis_report_flag_errors_in_one_line(tool, args, message):
    result = subprocess.run([sys.executable, "-m", f"vitgan_tf.{tool}", *args], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr[-1000:]
    lines = [line for line in result.stderr.splitlines() if message in line]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-1000:]


def test_cli_workdir_that_is_a_file_or_read_only(tmp_path):
    afile = tmp_path / "file"
    afile.write_text("x")
    result = _cli(*TINY_CLI, f"--workdir={afile}", "--total_steps=2")
    assert result.returncode == 2 and "is a file" in result.stderr
    assert "Traceback" not in result.stderr
    if os.geteuid() == 0:
        return  # root writes anywhere: the read-only case cannot be made here
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    result = _cli(*TINY_CLI, f"--workdir={ro / 'run'}",
                  "--total_steps=2")
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_a_workdir_on_a_read_only_disk_is_one_line(read_only_disk):
    result = _cli(*TINY_CLI, "--total_steps=2",
                  f"--workdir={read_only_disk / 'run'}")
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    error = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "cannot be written" in error[0]


def test_disk_full_during_a_checkpoint_keeps_the_last_one_and_resumes(small_disk):
    workdir = small_disk / "run"
    args = [*TINY_CLI, "--batch_size=4", "--log_every=2",
            "--checkpoint_every=2", "--sample_every=1000", "--grid_size=4",
            "--keep_checkpoints=5", f"--workdir={workdir}"]
    result = _cli(*args, "--total_steps=4")
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    error = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "Could not write checkpoint 4" in error[0]
    assert "disk full" in error[0]
    assert tf.train.latest_checkpoint(str(_ckpt(workdir))).endswith("ckpt-2")
    # With space again, the same command resumes from ckpt-2, removes what the failed save
    # left, and finishes.
    subprocess.run(["mount", "-o", "remount,size=8m", str(small_disk)], check=True)
    result = _cli(*args, "--total_steps=4")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "at step 2" in result.stderr
    assert tf.train.latest_checkpoint(str(_ckpt(workdir))).endswith("ckpt-4")
    assert not list(_ckpt(workdir).glob("*_temp*"))


def test_evaluate_with_a_read_only_cache_dir_is_one_line(run, read_only_disk):
    result = subprocess.run(
        [sys.executable, "-m", "vitgan_tf.evaluate", f"--workdir={run}", "--num_samples=20",
         "--extractor=fashion_classifier", f"--cache_dir={read_only_disk / 'stats'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    error = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "Read-only file system" in error[0] and "--cache_dir" in error[0]
