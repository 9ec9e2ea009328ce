"""bench/posthoc_ema.py: the EMA rebuilt from checkpoints is the one the train step keeps."""

import numpy as np
import pytest

from bench import posthoc_ema
from tests.helpers import tiny_config, tiny_images
from vitgan_tf import checkpoints
from vitgan_tf.models.generator import Generator


@pytest.mark.integration
def test_ema_rebuilt_from_every_step_equals_the_train_steps_own(tmp_path):
    from vitgan_tf import train_lib

    # A half-life of 10 images: the decay per step of 4 images is 0.76, so the average moves
    # and a wrong formula (or spacing) shows.
    cfg = tiny_config(tmp_path / "run", total_steps=3, log_every=1, checkpoint_every=1,
                      sample_every=3, ema_half_life_kimg=0.01)
    train_lib.train(cfg, dataset=tiny_images())
    found = posthoc_ema.checkpoint_steps(str(tmp_path / "run"))
    assert [step for step, _ in found] == [1, 2, 3]
    generator = Generator("tiny", dtype="float32")

    def run_ema(path):
        checkpoints.read_generator(generator, path)
        return [v.numpy() for v in generator.trainable_weights]

    start = (1, run_ema(found[0][1]))
    snapshots = [(step, posthoc_ema.trained_weights(generator, path)) for step, path in found[1:]]
    rebuilt = posthoc_ema.posthoc_ema(snapshots, 0.01, 4, start=start)
    expected = run_ema(found[-1][1])
    for got, want in zip(rebuilt, expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="which: expected 'ema_generator' or 'generator'"):
        checkpoints.read_generator(generator, found[-1][1], which="discriminator")
    # The trained weights moved away from the EMA: the comparison could have failed.
    assert any(not np.allclose(g, e, atol=1e-4) for (g, e) in zip(snapshots[-1][1], expected))


def test_snapshots_hold_for_the_steps_since_the_one_before():
    decay = 0.5 ** (8 / 1000.0)  # batch 8, half-life 1 kimg
    start = (10, [np.array([1.0, -2.0])])
    got = posthoc_ema.posthoc_ema([(13, [np.array([4.0, 0.0])])], 1.0, 8, start=start)
    # Three steps at the same weights: e <- d e + (1 - d) g, three times.
    e = np.array([1.0, -2.0])
    for _ in range(3):
        e = decay * e + (1 - decay) * np.array([4.0, 0.0])
    np.testing.assert_allclose(got[0], e, rtol=1e-12)
    with pytest.raises(ValueError, match="increasing step order"):
        posthoc_ema.posthoc_ema([(5, [np.zeros(2)])], 1.0, 8, start=start)
