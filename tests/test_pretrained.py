"""Generator-only folders (`export --formats=generator`) and the trained Fashion-MNIST generator
shipped in pretrained/fashion_mnist."""

import os

import numpy as np
import pytest

from tests.helpers import ROOT, TINY_CLI, run_cli
from vitgan_tf import export, rng, rundir

SHIPPED = os.path.join(ROOT, "pretrained", "fashion_mnist")


@pytest.mark.integration
def test_a_generator_only_folder_draws_what_its_run_draws(tiny_run, tmp_path):
    out = tmp_path / "model"
    written = export.export(str(tiny_run), str(out), formats=("generator", "tflite"),
                            tflite_variants=("float16",), tflite_batch=1)
    assert written["generator"] == str(out / rundir.GENERATOR_FILE)
    assert rundir.is_generator_only(str(out)) and not rundir.is_generator_only(str(tiny_run))
    _, original, _, step = rundir.load_generator(str(tiny_run))
    _, loaded, path, loaded_step = rundir.load_generator(str(out))
    assert loaded_step == step == 4 and path.endswith(rundir.GENERATOR_FILE)
    for a, b in zip(original.weights, loaded.weights):  # float16 copies of the weights
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-3, atol=1e-4, err_msg=a.path)
    z = rng.latents_from_seeds(np.arange(4), 32)
    diff = np.abs(np.asarray(loaded(z)) - np.asarray(original(z)))
    assert diff.max() < 0.05 and diff.mean() < 0.005, (diff.max(), diff.mean())
    result = run_cli("sample", f"--workdir={out}", "--num=4", f"--out={tmp_path / 'g.png'}")
    assert result.returncode == 0, result.stderr[-1000:]
    # Training there, or asking it for a checkpoint, is refused in one line.
    result = run_cli("train", *TINY_CLI, f"--workdir={out}", "--total_steps=2")
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 2 and "holds a trained generator alone" in last, last
    result = run_cli("sample", f"--workdir={out}", "--checkpoint=best",
                     f"--out={tmp_path / 'h.png'}")
    assert result.returncode == 2 and "drop --checkpoint" in result.stderr, result.stderr[-500:]
    # A file of another model is named, not half-loaded.
    np.savez(out / rundir.GENERATOR_FILE, __step__=np.int64(1), x=np.zeros(3, np.float16))
    with pytest.raises(rundir.RunError, match="no weight .* of shape"):
        rundir.load_generator(str(out))


def test_the_shipped_generator_is_small_loads_offline_and_draws_every_garment():
    from vitgan_tf import features

    files = [os.path.join(d, n) for d, _, names in os.walk(SHIPPED) for n in names]
    assert sum(os.path.getsize(f) for f in files) <= 5 * 2**20
    assert os.path.isfile(os.path.join(SHIPPED, "tflite", "v1_float16.tflite"))
    cfg, generator, _, step = rundir.load_generator(SHIPPED)
    assert (cfg.dataset, cfg.preset, step) == ("fashion_mnist", "fashion", 4000)
    images = np.concatenate([np.asarray(generator(rng.latents_from_seeds(
        np.arange(i, i + 250), 128))) for i in range(0, 1000, 250)])
    classes = np.argmax(features.FashionClassifier()(images)["logits"], axis=1)
    shares = np.bincount(classes, minlength=10) / len(classes)
    # Measured with 10,000 samples: every class between 5% and 15% (docs/results.md).
    assert shares.min() > 0.03 and shares.max() < 0.2, shares
