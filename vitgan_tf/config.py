"""A training run's settings, each declared once: `TrainConfig`.

A field's declaration (type, default, help and what values it accepts) gives its command-line
flag, its validation, its place in config.json and the value the run receives. The model
(`ViTGANConfig`) is a preset plus per-field changes, set on the command line as
`--model.<field>=<value>`, one flag per `ViTGANConfig` field.

This module needs neither TensorFlow nor Keras: the command-line tools check every setting
before TensorFlow starts.
"""

import dataclasses
import math
import os
import re

from absl import flags

from vitgan_tf.errors import UserError, check_run_path
from vitgan_tf.models.config import CHOICES, ViTGANConfig, get_config


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """One entry of the dataset registry: how data.py reads it and what it offers.

    kind: "digits" (embedded), "folder" (images in a folder), "idx" (IDX files: default
    folder `idx_dir`, `hint` for getting them) or "tfds" (a prepared tfds dataset `tfds_name`).
    labelled: it has class labels (a folder: one subfolder per class), for conditional runs.
    """

    kind: str
    labelled: bool
    help: str
    tfds_name: str = ""
    idx_dir: str = ""
    hint: str = ""


# The dataset registry: config's --dataset choices and help, data.py's readers and the
# labelled datasets of conditional runs all come from here. A new dataset is one entry here
# (and a reader in data.py if its kind is new).
DATASET_REGISTRY = {
    "digits": DatasetInfo("digits", True, "the embedded demo (scikit-learn's 8x8 digits)"),
    "folder": DatasetInfo("folder", True, "--data_dir of images (labels: one subfolder per "
                          "class)"),
    "fashion_mnist": DatasetInfo("idx", True, "IDX files (default "
                                 "/usr/share/datasets/fashion-mnist)",
                                 idx_dir="/usr/share/datasets/fashion-mnist",
                                 hint="apt-get install -y dataset-fashion-mnist"),
    "mnist": DatasetInfo("idx", True, "IDX files in --data_dir",
                         hint="download the four MNIST *-ubyte.gz files into data_dir=DIR"),
    "cifar10": DatasetInfo("tfds", True, "tfds", tfds_name="cifar10"),
    "celeb_a": DatasetInfo("tfds", False, "tfds, prepared by hand", tfds_name="celeb_a"),
    "lsun_bedroom": DatasetInfo("tfds", False, "tfds", tfds_name="lsun/bedroom"),
}
# Names of the choices that other modules implement (data.py, features.py, augment.py),
# kept here so that a setting can be checked without importing them.
DATASETS = tuple(DATASET_REGISTRY)
# The datasets with class labels (a folder: one subfolder per class), for conditional runs.
LABELLED_DATASETS = tuple(name for name, info in DATASET_REGISTRY.items() if info.labelled)
EXTRACTORS = ("fid_inception", "keras_inception", "fashion_classifier", "fashion_resnet")
# The names of scoring.METRICS (which refuses to register any other), for the checks here.
METRIC_NAMES = ("fid", "kid", "is", "pr", "acc", "ifd")
CONDITIONAL_METRIC_NAMES = ("acc", "ifd")
# The fewest samples a metric is defined on: precision and recall take each sample's 3rd nearest
# neighbour in its own set; IS averages 10 splits (evaluate's --is_splits, the monitor's).
PR_NEIGHBOURS = 3
METRIC_MIN_SAMPLES = {"pr": PR_NEIGHBOURS + 1, "is": 10}
AUGMENTATIONS = ("color", "scale", "translation", "cutout")
LOSSES = ("ns", "rpgan")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16", "auto")
# CPU flags (Linux /proc/cpuinfo) of native bfloat16 arithmetic, which oneDNN uses.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
MODEL_FLAG_PREFIX = "model."
# ViTGANConfig fields that training sets from other flags (and refuses as --model.<field>).
SET_BY_OTHER_FLAGS = {"num_classes": "--conditional (the classes come from the data)",
                      "self_conditioned": "--self_cond_clusters=k (k clusters of the "
                                          "discriminator's features)"}
# Settings renamed in 0.4 (old name -> new): config.json files of earlier runs are read with the
# new names, and the old flags give one line naming the new one.
RENAMED = {"num_samples": "grid_size", "kid_every": "eval_every", "kid_samples": "eval_samples",
           "kid_extractor": "eval_extractor"}


@dataclasses.dataclass(frozen=True)
class Accepts:
    """What a setting accepts beyond its type: bounds and/or a list of choices."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low < value rather than low <= value
    high_open: bool = False
    choices: tuple = ()

    def ok(self, value):
        if self.choices:
            return value in self.choices
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def expected(self, kind):
        if self.choices:
            return "one of " + ", ".join(map(str, self.choices))
        low = None if self.low is None else (">" if self.low_open else ">=")
        high = None if self.high is None else ("<" if self.high_open else "<=")
        noun = "an integer" if kind is int else "a finite number"
        if low and high:
            left = "(" if self.low_open else "["
            right = ")" if self.high_open else "]"
            return f"{noun} in {left}{_num(self.low)}, {_num(self.high)}{right}"
        if low:
            return f"{noun} {low} {_num(self.low)}"
        if high:
            return f"{noun} {high} {_num(self.high)}"
        return noun


def _num(value):
    return int(value) if float(value).is_integer() and abs(value) < 1e15 else value


def setting(default, help_text, **accepts):
    """A field of a settings dataclass (TrainConfig, scoring.Settings): its default, its help,
    and what it accepts (`Accepts` arguments). `define_fields` makes it a flag, `check_fields`
    checks it."""
    return dataclasses.field(default=default,
                             metadata={"help": help_text, "accepts": Accepts(**accepts)})


POSITIVE = {"low": 1}
POSITIVE_REAL = {"low": 0, "low_open": True}
NON_NEGATIVE = {"low": 0}
UNIT = {"low": 0, "high": 1, "high_open": True}


@dataclasses.dataclass(frozen=True)
class StepSettings:
    """The train step's settings: what `ViTGAN.train_step` reads, and nothing else. Each is
    declared here once; `TrainConfig` inherits them, so each is also a flag, a check and a key
    of config.json, and `step_settings(train_cfg)` hands the GAN exactly these values."""

    d_steps: int = setting(1, "Discriminator steps per generator step.", **POSITIVE)
    bcr_real: float = setting(10.0, "bCR weight lambda_real.", **NON_NEGATIVE)
    bcr_fake: float = setting(10.0, "bCR weight lambda_fake.", **NON_NEGATIVE)
    augment_policy: str = setting(
        "color,scale,translation,cutout",
        "DiffAugment policy: comma-separated color,scale,translation,cutout; empty: none.")
    augment_probability: float = setting(0.8, "Per-sample probability of each augmentation.",
                                         low=0, high=1)
    ema_half_life_kimg: float = setting(
        10.0, "Generator EMA half-life in thousands of images.", **POSITIVE_REAL)
    r1_gamma: float = setting(
        0.0, "R1 penalty weight on real images (0: off, the ViT discriminator default; the "
        "StyleGAN2 discriminator needs it).", **NON_NEGATIVE)
    r2_gamma: float = setting(0.0, "R2 penalty weight: the same penalty on generated images.",
                              **NON_NEGATIVE)
    r1_interval: int = setting(
        1, "Lazy regularization: R1/R2 every N steps, weighted by N (StyleGAN2 uses 16).",
        **POSITIVE)
    loss: str = setting("ns", "GAN loss: ns (non-saturating, the paper's) or rpgan "
                        "(relativistic pairing, R3GAN's).", choices=LOSSES)
    seed: int = setting(0, "Run seed: the weights' initialisation (from seed mod 2**32), the "
                        "data's order and every random draw of the train step.", low=0,
                        high=2**63, high_open=True)
    ms_weight: float = setting(
        0.0, "Mode-seeking term (MSGAN, Mao et al. 2019) on the generator: weight of "
        "1 / (mean|G(z1)-G(z2)| / mean|z1-z2| + 1e-5) over pairs of the batch; 0: off.",
        **NON_NEGATIVE)

    def check(self):
        """Raise ConfigError naming the setting of any value it does not accept."""
        check_fields(self)
        try:
            parse_policy(self.augment_policy)
        except ValueError as e:
            raise ConfigError(f": {e}",
                              argument="augment_policy", value=self.augment_policy) from None
        return self


def step_settings(train_cfg):
    """The StepSettings of a TrainConfig: its values of StepSettings' fields."""
    return StepSettings(**{f.name: getattr(train_cfg, f.name)
                           for f in dataclasses.fields(StepSettings)})


@dataclasses.dataclass(frozen=True)
class TrainConfig(StepSettings):
    """Everything a training run needs: the train step's settings (StepSettings) and the
    run's. `train.py` makes one flag per field, with its help."""

    workdir: str = setting(
        "", "Run directory: checkpoints, TensorBoard logs, samples. An existing one resumes.")
    dataset: str = setting(
        "digits", "; ".join(f"{name}: {info.help}" for name, info in DATASET_REGISTRY.items())
        + ".", choices=DATASETS)
    data_dir: str | None = setting(
        None, "Image folder for --dataset=folder; IDX folder for fashion_mnist (default "
        "/usr/share/datasets/fashion-mnist) and mnist; tfds data_dir for tfds datasets.")
    preset: str = setting("digits", "Model size: 32, 64, 128, fashion, digits or tiny. Change "
                          "single fields of it with --model.<field>=<value>.")
    # Filled from the --model.<field> flags: the changes to the preset's ViTGANConfig.
    model: dict = dataclasses.field(default_factory=dict, metadata={
        "help": "Changes to the preset's ViTGANConfig, {field: value}.", "accepts": Accepts()})
    conditional: bool = setting(
        False, "Class-conditional training on the dataset's labels (fashion_mnist, mnist, "
        "digits, cifar10; folder: one subfolder per class). The number of classes comes from "
        "the data.")
    self_cond_clusters: int = setting(
        0, "Self-conditioning (Liu et al. 2020) for unlabelled data: train as a conditional "
        "model on this many clusters of the discriminator's features of real images, drawn in "
        "proportion to their sizes; sampling, evaluation and export stay unconditional. 0: off.",
        low=0)
    self_cond_every: int = setting(
        500, "Steps between reclusterings of --self_cond_clusters (a multiple of --log_every).",
        **POSITIVE)
    self_cond_images: int = setting(
        2048, "Real images that each reclustering groups (--self_cond_clusters).", **POSITIVE)
    batch_size: int = setting(32, "Global batch size (split across replicas).", **POSITIVE)
    total_steps: int = setting(1000, "Training steps (one D and one G update each).",
                               **POSITIVE)
    lr: float = setting(0.002, "Adam learning rate of the generator (and of the "
                        "discriminator unless --d_lr is set).", **POSITIVE_REAL)
    d_lr: float = setting(0.0, "Adam learning rate of the discriminator; 0: --lr. StyleGAN2's "
                          "equalized-lr discriminator trains at 0.002-0.0025.", **NON_NEGATIVE)
    beta1: float = setting(0.0, "Adam beta_1.", **UNIT)
    beta2: float = setting(0.99, "Adam beta_2.", **UNIT)
    warmup_steps: int = setting(0, "Linear learning-rate warmup steps (0: none).",
                                **NON_NEGATIVE)
    mixed_precision: str = setting(
        "float32", "float32, mixed_float16, mixed_bfloat16, or auto: mixed_bfloat16 where the "
        "CPU computes bfloat16 natively (avx512_bf16 or amx_bf16 in /proc/cpuinfo) and no GPU "
        "is visible, float32 otherwise. The generator's output and the losses stay float32.",
        choices=PRECISIONS)
    jit_compile: bool = setting(False, "XLA-compile the train step.")
    strategy: str = setting(
        "auto", "auto (MultiWorker from TF_CONFIG, Mirrored on >1 GPU), default, mirrored, "
        "multi_worker.", choices=("auto", "default", "mirrored", "multi_worker"))
    cluster_timeout: float = setting(
        600.0, "Seconds a multi-worker run waits for every task of TF_CONFIG's cluster to "
        "start before it stops with an error naming the missing ones; 0 waits forever.",
        **NON_NEGATIVE)
    log_every: int = setting(50, "Steps between progress lines and TensorBoard scalars.",
                             **POSITIVE)
    checkpoint_every: int = setting(
        500, "Steps between checkpoints (a multiple of --log_every).", **POSITIVE)
    sample_every: int = setting(
        500, "Steps between sample grids (a multiple of --log_every).", **POSITIVE)
    keep_checkpoints: int = setting(3, "Checkpoints kept.", **POSITIVE)
    grid_size: int = setting(64, "Images in each sample grid.", **POSITIVE)
    eval_every: int = setting(
        0, "Steps between FD and KID evaluations of the EMA generator (0: off; a multiple of "
        "--log_every). Logged to TensorBoard (eval/fd_<extractor>, eval/kid_<extractor>) and "
        "WORKDIR/metrics.jsonl; the checkpoint of the lowest FD is kept in checkpoints/best.",
        **NON_NEGATIVE)
    eval_samples: int = setting(
        2000, "Generated and real images for the in-training FD and KID.", low=2)
    eval_metrics: str = setting(
        "fid,kid", "The in-training evaluations' metrics, named as evaluate's --metrics "
        "without a sample count (fid is required: it picks the best checkpoint); fid,kid,pr "
        "adds precision and recall, acc and ifd need --conditional.")
    eval_extractor: str = setting(
        "keras_inception", "fid_inception (2015 graph, --inception_path), keras_inception, "
        "fashion_classifier or fashion_resnet (Fashion-MNIST domain metric: two judges); "
        "comma-separated for more than one: the first picks the best checkpoint, the others' "
        "numbers join metrics.jsonl as <extractor>_<key>.")
    init_from: str = setting(
        "", "Fine-tuning: start a new run from another run's generator, discriminator and EMA "
        "weights (RUN, RUN:ckpt-N or RUN:best; fresh optimizers, step 0). The model flags must "
        "give the same weight shapes; an unconditional source may start a --conditional run. "
        "Ignored when the workdir already has a checkpoint (it resumes).")
    inception_path: str = setting("", "classify_image_graph_def.pb for fid_inception.")
    inception_weights: str = setting(
        "imagenet", "keras_inception weights: imagenet, a file, or none (random; tests).")

    def eval_extractors(self):
        """The names of --eval_extractor, the first picking the best checkpoint."""
        return extractor_names(self.eval_extractor, "eval_extractor")

    def _check_eval_metrics(self):
        self.eval_extractors()  # ConfigError for a bad --eval_extractor
        names = [n.strip() for n in self.eval_metrics.split(",") if n.strip()]
        known = [n for n in METRIC_NAMES if n not in CONDITIONAL_METRIC_NAMES
                 or self.conditional]
        if "fid" not in names or any(n not in known for n in names):
            _bad("eval_metrics", self.eval_metrics,
                 f"comma-separated names from {', '.join(known)}, fid among them"
                 + ("" if self.conditional else " (acc and ifd need --conditional)"))
        for name in names:
            fewest = METRIC_MIN_SAMPLES.get(name, 0)
            if self.eval_every and self.eval_samples < fewest:
                raise ConfigError(f": --eval_metrics={self.eval_metrics} computes {name}, "
                                  f"which needs at least {fewest} samples.",
                                  argument="eval_samples", value=self.eval_samples)

    def validate(self):
        """Raise ConfigError naming the flag for any bad value, before any work is done."""
        check_fields(self)

        def need(ok, flag, expected):
            if not ok:
                _bad(flag, getattr(self, flag), expected)

        need(bool(self.workdir), "workdir", "a run directory")
        check_run_path(self.workdir, error=ConfigError)
        need(self.dataset != "folder" or bool(self.data_dir), "data_dir", "a folder of images")
        need(self.dataset != "mnist" or bool(self.data_dir), "data_dir",
             "the folder of MNIST's four *-ubyte.gz files")
        if self.dataset == "digits" and self.data_dir:
            raise ConfigError(": --dataset=digits is built in and reads no files; for a folder "
                              "of images add --dataset=folder.",
                              argument="data_dir", value=self.data_dir)
        if self.conditional and self.dataset not in LABELLED_DATASETS:
            raise ConfigError(f"--conditional: --dataset={self.dataset} has no class labels "
                              f"(labelled: {', '.join(LABELLED_DATASETS)}).")
        if self.model.get("num_classes") and not self.conditional:
            raise ConfigError(": set --conditional instead; the number of classes comes from "
                              "the data.",
                              argument="model.num_classes", value=self.model['num_classes'])
        if self.model.get("self_conditioned") is not None:
            raise ConfigError(": set --self_cond_clusters=k instead; the clusters come from "
                              "k-means of the discriminator's features.",
                              argument="model.self_conditioned",
                              value=self.model["self_conditioned"])
        if self.self_cond_clusters:
            need(self.self_cond_clusters >= 2, "self_cond_clusters", "0 (off) or at least 2")
            if self.conditional:
                raise ConfigError(": self-conditioning replaces the labels of --conditional; "
                                  "use one of them.",
                                  argument="self_cond_clusters", value=self.self_cond_clusters)
            need(self.self_cond_images >= self.self_cond_clusters, "self_cond_images",
                 f"at least --self_cond_clusters={self.self_cond_clusters} images")
        for flag in ("checkpoint_every", "sample_every") + (
                ("self_cond_every",) if self.self_cond_clusters else ()):
            need(getattr(self, flag) % self.log_every == 0, flag,
                 f"a positive multiple of --log_every={self.log_every}")
        need(self.eval_every % self.log_every == 0, "eval_every",
             "0 (off) or a multiple of --log_every")
        self._check_eval_metrics()
        if self.init_from:
            source, _ = parse_init_from(self.init_from)
            if os.path.abspath(source) == os.path.abspath(self.workdir):
                _bad("init_from", self.init_from, "another run than --workdir (to go on with "
                     "this one, run the same command without --init_from)")
            check_run_path(source, argument="init_from", error=ConfigError)
        try:
            get_config(self.preset)
        except ValueError as e:
            raise ConfigError(f": {e}", argument="preset", value=self.preset) from None
        pack = model_config(self).d_pack
        if self.conditional and pack > 1:
            _bad("model.d_pack", pack,
                 "1 with --conditional (a pack's images have different classes)")
        need(self.batch_size % pack == 0, "batch_size",
             f"a multiple of --model.d_pack={pack} (the discriminator scores packs)")
        need(not self.self_cond_clusters or pack == 1, "self_cond_clusters",
             f"0 with --model.d_pack={pack} (a pack's images have different clusters)")
        need(not self.ms_weight or self.batch_size >= 2, "batch_size",
             "at least 2 with --ms_weight (the mode-seeking term compares pairs)")
        self.check()  # StepSettings': the augmentation policy's names
        return self


def parse_init_from(text):
    """--init_from: "RUN", "RUN:ckpt-N" or "RUN:best" -> (RUN, checkpoint or None), the
    checkpoint as `rundir.load_run` takes it (a path, or "best"); UserError naming init_from
    otherwise."""
    match = re.search(r":(ckpt-\d+|best)$", text)
    workdir, which = (text[:match.start()], match.group(1)) if match else (text, None)
    if not workdir or (":" in workdir and not os.path.isdir(workdir)):
        raise ConfigError(": expected a run directory, optionally with :ckpt-N or :best "
                          "(e.g. runs/fashion_mnist:ckpt-4000).", argument="init_from",
                          value=text)
    if which is None or which == "best":
        return workdir, which
    return workdir, os.path.join(workdir, "checkpoints", which)


def check_fields(settings):
    """Each field of a settings dataclass declared with `setting()` against its type and its
    `Accepts`: ConfigError naming the first field with a value it does not accept."""
    for field in dataclasses.fields(settings):
        value, accepts = getattr(settings, field.name), field.metadata["accepts"]
        kind = _kind(field)
        if value is None and field.default is None:
            continue
        if not fits_type(field, value) or not accepts.ok(value):
            if field.name == "model":
                raise ConfigError(f"model: expected a dict of ViTGANConfig fields, got "
                                  f"{value!r}.")
            what = (accepts.expected(kind) if kind in (int, float) or accepts.choices
                    else f"a value of type {kind.__name__}")
            _bad(field.name, value, what)


class ConfigError(UserError):
    """A setting with a value it does not accept; the message names its flag."""


def extractor_names(value, argument):
    """The extractor names of `value` (comma-separated text, or a list of names), each one of
    EXTRACTORS and none twice; ConfigError naming `argument` otherwise (train's
    --eval_extractor, evaluate's --extractor)."""
    parts = value.split(",") if isinstance(value, str) else list(value)
    names = [name.strip() for name in parts if name.strip()]
    if not names or any(n not in EXTRACTORS for n in names) or len(set(names)) < len(names):
        _bad(argument, value if isinstance(value, str) else ",".join(names),
             f"one or more of {', '.join(EXTRACTORS)}, comma-separated, none twice")
    return names


def _bad(flag, value, expected):
    raise ConfigError(f": expected {expected}.", argument=flag, value=value)


def fits_type(field, value):
    """Whether `value` has the type of a settings dataclass's `field` (an int where a float is
    declared does; a bool where an int is does not; None where the default is None does)."""
    if value is None:
        return field.default is None
    kind = _kind(field)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return True
    return isinstance(value, kind) and (kind is bool or not isinstance(value, bool))


def type_name(field):
    """The name of a field's type, as messages show it ("float", "int | None")."""
    return field.type.__name__ if isinstance(field.type, type) else str(field.type)


def _kind(field):
    """The Python type of a TrainConfig field's value (a field that may be None: its other
    type)."""
    text = str(field.type)
    for kind in (bool, int, float, str, dict):
        if field.type is kind or text == kind.__name__ or text.startswith(kind.__name__ + " "):
            return kind
    raise TypeError(f"{field.name}: unsupported type {field.type!r}")


def cpu_flags(cpuinfo="/proc/cpuinfo"):
    """The CPU's feature flags (the first "flags" line of /proc/cpuinfo); empty elsewhere."""
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def resolve_precision(name, flags=None, gpus=0):
    """The Keras dtype policy name a run uses for --mixed_precision=`name`: "auto" is
    mixed_bfloat16 on a CPU with native bfloat16 (BF16_CPU_FLAGS) and no GPU, else float32;
    other names are themselves. flags: the CPU flags (default: this machine's)."""
    if name != "auto":
        return name
    flags = cpu_flags() if flags is None else flags
    return "mixed_bfloat16" if not gpus and flags & set(BF16_CPU_FLAGS) else "float32"


def parse_policy(policy):
    """'color,translation' -> ('color', 'translation'); validates every name."""
    names = tuple(p.strip() for p in policy.split(",") if p.strip()) if policy else ()
    unknown = [n for n in names if n not in AUGMENTATIONS]
    if unknown:
        raise ValueError(f"Unknown DiffAugment policy {unknown}; expected names from "
                         f"{AUGMENTATIONS}.")
    return names


def model_config(cfg):
    """The run's ViTGANConfig: its preset with the `model` changes applied. ConfigError names
    the --model.<field> flag of a bad value."""
    base = get_config(cfg.preset)
    known = {f.name for f in dataclasses.fields(ViTGANConfig)}
    for name in cfg.model:
        if name not in known:
            raise ConfigError(f"--{MODEL_FLAG_PREFIX}{name}: not a ViTGANConfig field; "
                              f"expected one of {', '.join(sorted(known))}.")
    try:
        return base.replace(**cfg.model)
    except (ValueError, TypeError) as e:
        named = [n for n in cfg.model if n in str(e)] or list(cfg.model)
        if len(named) == 1:
            raise ConfigError(f": {e}", argument=MODEL_FLAG_PREFIX + named[0],
                              value=cfg.model[named[0]]) from None
        flag = ", ".join(f"--{MODEL_FLAG_PREFIX}{n}={cfg.model[n]!r}" for n in named)
        raise ConfigError(f"{flag or '--preset=' + repr(cfg.preset)}: {e}") from None


def define_fields(settings_class, flag_values, skip=(), defaults=None, module_name=None):
    """One absl flag per field of a settings dataclass declared with `setting()` (its type,
    default, help and choices), except the names in `skip`; `defaults` replaces some
    defaults; `module_name`: the module whose flags `--help` lists them as (default this
    one)."""
    defaults = defaults or {}
    for field in dataclasses.fields(settings_class):
        if field.name in skip:
            continue
        _define(_kind(field), field.name, defaults.get(field.name, field.default),
                field.metadata["help"], field.metadata["accepts"].choices, flag_values,
                module_name)


def define_flags(flag_values):
    """One absl flag per TrainConfig field and per ViTGANConfig field (--model.<field>, default
    None: the preset's value), plus --model_overrides, which only says what replaced it."""
    define_fields(TrainConfig, flag_values, skip=("model",), defaults={"workdir": None})
    for field in dataclasses.fields(ViTGANConfig):
        _define(_kind(field), MODEL_FLAG_PREFIX + field.name, None,
                f"Set by {SET_BY_OTHER_FLAGS[field.name]}; not a flag to set."
                if field.name in SET_BY_OTHER_FLAGS else
                f"ViTGANConfig.{field.name} (default: the preset's).",
                CHOICES.get(field.name, ()), flag_values)
    flags.DEFINE_string("model_overrides", None, "Replaced by --model.<field>=<value> flags.",
                        flag_values=flag_values)
    for old, new in RENAMED.items():
        flags.DEFINE_string(old, None, f"Renamed --{new}.", flag_values=flag_values)
    flags.mark_flag_as_required("workdir", flag_values=flag_values)


def _define(kind, name, default, help_text, choices, flag_values, module_name=None):
    where = {"flag_values": flag_values, **({"module_name": module_name} if module_name else {})}
    if choices and kind is str:
        flags.DEFINE_enum(name, default, list(choices), help_text, **where)
    elif kind is bool:
        flags.DEFINE_bool(name, default, help_text, **where)
    elif kind is int:
        flags.DEFINE_integer(name, default, help_text, **where)
    elif kind is float:
        flags.DEFINE_float(name, default, help_text, **where)
    else:
        flags.DEFINE_string(name, default, help_text, **where)


def from_flags(flag_values):
    """The TrainConfig the parsed flags describe (not yet validated)."""
    old = flag_values["model_overrides"].value
    if old is not None:
        pairs = [p.strip() for p in old.split(",") if p.strip()]
        raise ConfigError(
            f"--model_overrides={old!r}: replaced by one flag per model field; write "
            + (" ".join(f"--{MODEL_FLAG_PREFIX}{p}" for p in pairs) or
               "--model.<field>=<value>") + " instead.")
    for old, new in RENAMED.items():
        value = flag_values[old].value
        if value is not None:
            raise ConfigError(f"--{old}={value}: renamed; write --{new}={value} instead.")
    values = {f.name: flag_values[f.name].value for f in dataclasses.fields(TrainConfig)
              if f.name != "model"}
    model = {f.name: flag_values[MODEL_FLAG_PREFIX + f.name].value
             for f in dataclasses.fields(ViTGANConfig)
             if flag_values[MODEL_FLAG_PREFIX + f.name].value is not None}
    return TrainConfig(**values, model=model)


def from_dict(values):
    """A TrainConfig from config.json's "train" section (settings renamed since are read under
    their new names; unknown keys, such as the model_overrides of runs saved before 0.3, are
    left out)."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    values = {RENAMED.get(k, k): v for k, v in values.items()}
    return TrainConfig(**{k: v for k, v in values.items() if k in fields})
