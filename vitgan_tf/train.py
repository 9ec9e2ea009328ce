"""Train ViTGAN: python -m vitgan_tf.train --flagfile=configs/digits.flags --workdir=runs/x"""

import dataclasses
import sys

from absl import app, flags, logging

from vitgan_tf import data as data_lib
from vitgan_tf import features, train_lib

_DEFAULTS = train_lib.TrainConfig(workdir="")
_HELP = {
    "workdir": "Run directory: checkpoints, TensorBoard logs, samples. An existing one resumes.",
    "dataset": "digits (embedded demo), fashion_mnist / mnist (IDX files), folder (--data_dir "
               "of images), cifar10, celeb_a, lsun_bedroom (tfds).",
    "data_dir": "Image folder for --dataset=folder; IDX folder for fashion_mnist (default "
                "/usr/share/datasets/fashion-mnist) and mnist; tfds data_dir for tfds datasets.",
    "preset": "Model size: 32, 64, 128, fashion, digits or tiny.",
    "model_overrides": "Comma-separated field=value changes to the preset's ViTGANConfig, e.g. "
                       "d_qk_init_std=0.05,decoder_omega_0=4 (ablations, experiments).",
    "batch_size": "Global batch size (split across replicas).",
    "total_steps": "Training steps (one D and one G update each).",
    "lr": "Adam learning rate of both networks.",
    "beta1": "Adam beta_1.",
    "beta2": "Adam beta_2.",
    "warmup_steps": "Linear learning-rate warmup steps (0: none).",
    "d_steps": "Discriminator steps per generator step.",
    "bcr_real": "bCR weight lambda_real.",
    "bcr_fake": "bCR weight lambda_fake.",
    "augment_policy": "DiffAugment policy: comma-separated color,scale,translation,cutout.",
    "augment_probability": "Per-sample probability of each augmentation.",
    "ema_half_life_kimg": "Generator EMA half-life in thousands of images.",
    "r1_gamma": "R1 penalty weight (0: off, the ViT discriminator default).",
    "mixed_precision": "float32, mixed_float16 or mixed_bfloat16.",
    "jit_compile": "XLA-compile the train step.",
    "strategy": "auto (MultiWorker from TF_CONFIG, Mirrored on >1 GPU), default, mirrored, "
                "multi_worker.",
    "log_every": "Steps between progress lines and TensorBoard scalars.",
    "checkpoint_every": "Steps between checkpoints (a multiple of --log_every).",
    "sample_every": "Steps between sample grids (a multiple of --log_every).",
    "keep_checkpoints": "Checkpoints kept.",
    "num_samples": "Images in each sample grid.",
    "kid_every": "Steps between KID evaluations of the EMA generator (0: off; a multiple of "
                 "--log_every). Logged to TensorBoard as eval/kid_<extractor>.",
    "kid_samples": "Generated and real images for the in-training KID.",
    "kid_extractor": "fid_inception (2015 graph, --inception_path), keras_inception or "
                     "fashion_classifier (Fashion-MNIST domain metric).",
    "inception_path": "classify_image_graph_def.pb for --kid_extractor=fid_inception.",
    "inception_weights": "keras_inception weights: imagenet, a file, or none (random; tests).",
    "seed": "Run seed.",
}


def _define_flags():
    for field in dataclasses.fields(train_lib.TrainConfig):
        default = getattr(_DEFAULTS, field.name)
        if field.name == "workdir":
            default = None  # required: no default
        helptext = _HELP[field.name]
        if field.type in (bool, "bool"):
            flags.DEFINE_bool(field.name, default, helptext)
        elif field.type in (int, "int"):
            flags.DEFINE_integer(field.name, default, helptext)
        elif field.type in (float, "float"):
            flags.DEFINE_float(field.name, default, helptext)
        else:
            flags.DEFINE_string(field.name, default, helptext)
    flags.mark_flag_as_required("workdir")


_define_flags()
FLAGS = flags.FLAGS


def config_from_flags():
    return train_lib.TrainConfig(**{f.name: FLAGS[f.name].value
                                    for f in dataclasses.fields(train_lib.TrainConfig)})


def _exit_with(error):
    """A problem the user must fix: its message, no traceback, exit status 2."""
    logging.error("%s", error)
    print(f"error: {error}", file=sys.stderr)
    sys.exit(2)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    cfg = config_from_flags()
    try:
        train_lib.validate(cfg)
    except ValueError as e:
        _exit_with(e)
    try:
        train_lib.train(cfg)
    except (data_lib.DataError, features.WeightsError) as e:
        _exit_with(e)

if __name__ == "__main__":
    app.run(main)
