"""The GAN a run trains: its learning-rate schedule, its optimizers and the compiled ViTGAN."""

import keras
import tensorflow as tf

from vitgan_tf.config import model_config, resolve_precision, step_settings
from vitgan_tf.models.gan import ViTGAN


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


def make_optimizer(cfg, lr=None):
    opt = keras.optimizers.Adam(LinearWarmup(lr or cfg.lr, cfg.warmup_steps), beta_1=cfg.beta1,
                                beta_2=cfg.beta2)
    if _precision(cfg) == "mixed_float16":
        opt = keras.optimizers.LossScaleOptimizer(opt)
    return opt


def build_gan(cfg, model=None):
    """ViTGAN compiled with both optimizers, in the run's dtype policy (passed to the models,
    never set globally); call inside the strategy's scope. cfg: a TrainConfig; model: the
    ViTGANConfig, default `config.model_config(cfg)`."""
    gan = ViTGAN(model or model_config(cfg), step=step_settings(cfg), dtype=_precision(cfg))
    gan.compile(g_optimizer=make_optimizer(cfg), d_optimizer=make_optimizer(cfg, cfg.d_lr),
                jit_compile=cfg.jit_compile)
    return gan
