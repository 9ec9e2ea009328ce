"""The GAN a run trains: its learning-rate schedule, its optimizers and the compiled ViTGAN."""

import dataclasses

import keras
import tensorflow as tf

from vitgan_tf import data
from vitgan_tf.config import TrainConfig, model_config, resolve_precision, step_settings
from vitgan_tf.models.config import ViTGANConfig
from vitgan_tf.models.gan import ViTGAN
from vitgan_tf.optimizers import FusedAdam


@keras.saving.register_keras_serializable(package="vitgan_tf")
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """lr * min(1, (step + 1) / warmup_steps); constant lr when warmup_steps is 0."""

    def __init__(self, lr, warmup_steps):
        self.lr, self.warmup_steps = lr, warmup_steps

    def __call__(self, step):
        if not self.warmup_steps:
            return tf.constant(self.lr, tf.float32)
        ramp = (tf.cast(step, tf.float32) + 1.0) / self.warmup_steps
        return self.lr * tf.minimum(1.0, ramp)

    def get_config(self):
        return {"lr": self.lr, "warmup_steps": self.warmup_steps}


def _precision(cfg):
    """The dtype policy of --mixed_precision (auto resolved for this machine)."""
    return resolve_precision(cfg.mixed_precision,
                             gpus=len(tf.config.list_physical_devices("GPU")))


def make_optimizer(cfg, lr=None, precision=None):
    """Adam (FusedAdam: Keras' update in one kernel per variable) with the run's schedule;
    loss-scaled under mixed_float16. precision: the resolved dtype policy (default: resolved
    from cfg here)."""
    opt = FusedAdam(LinearWarmup(lr or cfg.lr, cfg.warmup_steps), beta_1=cfg.beta1,
                    beta_2=cfg.beta2)
    if (precision or _precision(cfg)) == "mixed_float16":
        opt = keras.optimizers.LossScaleOptimizer(opt)
    return opt


@dataclasses.dataclass(frozen=True)
class Run:
    """Everything a run needs, worked out once from its flags and its data: the TrainConfig as
    the user gave it, the model config (with the number of classes of a conditional run) and
    the class names (None for an unconditional or a self-conditioned run)."""

    train_cfg: TrainConfig
    model_cfg: ViTGANConfig
    class_names: tuple | None = None


def resolve_run(train_cfg, class_names=None):
    """The Run of a TrainConfig: its model config (`config.model_config`, called here once) and,
    for a conditional run, its classes: `class_names` if given (training passes the data's),
    else the model's `num_classes` if set, else the data's class names; a self-conditioned run
    (--self_cond_clusters=k) gets a model of k clusters. The user's TrainConfig (and its
    override dict) is never changed."""
    model_cfg = model_config(train_cfg)
    if train_cfg.self_cond_clusters:
        model_cfg = model_cfg.replace(num_classes=train_cfg.self_cond_clusters,
                                      self_conditioned=True)
    if train_cfg.conditional:
        if class_names is None and not model_cfg.num_classes:
            class_names = data.class_names(train_cfg.dataset, train_cfg.data_dir)
        if class_names is not None:
            class_names = tuple(class_names)
            model_cfg = model_cfg.replace(num_classes=len(class_names))
    return Run(train_cfg, model_cfg, class_names)


def build_gan(run, model=None):
    """ViTGAN compiled with both optimizers, in the run's dtype policy (passed to the models,
    never set globally); call inside the strategy's scope. run: a `Run`, or a TrainConfig
    (resolved with `resolve_run`: a conditional config builds a conditional GAN); model: a
    ViTGANConfig that replaces the run's (a saved run's own)."""
    if not isinstance(run, Run):  # a saved run's model needs no look at the data
        run = Run(run, model) if model is not None else resolve_run(run)
    cfg = run.train_cfg
    precision = _precision(cfg)  # lists the GPUs (and reads the CPU's flags for auto): once
    gan = ViTGAN(model or run.model_cfg, step=step_settings(cfg), dtype=precision)
    gan.compile(g_optimizer=make_optimizer(cfg, precision=precision),
                d_optimizer=make_optimizer(cfg, cfg.d_lr, precision),
                jit_compile=cfg.jit_compile)
    return gan
