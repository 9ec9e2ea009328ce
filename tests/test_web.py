"""The browser page's JavaScript keeps the project's seed convention: web/rng.js draws the same
latent for a seed as vitgan_tf.rng.latents_from_seeds, to float32 rounding."""

import json
import shutil
import subprocess

import numpy as np
import pytest

from tests.helpers import ROOT
from vitgan_tf import rng

pytestmark = pytest.mark.skipif(shutil.which("node") is None,
                                reason="needs Node.js (node) to run web/rng.js")

SCRIPT = f"""
import {{ latentsFromSeeds }} from "{ROOT}/web/rng.js";
const [seeds, dim] = JSON.parse(process.argv[1]);
process.stdout.write(JSON.stringify(Array.from(latentsFromSeeds(seeds.map(BigInt), dim))));
"""


def _js_latents(seeds, dim):
    result = subprocess.run(["node", "--input-type=module", "-e", SCRIPT,
                             json.dumps([[str(s) for s in seeds], dim])],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return np.array(json.loads(result.stdout), np.float32).reshape(len(seeds), dim)


def test_seed_s_is_the_same_latent_in_javascript_and_python():
    rand = np.random.default_rng(0)
    edges = [0, 1, 5, 2**31 - 1, 2**31, 2**32, 2**32 + 1, 2**63 - 1]
    seeds = edges + [int(s) for s in rand.integers(0, 2**63 - 1, 300, dtype=np.int64)]
    js, py = _js_latents(seeds, 128), rng.latents_from_seeds(np.array(seeds, np.int64),
                                                              128).numpy()
    # Both draw the same Philox integers; the float32 log and cos of TF's kernels and the
    # float64 ones of JavaScript round differently: at most 1.2e-6 over 103,296 values
    # measured, mean 8.6e-8. One wrong integer would move a value by order 1.
    np.testing.assert_allclose(js, py, rtol=0, atol=4e-6)
    assert np.abs(js - py).mean() < 1e-6
    # The batch does not matter: a seed alone draws the same latent.
    np.testing.assert_array_equal(_js_latents([2**63 - 1], 128)[0], js[7])
