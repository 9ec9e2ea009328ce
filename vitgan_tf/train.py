"""Train ViTGAN: python -m vitgan_tf.train --flagfile=configs/digits.flags [--workdir=runs/x]

Every field of `rundir.TrainConfig` is a flag, with the field's help text.
"""

import dataclasses
import sys

from vitgan_tf import cluster

# Before TensorFlow starts any thread: a stop signal during a cluster's start-up must stay
# pending for the start-up watchdog (see `cluster`); unblocked once the strategy exists.
cluster.block_stop_signals()

from absl import flags, logging  # noqa: E402

from vitgan_tf import cli, features, rundir, train_lib  # noqa: E402
from vitgan_tf import data as data_lib  # noqa: E402


def _define_flags():
    for field in dataclasses.fields(rundir.TrainConfig):
        default = None if field.name == "workdir" else field.default
        helptext = field.metadata["help"]
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
    return rundir.TrainConfig(**{f.name: FLAGS[f.name].value
                                 for f in dataclasses.fields(rundir.TrainConfig)})


def main(argv):
    del argv  # Checked by cli.run_main.
    cfg = config_from_flags()
    try:
        cfg.validate()
    except ValueError as e:
        cli.exit_with(e)
    try:
        train_lib.train(cfg)
    except train_lib.Interrupted as e:
        logging.warning("%s", e)
        print(str(e), file=sys.stderr)
        sys.exit(128 + int(e.signum))
    except (rundir.RunError, data_lib.DataError, features.WeightsError, OSError) as e:
        cli.exit_with(e)
    except FloatingPointError as e:  # a NaN/Inf loss: the last good checkpoint is kept
        cli.exit_with(e)


def run():
    """Console script entry point (`vitgan-train`)."""
    cli.run_main(main)


if __name__ == "__main__":
    run()
