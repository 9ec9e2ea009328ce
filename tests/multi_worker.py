"""Run by test_train.py as one of two MultiWorkerMirroredStrategy workers on 127.0.0.1.

argv: workdir, output npz. TF_CONFIG is set by the test.
"""
import os
import sys

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from vitgan_tf import config, train_lib  # noqa: E402

workdir, out = sys.argv[1], sys.argv[2]
# Light training (one augmentation, no bCR), as the tiny run of tests/helpers.py.
cfg = config.TrainConfig(workdir=workdir, preset="tiny", batch_size=4, total_steps=2,
                         log_every=2, checkpoint_every=2, sample_every=2, grid_size=4,
                         strategy="multi_worker", augment_policy="translation", bcr_real=0.0,
                         bcr_fake=0.0)
images = np.random.default_rng(0).uniform(-1, 1, (4, 16, 16, 3)).astype("float32")
# A callable: the strategy must exist before any TF op (building a dataset runs some).
gan = train_lib.train(cfg, dataset=lambda: tf.data.Dataset.from_tensors(images).repeat())
models = (gan.generator, gan.discriminator, gan.ema_generator)
np.savez(out, weights=np.concatenate([v.numpy().ravel() for m in models for v in m.weights]),
         step=int(gan.g_optimizer.iterations.numpy()))
