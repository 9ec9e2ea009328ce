"""bench/ablation.py: every variant is a command the training CLI accepts, and it changes what
it says it changes (and nothing else)."""

import dataclasses
import sys
import types

import pytest

from bench import ablation
from vitgan_tf import config
from vitgan_tf import train as train_cli

ABLATION = ablation
ARGS = types.SimpleNamespace(runs_dir="runs/ablation", steps=800, kid_every=200,
                             kid_samples=1000, data_dir=None)


def _parse(command):
    """The TrainConfig that `python -m vitgan_tf.train` builds from the command's flags."""
    argv = [command[2]] + command[3:]
    assert command[:3] == [sys.executable, "-m", "vitgan_tf.train"]
    try:
        train_cli.FLAGS(argv)
        cfg = config.from_flags(train_cli.FLAGS)
    finally:
        train_cli.FLAGS.unparse_flags()
    cfg.validate()
    return cfg


def test_baseline_is_the_fashion_preset_with_the_bench_budget():
    _, command = ABLATION.train_command("baseline", 1, ARGS)
    cfg = _parse(command)
    assert (cfg.preset, cfg.dataset, cfg.total_steps, cfg.seed) == ("fashion", "fashion_mnist",
                                                                     800, 1)
    assert cfg.eval_every == 200 and cfg.eval_extractor == "fashion_classifier"
    assert cfg.model == {}


@pytest.mark.parametrize("variant", sorted(set(ABLATION.VARIANTS) - {"baseline"}))
def test_each_variant_changes_only_its_switches(variant):
    _, overrides, flags = ABLATION.VARIANTS[variant]
    base = _parse(ABLATION.train_command("baseline", 0, ARGS)[1])
    cfg = _parse(ABLATION.train_command(variant, 0, ARGS)[1])
    model, base_model = config.model_config(cfg), config.model_config(base)
    changed = {k for k, v in model.to_dict().items() if base_model.to_dict()[k] != v}
    assert changed == set(overrides)
    for key, value in overrides.items():
        assert getattr(model, key) == value
    train_changes = {f.name for f in dataclasses.fields(cfg)
                     if getattr(cfg, f.name) != getattr(base, f.name)}
    # A flag may restate the default (augment_probability 0.8); nothing else may change.
    assert train_changes - {"workdir", "model"} <= set(flags)
    assert bool(train_changes - {"workdir", "model"}) == bool(flags)
    for key, value in flags.items():
        assert getattr(cfg, key) == value
