"""Run in a subprocess by test_train.py: 2 SGD steps on 1 device or a 2-CPU MirroredStrategy."""
import os
import sys

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from vitgan_tf.models import ViTGAN  # noqa: E402

mode, out = sys.argv[1], sys.argv[2]
strategy = (tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]) if mode == "mirrored"
            else tf.distribute.get_strategy())
keras.utils.set_random_seed(0)
with strategy.scope():
    gan = ViTGAN("tiny")
    gan.compile(keras.optimizers.SGD(0.01), keras.optimizers.SGD(0.01))
images = np.random.default_rng(0).uniform(-1, 1, (8, 16, 16, 3)).astype("float32")
history = gan.fit(tf.data.Dataset.from_tensors(images).repeat(), steps_per_epoch=2, epochs=1,
                  verbose=0).history
models = (gan.generator, gan.discriminator, gan.ema_generator)
np.savez(out, weights=np.concatenate([v.numpy().ravel() for m in models for v in m.weights]),
         d_loss=history["d_loss"][-1], g_loss=history["g_loss"][-1],
         images_seen=int(gan.images_seen.numpy()))
