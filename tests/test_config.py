"""The training settings: each declared once, and from the declaration its flag, its check and its
place in config.json."""

import dataclasses
import json
import math
import subprocess
import sys

import pytest
from absl import flags

from vitgan_tf import config
from vitgan_tf.models.config import ViTGANConfig


def _valid(**kw):
    return config.TrainConfig(workdir="w", **kw)


def _bounded_fields():
    for field in dataclasses.fields(config.TrainConfig):
        accepts = field.metadata["accepts"]
        if accepts.low is not None or accepts.high is not None:
            yield field, accepts


@pytest.mark.parametrize("field,accepts", list(_bounded_fields()), ids=lambda x: getattr(
    x, "name", ""))
def test_every_bound_is_enforced_at_its_edge(field, accepts):
    # The declared bound itself is accepted unless it is open; one step past it never is.
    kind = int if field.type in (int, "int") else float
    step = 1 if kind is int else 1e-9 * max(1.0, abs(accepts.low or accepts.high or 1))
    edges = []
    if accepts.low is not None:
        edges.append((kind(accepts.low), not accepts.low_open))
        edges.append((kind(accepts.low - step), False))
    if accepts.high is not None:
        edges.append((kind(accepts.high) if kind is float else accepts.high, not
                      accepts.high_open))
        edges.append((kind(accepts.high + step) if kind is float else accepts.high + step, False))
    # Multiples of log_every keep the cross-field checks out of the way.
    values = {"log_every": 1} if field.name != "log_every" else {}
    for value, ok in edges:
        cfg = _valid(**{**values, field.name: value})
        if ok:
            cfg.validate()
        else:
            with pytest.raises(config.ConfigError, match=f"^{field.name}="):
                cfg.validate()


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(config.TrainConfig)
                                  if f.type in (float, "float")])
def test_float_settings_refuse_nan_and_inf(name):
    for value in (math.nan, math.inf):
        with pytest.raises(config.ConfigError, match=f"^{name}=(nan|inf)"):
            _valid(**{name: value}).validate()


def test_choices_and_types_are_checked_with_the_flag_named():
    with pytest.raises(config.ConfigError, match=r"^loss='hinge': expected one of ns, rpgan"):
        _valid(loss="hinge").validate()
    with pytest.raises(config.ConfigError, match=r"^batch_size='8': expected an integer"):
        _valid(batch_size="8").validate()
    with pytest.raises(config.ConfigError, match=r"^batch_size=True"):
        _valid(batch_size=True).validate()
    assert _valid(lr=1).validate().lr == 1  # an int where a float is declared is fine


def test_accepts_describes_itself():
    assert config.Accepts(low=0, high=1, high_open=True).expected(float) == (
        "a finite number in [0, 1)")
    assert config.Accepts(low=0, low_open=True).expected(float) == "a finite number > 0"
    assert config.Accepts(low=1).expected(int) == "an integer >= 1"
    assert config.Accepts(choices=("a", "b")).expected(str) == "one of a, b"


def _flag_values():
    values = flags.FlagValues()
    config.define_flags(values)
    return values


def _parse(*args):
    values = _flag_values()
    values(["prog", "--workdir=w", *args])
    return config.from_flags(values)


def test_every_setting_and_every_model_field_is_a_flag():
    values = _flag_values()
    for field in dataclasses.fields(config.TrainConfig):
        assert field.name == "model" or field.name in values
    for field in dataclasses.fields(ViTGANConfig):
        assert f"model.{field.name}" in values
        assert values[f"model.{field.name}"].default is None  # the preset's value


def test_model_flags_change_the_preset_typed():
    cfg = _parse("--preset=fashion", "--model.d_arch=stylegan2", "--model.d_conv_channels=16",
                 "--model.d_overlapping_patches=false", "--model.omega_0=4").validate()
    assert cfg.model == {"d_arch": "stylegan2", "d_conv_channels": 16,
                         "d_overlapping_patches": False, "omega_0": 4.0}
    model = config.model_config(cfg)
    assert (model.d_arch, model.d_conv_channels, model.image_size) == ("stylegan2", 16, 28)
    # Unset model flags leave the preset alone.
    assert config.model_config(_parse("--preset=fashion")) == config.model_config(
        _valid(preset="fashion"))


def test_a_bad_model_value_names_its_flag():
    with pytest.raises(config.ConfigError, match=r"^model.d_conv_channels=0: "):
        _parse("--model.d_conv_channels=0").validate()
    with pytest.raises(flags.IllegalFlagValueError):
        _parse("--model.d_norm=spectral")
    with pytest.raises(config.ConfigError, match=r"^--model.nonsense: not a ViTGANConfig"):
        _valid(model={"nonsense": 1}).validate()


def test_model_overrides_names_its_replacement():
    with pytest.raises(config.ConfigError, match=(
            r"write --model.d_arch=stylegan2 --model.d_conv_channels=16 instead")):
        _parse("--model_overrides=d_arch=stylegan2,d_conv_channels=16")


@pytest.mark.parametrize("old,new,value", [("num_samples", "grid_size", "100"),
                                           ("kid_every", "eval_every", "1000"),
                                           ("kid_samples", "eval_samples", "2000"),
                                           ("kid_extractor", "eval_extractor", "fid_inception")])
def test_renamed_flags_name_their_new_spelling(old, new, value):
    with pytest.raises(config.ConfigError, match=(
            f"^--{old}={value}: renamed; write --{new}={value} instead.$")):
        _parse(f"--{old}={value}")
    # A config.json written before the rename reads under the new name.
    saved = {**dataclasses.asdict(_valid()), old: type(getattr(_valid(), new))(value)}
    del saved[new]
    assert getattr(config.from_dict(saved), new) == getattr(_parse(f"--{new}={value}"), new)


def test_config_json_round_trip_and_old_files():
    cfg = _valid(preset="fashion", model={"d_arch": "stylegan2"}, lr=1e-3)
    saved = json.loads(json.dumps(dataclasses.asdict(cfg)))
    assert config.from_dict(saved) == cfg
    # A run saved by 0.2 carries model_overrides (its model section holds the full model).
    old = {**saved, "model_overrides": "d_arch=stylegan2"}
    del old["model"]
    assert config.from_dict(old) == dataclasses.replace(cfg, model={})


def test_checking_the_settings_needs_no_tensorflow(tmp_path):
    # Training's settings, evaluate's settings and metric names, and a run's config.json (a
    # damaged one included) are checked before TensorFlow starts (about 7 s): sample and
    # evaluate refuse a bad flag or run directory in under a second.
    (tmp_path / "config.json").write_text("{")
    code = f"""
import sys
from vitgan_tf import config, evaluate, rundir, sample, scoring
config.TrainConfig(workdir="w", preset="fashion", model={{"d_arch": "stylegan2"}},
                   eval_metrics="fid,pr").validate()
scoring.Settings().check(scoring.parse_metrics(["fid10k", "is"], 5)[0])
print(rundir.read_config("/no/such/run"), sample.parse_seeds("0-3"))
try:
    rundir.read_config({str(tmp_path)!r})
except ValueError as error:
    print("cannot be read (" in str(error))
print(sorted(m for m in ("tensorflow", "keras") if m in sys.modules))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == ["None [0, 1, 2, 3]", "True", "[]"]


def test_the_cli_writes_library_arguments_as_its_flags(monkeypatch):
    # A library error carries its argument and value; a notebook reads them as arguments, the
    # command line as the tool's flags (an argument that is no flag of the tool stays as it is).
    from vitgan_tf import cli, data
    from vitgan_tf.errors import UserError

    values = flags.FlagValues()
    flags.DEFINE_string("data_dir", None, "", flag_values=values)
    monkeypatch.setattr(flags, "FLAGS", values)
    with pytest.raises(data.DataError) as raised:
        data.list_image_files("/no/such/folder")
    assert str(raised.value).startswith("data_dir='/no/such/folder' is not a folder")
    assert cli.render(raised.value).startswith("--data_dir='/no/such/folder' is not a folder")
    other = UserError(": expected one of a, b.", argument="extractor", value="z")
    assert str(other) == cli.render(other) == "extractor='z': expected one of a, b."
    with pytest.raises(config.ConfigError) as raised:
        config.TrainConfig(workdir="w", batch_size=0).validate()
    assert str(raised.value) == "batch_size=0: expected an integer >= 1."
    plain = UserError("--checkpoint=best: no best checkpoint.")
    assert str(plain) == cli.render(plain) == "--checkpoint=best: no best checkpoint."


def test_the_dataset_names_match_the_sources_data_py_implements():
    # config.py names the datasets so that settings can be checked without TensorFlow; data.py
    # holds the sources (and the old SOURCES was derived from them).
    from vitgan_tf import data

    assert set(config.DATASETS) == ({"digits", "folder"} | set(data.IDX_DATASETS)
                                    | set(data.TFDS_DATASETS))


def test_auto_precision_picks_bfloat16_only_where_the_cpu_has_it(tmp_path):
    avx2_only = {"fma", "avx2", "avx512f"}  # AVX-512 without its bfloat16 extension
    assert config.resolve_precision("auto", avx2_only) == "float32"
    assert config.resolve_precision("auto", avx2_only | {"avx512_bf16"}) == "mixed_bfloat16"
    assert config.resolve_precision("auto", {"amx_bf16"}) == "mixed_bfloat16"
    assert config.resolve_precision("auto", {"avx512_bf16"}, gpus=1) == "float32"
    assert config.resolve_precision("mixed_float16", set()) == "mixed_float16"
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx512_bf16 amx_tile\n\nflags\t: x\n")
    assert config.cpu_flags(str(info)) == {"fpu", "sse", "avx512_bf16", "amx_tile"}
    assert config.cpu_flags(str(tmp_path / "missing")) == set()
    assert _valid(mixed_precision="auto").validate().mixed_precision == "auto"


def test_one_dataset_registry_gives_the_choices_the_help_and_the_readers():
    from vitgan_tf import data

    registry = config.DATASET_REGISTRY
    assert config.DATASETS == tuple(registry)
    assert set(config.LABELLED_DATASETS) == {n for n, i in registry.items() if i.labelled}
    help_text = next(f for f in dataclasses.fields(config.TrainConfig)
                     if f.name == "dataset").metadata["help"]
    for name, info in registry.items():
        assert f"{name}: " in help_text
        assert info.kind in ("digits", "folder", "idx", "tfds")  # data.image_source reads these
        assert (name in data.TFDS_DATASETS) == (info.kind == "tfds")
        assert (name in data.IDX_DATASETS) == (info.kind == "idx")
