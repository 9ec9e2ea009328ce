"""Wrote tests/data/run_0_2_0 (config.json, checkpoints/, expected.npz) with vitgan_tf 0.2.0 as of
commit 375bbfa, before class conditioning: python tests/data/make_run_0_2_0.py OUT. Kept to
show how the data was made; rerunning it with later code makes a later run, not this one."""
import os
import shutil
import sys

import numpy as np
import tensorflow as tf

from vitgan_tf import config, rundir, train_lib

out = sys.argv[1]
shutil.rmtree(out, ignore_errors=True)
model = dict(image_size=8, channels=1, latent_dim=8, mapping_layers=2, g_patch_size=4, g_depth=1,
             g_hidden_dim=8, g_mlp_dim=16, g_num_heads=2, decoder_dim=8, decoder_layers=1,
             d_patch_size=4, d_depth=1, d_hidden_dim=8, d_mlp_dim=16, d_num_heads=2)
cfg = config.TrainConfig(preset="tiny", model=model, workdir=out, batch_size=4, total_steps=3,
                         log_every=3, checkpoint_every=3, sample_every=3, num_samples=4,
                         keep_checkpoints=1, kid_every=0)
images = np.clip(np.random.default_rng(0).standard_normal((4, 8, 8, 1)), -1, 1).astype("float32")
train_lib.train(cfg, dataset=tf.data.Dataset.from_tensors(images).repeat())
_, g, path, step = rundir.load_generator(out)
z = np.random.default_rng(1).standard_normal((3, 8)).astype("float32")
np.savez(os.path.join(out, "expected.npz"), z=z, images=np.asarray(g(z)),
         truncated=np.asarray(g(z, truncation_psi=0.5)), w_avg=g.w_avg.numpy())
print(path, step)
