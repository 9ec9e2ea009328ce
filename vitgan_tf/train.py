"""Train ViTGAN: python -m vitgan_tf.train --flagfile=configs/digits.flags [--workdir=runs/x]

Every field of `config.TrainConfig` is a flag, with the field's help; every field of the model's
`ViTGANConfig` is a flag --model.<field>. All of them are checked before TensorFlow is imported.
"""

import sys

from vitgan_tf import cluster

# Before TensorFlow starts any thread: a stop signal during a cluster's start-up must stay
# pending for the start-up watchdog (see `cluster`); unblocked once the strategy exists.
cluster.block_stop_signals()

from absl import flags, logging  # noqa: E402

from vitgan_tf import cli, config  # noqa: E402

config.define_flags(flags.FLAGS)
FLAGS = flags.FLAGS


def main(argv):
    del argv  # Checked by cli.run_main.
    cfg = config.from_flags(FLAGS).validate()
    from vitgan_tf import train_lib  # TensorFlow starts here, once the settings are known good

    try:
        train_lib.train(cfg)
    except train_lib.Interrupted as e:
        logging.warning("%s", e)
        print(str(e), file=sys.stderr)
        sys.exit(128 + int(e.signum))
    except FloatingPointError as e:  # a NaN/Inf loss: the last good checkpoint is kept
        cli.exit_with(e)


def run():
    """Console script entry point (`vitgan-train`)."""
    cli.run_main(main)


if __name__ == "__main__":
    run()
