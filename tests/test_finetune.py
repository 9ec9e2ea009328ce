"""Fine-tuning (`train --init_from`): which weights a new run takes from another run, what it
refuses, and what config.json records."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import TINY_CLI, randn, run_cli, tiny_config
from vitgan_tf import config, finetune, rundir, train_lib
from vitgan_tf.errors import UserError
from vitgan_tf.models.config import get_config
from vitgan_tf.models.gan import ViTGAN


def test_the_source_is_a_run_with_an_optional_checkpoint():
    assert finetune.parse_source("runs/a") == ("runs/a", None)
    assert finetune.parse_source("runs/a:best") == ("runs/a", "best")
    assert finetune.parse_source("runs/a:ckpt-40") == ("runs/a", "runs/a/checkpoints/ckpt-40")
    for bad in ("", ":best", "runs/a:ckpt-x", "runs/a:latest"):
        with pytest.raises(UserError, match="init_from=.*expected a run directory"):
            finetune.parse_source(bad)
    with pytest.raises(config.ConfigError, match="another run than --workdir"):
        tiny_config("runs/a", init_from="runs/a:best").validate()


def test_models_must_agree_where_weights_have_shapes():
    tiny = get_config("tiny")
    finetune.check_compatible(tiny, tiny.replace(omega_0=10.0, w_avg_beta=0.9), "src")
    finetune.check_compatible(tiny, tiny.replace(num_classes=5), "src")  # new classes: fresh
    with pytest.raises(UserError, match=r"init_from='src': the source's model has g_depth=1, "
                                        r"this run's g_depth=2; .*--model.g_depth=1"):
        finetune.check_compatible(tiny, tiny.replace(g_depth=2), "src")
    with pytest.raises(UserError, match="the source's model is 5 classes, this run's 3 classes"):
        finetune.check_compatible(tiny.replace(num_classes=5), tiny.replace(num_classes=3), "s")
    with pytest.raises(UserError, match="is 5 classes, this run's unconditional"):
        finetune.check_compatible(tiny.replace(num_classes=5), tiny, "s")


def _started(monkeypatch, cfg, dataset):
    """The GAN of `train(cfg)` as it is when training would start (fit stops at once)."""
    seen = []

    def fake_fit(self, *args, **kwargs):
        seen.append(self)
        raise KeyboardInterrupt

    monkeypatch.setattr(ViTGAN, "fit", fake_fit)
    with pytest.raises(KeyboardInterrupt):
        train_lib.train(cfg, dataset=dataset)
    monkeypatch.undo()
    return seen[0]


def _other_data(size=4):
    return tf.data.Dataset.from_tensors(np.clip(randn(size, 16, 16, 3, seed=5), -1, 1)).repeat()


@pytest.mark.integration
def test_a_new_run_starts_from_the_source_weights_with_fresh_optimizers(
        tiny_run, tmp_path, monkeypatch):
    source = f"{tiny_run}:ckpt-2"
    _, src, _, step = rundir.load_run(str(tiny_run), str(tiny_run / "checkpoints" / "ckpt-2"))
    assert step == 2
    cfg = tiny_config(tmp_path / "tuned", init_from=source)
    gan = _started(monkeypatch, cfg, _other_data())
    for name in ("generator", "discriminator", "ema_generator"):
        for mine, theirs in zip(getattr(gan, name).weights, getattr(src, name).weights):
            assert mine.path == theirs.path
            np.testing.assert_array_equal(mine.numpy(), theirs.numpy(), err_msg=mine.path)
    assert int(gan.g_optimizer.iterations.numpy()) == 0 == int(gan.images_seen.numpy())
    saved = json.loads((tmp_path / "tuned" / "config.json").read_text())
    assert saved["train"]["init_from"] == source
    record = saved["init_from"]
    assert record["step"] == 2 and record["fresh"] == []
    assert record["checkpoint"] == os.path.abspath(tiny_run / "checkpoints" / "ckpt-2")
    # It trains from there, from step 0; a resume continues it and keeps the record.
    tuned = train_lib.train(tiny_config(tmp_path / "tuned", init_from=source, total_steps=2),
                            dataset=_other_data())
    assert int(tuned.g_optimizer.iterations.numpy()) == 2
    resumed = train_lib.train(tiny_config(tmp_path / "tuned", init_from=source, total_steps=4),
                              dataset=_other_data())
    assert int(resumed.g_optimizer.iterations.numpy()) == 4
    assert json.loads((tmp_path / "tuned" / "config.json").read_text())["init_from"] == record


@pytest.mark.integration
def test_an_unconditional_source_starts_a_conditional_run(tiny_run, tmp_path, monkeypatch):
    from tests.test_conditional import labelled_tiny_images

    _, src, _, _ = rundir.load_run(str(tiny_run))
    cfg = tiny_config(tmp_path / "cond", conditional=True, init_from=str(tiny_run))
    gan = _started(monkeypatch, cfg, labelled_tiny_images())
    record = json.loads((tmp_path / "cond" / "config.json").read_text())["init_from"]
    fresh = set(record["fresh"])
    assert "generator/mapping/embedding/kernel" in fresh
    assert "generator/mapping/dense_0/kernel[32:]" in fresh  # its z rows come from the source
    theirs = {w.path: w.numpy() for m in (src.generator, src.discriminator) for w in m.weights}
    copied = 0
    for model in (gan.generator, gan.discriminator):
        for weight in model.weights:
            if weight.path.endswith("mapping/dense_0/kernel"):
                # The equalized layer's gain is 1 / sqrt(fan_in): 1 / sqrt(64) now, 1 / sqrt(32)
                # in the source, so z meets the source's effective weights.
                np.testing.assert_allclose(weight.numpy()[:32] / np.sqrt(64),
                                           theirs[weight.path] / np.sqrt(32), rtol=1e-6)
            elif weight.path in fresh:
                assert weight.path not in theirs or theirs[weight.path].shape != weight.shape
            elif weight.path.endswith("w_avg"):  # the source's mean, for every class
                np.testing.assert_array_equal(
                    weight.numpy(), np.broadcast_to(theirs[weight.path], weight.shape))
            else:
                np.testing.assert_array_equal(weight.numpy(), theirs[weight.path])
                copied += 1
    assert copied > len(fresh)


@pytest.mark.integration
def test_train_refuses_a_source_that_does_not_fit_in_one_line(tiny_run, tmp_path):
    base = [*TINY_CLI, "--total_steps=2", f"--workdir={tmp_path / 'new'}"]
    for extra, message in (
            ([f"--init_from={tiny_run}", "--model.g_depth=2"],
             "the source's model has g_depth=1, this run's g_depth=2"),
            ([f"--init_from={tmp_path / 'nothing'}"], "the source run: "),
            ([f"--init_from={tiny_run}:ckpt-3"], "ckpt-3"),
            ([f"--init_from={tiny_run}:ckpt"], "expected a run directory")):
        result = run_cli("train", *base, *extra)
        last = result.stderr.strip().splitlines()[-1]
        assert result.returncode == 2 and message in last, result.stderr[-1500:]
        assert last.startswith("error: --init_from=") and "Traceback" not in result.stderr
        assert not (tmp_path / "new" / "config.json").exists()  # nothing written
