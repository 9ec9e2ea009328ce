"""Runs written by earlier versions still load: tests/data/run_0_2_0 was trained for 3 steps by
vitgan_tf 0.2.0 before class conditioning existed (tests/data/make_run_0_2_0.py)."""

import shutil

import numpy as np
import pytest

from tests.helpers import ROOT
from vitgan_tf import rundir

pytestmark = pytest.mark.integration


@pytest.fixture
def old_run(tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(f"{ROOT}/tests/data/run_0_2_0", copy)
    return copy


def test_a_0_2_0_generator_loads_and_draws_the_same_images(old_run):
    expected = np.load(old_run / "expected.npz")
    cfg, generator, _, step = rundir.load_generator(str(old_run))
    assert step == 3 and generator.vitgan_config.num_classes == 0
    np.testing.assert_array_equal(generator.w_avg.numpy(), expected["w_avg"])
    np.testing.assert_array_equal(np.asarray(generator(expected["z"])), expected["images"])
    np.testing.assert_array_equal(np.asarray(generator(expected["z"], truncation_psi=0.5)),
                                  expected["truncated"])


def test_a_0_2_0_run_restores_whole(old_run):
    # Generator, discriminator, EMA generator and both optimizers: every saved value restores.
    _, gan, _, step = rundir.load_run(str(old_run))
    assert step == 3
    np.testing.assert_array_equal(gan.ema_generator.w_avg.numpy(),
                                  np.load(old_run / "expected.npz")["w_avg"])
