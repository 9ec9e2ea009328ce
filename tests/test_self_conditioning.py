"""Self-conditioning (Liu et al. 2020): the clusters, the generator's own choice of cluster,
and a self-conditioned tiny run that resumes with its clusters and samples and exports as an
unconditional model. The train step itself is checked against the plain algorithm in
tests/models/test_gan.py."""

import itertools
import json

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import randn, tiny_config, tiny_images
from vitgan_tf import config, rundir, train_lib
from vitgan_tf.errors import UserError
from vitgan_tf.models.config import get_config
from vitgan_tf.models.discriminator import make_discriminator
from vitgan_tf.models.generator import Generator
from vitgan_tf.self_conditioning import fit_clusters, match

TINY_SC = get_config("tiny").replace(num_classes=4, self_conditioned=True)


def test_the_generator_picks_clusters_from_z_in_proportion_to_their_shares():
    g = Generator(TINY_SC)
    shares = np.array([0.1, 0.2, 0.3, 0.4], np.float32)
    g.set_cluster_shares(shares)
    z = randn(40_000, 32, seed=3)
    got = np.asarray(g.labels_for(tf.constant(z)))
    # Reference: u = frac(64 z0) (exact in float32: 64 is a power of two), then the number of
    # edges (cumulative shares) at or below u.
    scaled = z[:, 0].astype(np.float32) * np.float32(64)
    u = scaled - np.floor(scaled)
    edges = np.cumsum(shares)[:-1]
    np.testing.assert_allclose(g.cluster_edges.numpy(), edges, atol=1e-7)
    np.testing.assert_array_equal(got, np.searchsorted(g.cluster_edges.numpy(), u, "right"))
    # In proportion to the shares (4 sigma of 40,000 draws: 0.01), and the same whatever the
    # sign of z0 (the cluster does not restrict z's first value).
    np.testing.assert_allclose(np.bincount(got, minlength=4) / len(got), shares, atol=0.01)
    for half in (z[:, 0] < 0, z[:, 0] >= 0):
        np.testing.assert_allclose(np.bincount(got[half], minlength=4) / half.sum(), shares,
                                   atol=0.015)
    # Given labels win; the images of labels_for(z) are those of the model called with z.
    np.testing.assert_array_equal(np.asarray(g.labels_for(z[:4], np.array([3, 3, 3, 3]))), 3)
    np.testing.assert_array_equal(np.asarray(g(z[:4])), np.asarray(g(z[:4], labels=got[:4])))


@pytest.mark.parametrize("arch", ["vit", "stylegan2"])
def test_discriminator_clusters_are_the_nearest_centres(arch):
    d = make_discriminator(TINY_SC.replace(d_arch=arch, d_conv_channels=4,
                                           d_conv_max_channels=8))
    images = tf.constant(np.clip(randn(16, 16, 16, 3, seed=1), -1, 1), tf.float32)
    features = np.asarray(d.cluster_features(images))
    raw = np.asarray(d.features(images), np.float32)
    np.testing.assert_allclose(features, raw / np.linalg.norm(raw, axis=1, keepdims=True),
                               rtol=1e-5, atol=1e-6)
    centres = randn(4, features.shape[1], seed=2) * 0.3
    d.cluster_centres.assign(centres)
    distances = ((features[:, None, :] - centres[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(np.asarray(d.clusters(images)), distances.argmin(1))


def _blobs(k=3, n=60, dim=5, seed=0):
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(k, dim)) * 10
    labels = np.repeat(np.arange(k), n)
    return means[labels] + rng.normal(size=(k * n, dim)), labels, means


def test_fit_clusters_finds_separated_groups_and_keeps_their_indices():
    points, truth, means = _blobs()
    centres, shares, labels = fit_clusters(points, np.zeros((3, 5)), seed=0)
    np.testing.assert_allclose(shares, [1 / 3] * 3)
    assert len(set(zip(truth, labels))) == 3  # each group is one cluster
    # Warm-started from centres given in another order, cluster c stays where centre c was.
    order = [2, 0, 1]
    centres, shares, labels = fit_clusters(points, means[order] + 0.5, seed=0)
    np.testing.assert_allclose(centres, means[order], atol=0.5)
    np.testing.assert_array_equal(labels, np.argsort(order)[truth])
    assert centres.dtype == np.float32 and abs(shares.sum() - 1) < 1e-12


def test_match_is_the_cheapest_permutation():
    rng = np.random.default_rng(5)
    old, new = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))

    def cost(p):
        return sum(((old[c] - new[p[c]]) ** 2).sum() for c in range(5))

    best = min(itertools.permutations(range(5)), key=cost)
    np.testing.assert_array_equal(match(old, new), best)


def test_self_conditioning_settings_are_checked():
    def check(**changes):
        config.TrainConfig(workdir="w", **changes).validate()

    with pytest.raises(config.ConfigError, match="^self_cond_clusters=1: expected 0 .off. "
                                                 "or at least 2"):
        check(self_cond_clusters=1)
    with pytest.raises(config.ConfigError, match="replaces the labels of --conditional"):
        check(self_cond_clusters=4, conditional=True)
    with pytest.raises(config.ConfigError, match="^self_cond_images=3: expected at least "
                                                 "--self_cond_clusters=4"):
        check(self_cond_clusters=4, self_cond_images=3)
    with pytest.raises(config.ConfigError, match="^self_cond_every=75: expected a positive "
                                                 "multiple of --log_every=50"):
        check(self_cond_clusters=4, self_cond_every=75)
    with pytest.raises(config.ConfigError, match="^self_cond_clusters=4: expected 0 with "
                                                 "--model.d_pack=2"):
        check(self_cond_clusters=4, model={"d_pack": 2})


@pytest.fixture(scope="module")
def self_cond_run(tmp_path_factory):
    """A tiny self-conditioned run of 2 steps (clustered at step 0), then resumed to 4 steps
    (recluster every 4: the resume must keep the restored centres). Returns (workdir, the
    centres at step 2, the resumed GAN)."""
    workdir = tmp_path_factory.mktemp("self_cond") / "run"
    cfg = tiny_config(workdir, self_cond_clusters=3, self_cond_every=4, self_cond_images=12,
                      total_steps=2)
    gan = train_lib.train(cfg, dataset=tiny_images())
    centres = gan.discriminator.cluster_centres.numpy().copy()
    resumed = train_lib.train(tiny_config(workdir, self_cond_clusters=3, self_cond_every=4,
                                          self_cond_images=12), dataset=tiny_images())
    return workdir, centres, resumed


def test_a_self_conditioned_run_resumes_with_its_clusters(self_cond_run):
    workdir, centres, resumed = self_cond_run
    assert np.abs(centres).sum() > 0 and np.all(np.isfinite(centres))
    assert int(resumed.g_optimizer.iterations.numpy()) == 4
    # Not reclustered at step 2: the centres are the checkpoint's, not new ones.
    np.testing.assert_array_equal(resumed.discriminator.cluster_centres.numpy(), centres)
    edges = resumed.ema_generator.cluster_edges.numpy()
    assert np.all(np.diff(edges) >= 0) and 0 <= edges[0] and edges[-1] <= 1
    saved = json.loads((workdir / "config.json").read_text())
    assert saved["model"]["num_classes"] == 3 and saved["model"]["self_conditioned"]
    assert "classes" not in saved and saved["train"]["self_cond_clusters"] == 3
    # Resuming without it (or with another count) is another model: refused, saying why.
    for changes, message in (({}, "is self-conditioned on 3 clusters .--self_cond_clusters=3.; "
                                  "resuming it needs --self_cond_clusters=3"),
                             ({"self_cond_clusters": 5}, "would make it self-conditioned on "
                                                         "5 clusters")):
        with pytest.raises(Exception, match=message):
            train_lib.train(tiny_config(workdir, total_steps=6, **changes),
                            dataset=tiny_images())


def test_a_self_conditioned_run_samples_and_exports_as_an_unconditional_one(self_cond_run):
    workdir = self_cond_run[0]
    _, generator, _, _ = rundir.load_generator(str(workdir))
    assert generator.vitgan_config.user_classes == 0
    from absl import flags

    from vitgan_tf import sample

    # sample: no class rows, and --class is refused as for an unconditional run.
    assert rundir.load_classes(str(workdir)) is None
    grid = sample.sample_grid(generator, 4)
    assert grid.shape == (2 * 17 + 1, 2 * 17 + 1, 3)
    values = flags.FlagValues()
    flags.DEFINE_integer("class", 1, "", flag_values=values)
    flags.DEFINE_string("classes", "", "", flag_values=values)
    values.mark_as_parsed()
    with pytest.raises(UserError, match="--class: the run is not conditional"):
        sample.grid_classes(values, rundir.load_classes(str(workdir)))
    from ai_edge_litert.interpreter import Interpreter

    from vitgan_tf import export

    module = export.GeneratorModule(generator)
    for name, fn in module.signatures().items():
        assert "class_id" not in [spec.name for spec in fn.input_signature], name
    # TFLite: z alone, and the clusters the generator picks from z survive the conversion.
    runner = Interpreter(model_content=export.convert_tflite(generator, "float32")
                         ).get_signature_runner("serving_default")
    assert set(runner.get_input_details()) == {"z"}
    z = randn(8, 32, seed=4)
    want = np.asarray(generator(z))
    np.testing.assert_allclose(runner(z=z)["raw"], want, atol=1e-5)
