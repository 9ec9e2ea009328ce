"""Runs written by earlier versions still load: tests/data/run_0_2_0 was trained for 3 steps by
vitgan_tf 0.2.0 before class conditioning existed (tests/data/make_run_0_2_0.py)."""

import shutil

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import ROOT
from vitgan_tf import rundir

pytestmark = pytest.mark.integration


@pytest.fixture
def old_run(tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(f"{ROOT}/tests/data/run_0_2_0", copy)
    return copy


# The images were drawn by another process on another machine. Their float sums run in the order
# of that CPU's kernels (oneDNN picks them by instruction set: on an AVX-512 CPU 177 of 192 values
# came out up to 9.5e-7 apart, 8 float32 ulps at 1.0), so images are compared within IMAGE_ATOL;
# a wrong restore moves them by tenths (test_a_wrong_weight_is_far_outside_the_tolerance).
# Restored values are compared exactly: they are copies, not sums.
IMAGE_ATOL = 1e-5


def _stored_ema_generator_values(run):
    reader = tf.train.load_checkpoint(str(run / "checkpoints" / "ckpt-3"))
    return sorted(reader.get_tensor(key).tobytes()
                  for key in reader.get_variable_to_shape_map()
                  if key.startswith("ema_generator/") and "OPTIMIZER" not in key)


def test_a_0_2_0_generator_loads_and_draws_the_same_images(old_run):
    expected = np.load(old_run / "expected.npz")
    cfg, generator, _, step = rundir.load_generator(str(old_run))
    assert step == 3 and generator.vitgan_config.num_classes == 0
    # Every value the checkpoint holds for the EMA generator is restored bit for bit.
    restored = sorted(np.asarray(w.numpy()).tobytes() for w in generator.weights)
    assert restored == _stored_ema_generator_values(old_run)
    np.testing.assert_array_equal(generator.w_avg.numpy(), expected["w_avg"])
    np.testing.assert_allclose(np.asarray(generator(expected["z"])), expected["images"],
                               rtol=0, atol=IMAGE_ATOL)
    np.testing.assert_allclose(np.asarray(generator(expected["z"], truncation_psi=0.5)),
                               expected["truncated"], rtol=0, atol=IMAGE_ATOL)


def test_a_wrong_weight_is_far_outside_the_tolerance(old_run):
    expected = np.load(old_run / "expected.npz")
    _, generator, _, _ = rundir.load_generator(str(old_run))
    kernel = next(w for w in generator.weights if w.path.endswith("to_pixels/kernel"))
    kernel.assign(kernel.numpy() * 1.01)  # one layer 1% off
    diff = np.abs(np.asarray(generator(expected["z"])) - expected["images"]).max()
    assert diff > 100 * IMAGE_ATOL, diff


def test_a_0_2_0_run_restores_whole(old_run):
    # Generator, discriminator, EMA generator and both optimizers: every saved value restores.
    _, gan, _, step = rundir.load_run(str(old_run))
    assert step == 3
    np.testing.assert_array_equal(gan.ema_generator.w_avg.numpy(),
                                  np.load(old_run / "expected.npz")["w_avg"])
