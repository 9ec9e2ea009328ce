"""Fine-tuning: a new run that starts from another run's weights (`train --init_from`).

The new run takes the source run's generator, discriminator and EMA generator (every weight
whose path and shape it shares, ISN state included), and starts with fresh optimizers at step 0
and image 0, on data of its own. The two model configs must agree on every field that gives a
weight its shape; those that change only what the weights compute (FREE_FIELDS) may differ. An
unconditional source may start a conditional or self-conditioned run: the class embedding, the
discriminator's class projection and whatever else the classes add start fresh, and the running
mean of w starts, for every class, at the source's mean.
"""

import os

from absl import logging

from vitgan_tf.config import parse_init_from as parse_source
from vitgan_tf.errors import RunError, UserError

# Fields that give no weight its shape: a fine-tuning run may change them.
FREE_FIELDS = ("omega_0", "decoder_omega_0", "w_avg_beta", "mapping_lr_multiplier",
               "d_qk_init_std", "g_output")
CLASS_FIELDS = ("num_classes", "self_conditioned")
MAPPING_INPUT = "mapping/dense_0/kernel"  # its input grows by the class embedding


def check_compatible(source, target, text):
    """Refuse, naming the first field and both values, a source model config (`source`, a
    ViTGANConfig) whose weights do not fit the new run's (`target`). text: the --init_from
    value, for the message."""
    old, new = source.to_dict(), target.to_dict()
    for field in sorted(old):
        if field in FREE_FIELDS or field in CLASS_FIELDS or old[field] == new.get(field):
            continue
        raise UserError(f": the source's model has {field}={old[field]!r}, this run's "
                        f"{field}={new.get(field)!r}; the models must agree where weights have "
                        f"shapes (set --model.{field}={old[field]} or the source's --preset).",
                        argument="init_from", value=text)
    if source.num_classes and (source.num_classes, source.self_conditioned) != (
            target.num_classes, target.self_conditioned):
        def describe(model):
            kind = "clusters" if model.self_conditioned else "classes"
            return f"{model.num_classes} {kind}" if model.num_classes else "unconditional"

        raise UserError(f": the source's model is {describe(source)}, this run's "
                        f"{describe(target)}; only an unconditional source starts a run of "
                        "other classes.", argument="init_from", value=text)


def initialize(gan, text):
    """Sets `gan`'s generator, discriminator and EMA generator from the source run of
    `text` (--init_from). Returns a record for config.json: {"workdir", "checkpoint", "step",
    "fresh": [paths of the weights that start fresh; PATH[n:] for a kernel whose rows from n
    on do]}."""
    import numpy as np

    from vitgan_tf import rundir

    workdir, which = parse_source(text)
    try:
        _, source_model = rundir.load_config(workdir)
        check_compatible(source_model, gan.vitgan_config, text)
        _, source, path, step = rundir.load_run(workdir, which)
    except RunError as error:
        raise RunError(f": the source run: {error}", argument="init_from", value=text) from None
    fresh = []
    for name in ("generator", "discriminator", "ema_generator"):
        theirs = {w.path: w for w in getattr(source, name).weights}
        for weight in getattr(gan, name).weights:
            value = theirs.get(weight.path)
            value = None if value is None else np.asarray(value.numpy())
            if value is not None and value.shape == tuple(weight.shape):
                weight.assign(value)
            elif value is not None and weight.path.endswith("w_avg") and value.ndim == 1:
                weight.assign(np.broadcast_to(value, tuple(weight.shape)))  # every class
            elif value is not None and weight.path.endswith(MAPPING_INPUT):
                # A conditional mapping's first layer takes [z, class embedding]: its z rows
                # come from the source, scaled so that the equalized layer's runtime gain
                # 1 / sqrt(fan_in) (fan_in now larger) gives z the source's weight; the
                # embedding's rows start fresh.
                rows = value.shape[0]
                kernel = np.array(weight.numpy())
                kernel[:rows] = value * np.sqrt(kernel.shape[0] / rows)
                weight.assign(kernel)
                fresh.append(f"{weight.path}[{rows}:]")
            else:
                fresh.append(weight.path)
    if fresh:
        logging.info("Fine-tuning from %s (step %d); %d weights start fresh: %s", path, step,
                     len(fresh), ", ".join(fresh[:8]) + (" ..." if len(fresh) > 8 else ""))
    else:
        logging.info("Fine-tuning from %s (step %d); every weight comes from it.", path, step)
    return {"workdir": os.path.abspath(workdir), "checkpoint": os.path.abspath(path),
            "step": step, "fresh": fresh}

