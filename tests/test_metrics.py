import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.linalg
import tensorflow as tf

from tests.helpers import ROOT
from vitgan_tf import (
    build,
    config,
    evaluate,
    features,
    metrics,
    real_stats,
    rng,
    rundir,
    sample,
    scoring,
)
from vitgan_tf import data as data_lib
from vitgan_tf import images as images_lib


def _scipy_fid(mu1, s1, mu2, s2):
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * covmean))


def _random_cov(rng, d):
    a = rng.standard_normal((d, 2 * d))
    return a @ a.T / (2 * d)


# -- Frechet distance ---------------------------------------------------------------------------


def test_frechet_distance_of_a_set_with_itself_is_zero():
    x = np.random.default_rng(0).standard_normal((500, 16))
    assert abs(metrics.fid_from_activations(x, x)) < 1e-8


def test_frechet_distance_equals_the_closed_form_for_diagonal_gaussians():
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.standard_normal(8), rng.standard_normal(8)
    a, b = rng.uniform(0.1, 3, 8), rng.uniform(0.1, 3, 8)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    got = metrics.frechet_distance(mu1, np.diag(a), mu2, np.diag(b))
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_frechet_distance_is_symmetric_and_matches_scipy():
    rng = np.random.default_rng(2)
    mu1, mu2 = rng.standard_normal(32), rng.standard_normal(32)
    s1, s2 = _random_cov(rng, 32), _random_cov(rng, 32)
    d12 = metrics.frechet_distance(mu1, s1, mu2, s2)
    np.testing.assert_allclose(d12, metrics.frechet_distance(mu2, s2, mu1, s1), rtol=1e-9)
    np.testing.assert_allclose(d12, _scipy_fid(mu1, s1, mu2, s2), rtol=1e-7)


def test_frechet_distance_is_finite_for_singular_covariances():
    # 20 samples in 64 dimensions: rank-19 covariances.
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((20, 64)), rng.standard_normal((20, 64)) + 0.5
    d = metrics.fid_from_activations(x, y)
    assert np.isfinite(d) and d > 0
    # sqrt of round-off-sized eigenvalues bounds the accuracy: relative to tr(S), ~1e-8.
    assert abs(metrics.fid_from_activations(x, x)) < 1e-7 * 2 * np.trace(np.cov(x.T))


# -- KID and IS ---------------------------------------------------------------------------------


def _reference_mmd2(x, y):
    """Unbiased MMD^2 with explicit loops."""
    d = x.shape[1]

    def k(a, b):
        return (a @ b / d + 1) ** 3

    m = len(x)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_matches_the_unbiased_mmd_formula():
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((12, 5)), rng.standard_normal((12, 5)) + 0.3
    # One subset of all samples: a permutation, which MMD does not see.
    mean, std = metrics.kernel_inception_distance(x, y, num_subsets=1, subset_size=12)
    np.testing.assert_allclose(mean, _reference_mmd2(x, y), rtol=1e-10)
    assert std == 0


def test_kid_is_unbiased_near_zero_for_one_distribution_and_positive_for_two():
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((2000, 32)), rng.standard_normal((2000, 32))
    same, same_std = metrics.kernel_inception_distance(x, y, num_subsets=50, subset_size=200)
    assert abs(same) < 3 * same_std / np.sqrt(50) + 1e-4
    shifted, _ = metrics.kernel_inception_distance(x, y + 0.5, num_subsets=50, subset_size=200)
    assert shifted > 10 * abs(same) and shifted > 0


def test_inception_score_extremes():
    uniform = np.full((100, 10), 0.1)
    np.testing.assert_allclose(metrics.inception_score(uniform, splits=5)[0], 1.0, rtol=1e-9)
    one_hot = np.eye(10)[np.arange(100) % 10]
    np.testing.assert_allclose(metrics.inception_score(one_hot, splits=5)[0], 10.0, rtol=1e-6)


def test_parse_metrics():
    assert scoring.parse_metrics(["fid50k", "kid", "is"], 10) == (["fid", "kid", "is"], 50000)
    assert scoring.parse_metrics(["fid"], 123) == (["fid"], 123)
    with pytest.raises(ValueError, match="unknown metric 'lpips'"):
        scoring.parse_metrics(["lpips"], 10)
    with pytest.raises(ValueError, match="conflicting"):
        scoring.parse_metrics(["fid50k", "kid10k"], 10)


def test_the_metric_names_the_flags_check_are_the_registry_s():
    assert tuple(scoring.METRICS) == config.METRIC_NAMES
    assert tuple(scoring.CONDITIONAL_METRICS) == config.CONDITIONAL_METRIC_NAMES
    with pytest.raises(ValueError, match="config.METRIC_NAMES"):
        scoring._metric("lpips")


def test_evaluation_settings_are_declared_once_flag_and_check():
    # Each Settings field is a flag of evaluate with its default and help, and is checked
    # against what its declaration accepts.
    from absl import flags

    values = flags.FlagValues()
    config.define_fields(scoring.Settings, values)
    for field in dataclasses.fields(scoring.Settings):
        assert values[field.name].default == field.default, field.name
        assert values[field.name].help == field.metadata["help"]
    assert scoring.Settings().check(["fid", "kid", "is"]) == scoring.Settings()
    for bad, match in ((dict(num_samples=1), "num_samples=1: expected an integer >= 2"),
                       (dict(kid_subsets=0), "kid_subsets=0: expected an integer >= 1"),
                       (dict(truncation_psi=float("nan")), "truncation_psi=nan: expected a "
                        "finite number"),
                       (dict(seed=-1), r"seed=-1: expected an integer in \[0, 9000000000\)")):
        with pytest.raises(config.ConfigError, match=match):
            scoring.Settings(**bad).check()
    with pytest.raises(config.ConfigError, match="is_splits=10: expected at most the 5 "):
        scoring.Settings(num_samples=5).check(["is"])
    scoring.Settings(num_samples=5).check(["fid"])  # the splits matter only for `is`


def test_in_training_metrics_are_checked_before_the_run():
    base = dict(workdir="/tmp/unused", preset="tiny", eval_every=0)
    assert config.TrainConfig(**base, eval_metrics="fid,kid,pr").validate()
    for names, match in (("kid", "fid among them"), ("fid,lpips", "names from fid, kid, is, pr,"),
                         ("fid,acc", r"acc and ifd need --conditional")):
        with pytest.raises(config.ConfigError, match=f"eval_metrics='{names}': .*{match}"):
            config.TrainConfig(**base, eval_metrics=names).validate()


# -- feature extractors -------------------------------------------------------------------------


def _fake_2015_graph(path, weights):
    """A graph with the 2015 Inception graph's interface: ExpandDims -> pool_3, softmax MatMul."""
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, None, None, 3], name="ExpandDims")
        projection = tf.constant(np.linspace(-1, 1, 3 * 2048).reshape(3, 2048), tf.float32)
        pooled = tf.matmul(tf.reduce_mean(x, axis=[1, 2]), projection)
        pool = tf.reshape(pooled, [-1, 1, 1, 2048], name="pool_3")
        flat = tf.reshape(pool, [1, 2048], name="pool_3/_reshape")
        tf.matmul(flat, tf.constant(weights, tf.float32), name="softmax/logits/MatMul")
    with open(path, "wb") as f:
        f.write(graph.as_graph_def().SerializeToString())
    return projection


def test_fid_inception_feeds_batches_through_the_2015_graph_interface(tmp_path):
    weights = np.random.default_rng(6).standard_normal((2048, 7)).astype(np.float32)
    _fake_2015_graph(tmp_path / "graph.pb", weights)
    extractor = features.FIDInception(str(tmp_path / "graph.pb"))
    images = np.random.default_rng(7).uniform(-1, 1, (5, 8, 8, 3)).astype(np.float32)
    out = extractor(images)
    pixels = np.round((images + 1) * 127.5)
    expected = pixels.mean(axis=(1, 2)) @ np.linspace(-1, 1, 3 * 2048).reshape(3, 2048)
    np.testing.assert_allclose(out["pool"], expected, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(out["logits"], expected @ weights, rtol=1e-3, atol=1e-2)


@pytest.mark.integration
def test_missing_weights_file_gives_a_clear_message(tmp_path):
    with pytest.raises(features.WeightsError, match="inception-2015-12-05.tgz"):
        features.FIDInception(str(tmp_path / "missing.pb"))
    with pytest.raises(features.WeightsError, match="inception_weights="):
        features.KerasInception(str(tmp_path / "missing.h5"))
    (tmp_path / "notes.txt").write_text("not a graph at all")
    with pytest.raises(features.WeightsError, match="not a TensorFlow graph|without the"):
        features.FIDInception(str(tmp_path / "notes.txt"))
    # The CLI checks the run directory first, then the weights.
    rundir.write_config(build.resolve_run(config.TrainConfig(workdir=str(tmp_path), preset="tiny")))
    result = subprocess.run(
        [sys.executable, "-m", "vitgan_tf.evaluate", f"--workdir={tmp_path}",
         f"--inception_path={tmp_path / 'missing.pb'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert "inception-2015-12-05.tgz" in result.stderr
    assert "Traceback" not in result.stderr


# -- the whole pipeline -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained_run(tiny_run):
    return tiny_run


@pytest.mark.integration
def test_evaluate_pipeline_end_to_end_with_a_random_extractor(trained_run, monkeypatch):
    # generate -> resize -> features -> metrics -> JSON and TensorBoard, on CPU.
    monkeypatch.setattr(real_stats.data_lib, "image_source", lambda *a, **k:
                        tf.data.Dataset.from_tensor_slices(
                            np.random.default_rng(9).uniform(-1, 1, (12, 16, 16, 3))
                            .astype(np.float32)))
    extractor = features.KerasInception(weights=None)
    settings = scoring.Settings(num_samples=10, real_samples=50, batch_size=5, kid_subsets=3,
                                 kid_subset_size=5, is_splits=2)
    report, path = evaluate.run(str(trained_run), extractor, settings=settings)
    with open(path) as f:
        saved = json.load(f)
    assert saved == json.loads(json.dumps(report))
    assert saved["step"] == 4 and saved["real_samples"] == 12
    assert saved["settings"]["real_samples"] == 12 and saved["settings"]["truncation_psi"] == 1
    assert saved["paper_comparable"] is False
    for key in ("fd", "kid", "kid_std", "is", "is_std"):
        assert np.isfinite(saved[key]), key
    assert saved["fd"] > 0 and saved["is"] >= 1
    cached = os.listdir(os.path.join(trained_run, "stats"))
    assert [n for n in cached if n.endswith("_16px_keras_inception_random_50.npz")]
    assert any(n.startswith("events") for n in os.listdir(os.path.join(trained_run, "logs")))
    # A later evaluation of fewer metrics with the same settings adds to the file and keeps
    # FID and IS.
    later, later_path = evaluate.run(str(trained_run), extractor, ["kid"], settings)
    assert later_path == path
    with open(path) as f:
        merged = json.load(f)
    assert merged["fd"] == saved["fd"] and merged["is"] == saved["is"]
    assert merged["kid"] == later["kid"]
    # Issue 23 item 5: other settings go to their own file; the first keeps its labels.
    other, other_path = evaluate.run(
        str(trained_run), extractor, ["kid"],
        dataclasses.replace(settings, truncation_psi=0.5, num_samples=6))
    assert other_path != path and "_n6_psi0.5_" in os.path.basename(other_path)
    assert "fd" not in other and other["truncation_psi"] == 0.5 and other["num_samples"] == 6
    with open(path) as f:
        first = json.load(f)
    assert first["truncation_psi"] == 1.0 and first["num_samples"] == 10
    assert first["fd"] == saved["fd"]


@pytest.mark.integration
def test_sample_grid_and_interpolation(trained_run):
    _, gan, _, step = rundir.load_run(str(trained_run))
    assert step == 4
    grid = sample.sample_grid(gan.ema_generator, 6, seed=1)
    assert grid.shape == (2 * 17 + 1, 3 * 17 + 1, 3) and grid.dtype == np.uint8  # 1-pixel gaps
    np.testing.assert_array_equal(grid, sample.sample_grid(gan.ema_generator, 6, seed=1))
    rows = sample.interpolation_rows(gan.ema_generator, 2, 5, seed=1)
    assert rows.shape == (2 * 17 + 1, 5 * 17 + 1, 3)
    # The first image of row r is seed 1 + r's own image.
    z = rng.latents_from_seeds(np.array([1, 2]), 32)
    ends = images_lib.image_grid(gan.ema_generator(z).numpy(), columns=1)
    np.testing.assert_allclose(rows[:, :18], ends, atol=1)


@pytest.mark.integration
def test_sample_cli(trained_run, tmp_path):
    out = tmp_path / "grid.png"
    result = subprocess.run(
        [sys.executable, "-m", "vitgan_tf.sample", f"--workdir={trained_run}", "--num=4",
         f"--out={out}"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert out.exists()
    bad = subprocess.run(
        [sys.executable, "-m", "vitgan_tf.sample", f"--workdir={tmp_path}", f"--out={out}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "config.json" in bad.stderr
    # Issue 23 item 2: what cannot fit one PNG grid is refused at once, not computed for days.
    for args, flag in ((["--seeds=0-99999999"], "--seeds"),):  # --num: check_count below
        big = subprocess.run(
            [sys.executable, "-m", "vitgan_tf.sample", f"--workdir={trained_run}",
             f"--out={tmp_path / 'big.png'}", *args],
            cwd=ROOT, capture_output=True, text=True, timeout=120)
        lines = [line for line in big.stderr.splitlines() if "one PNG grid" in line]
        assert big.returncode == 2 and len(lines) == 1 and flag in lines[0], big.stderr[-500:]
        assert "Traceback" not in big.stderr and not (tmp_path / "big.png").exists()


def test_parse_seeds_counts_before_it_builds_the_list():
    assert sample.parse_seeds("0-3,7", limit=5) == [0, 1, 2, 3, 7]
    with pytest.raises(ValueError, match="more than 5 images"):
        sample.parse_seeds("0-3,7,9", limit=5)
    sample.check_count(4096, 0, 4096)
    sample.check_count(64, 64, 4096)
    with pytest.raises(ValueError, match="num=10000000: 10000000 images, more than the 4096"):
        sample.check_count(10_000_000, 0, 4096)
    with pytest.raises(ValueError, match="interpolation_steps=100: 10000 images"):
        sample.check_count(100, 100, 4096)
    assert sample.max_images(32) == sample.MAX_IMAGES
    assert sample.max_images(256) == 2**26 // 256**2  # 1024 at 256 px


# -- improved precision and recall, the Fashion-MNIST domain metric ---------------------------


def _reference_precision_recall(real, fake, k):
    """Kynkäänniemi et al. 2019 with explicit loops over samples."""
    def radii(x):
        d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
        return np.sort(d, axis=1)[:, k]  # column 0 is the sample itself

    def inside(points, centres, r):
        return np.mean([any(np.linalg.norm(p - c) <= rc for c, rc in zip(centres, r))
                        for p in points])

    return inside(fake, real, radii(real)), inside(real, fake, radii(fake))


def test_precision_recall_matches_the_definition():
    rng = np.random.default_rng(7)
    real = rng.standard_normal((40, 3))
    fake = rng.standard_normal((30, 3)) * 1.5 + 0.7
    got = metrics.precision_recall(real, fake, k=3)
    np.testing.assert_allclose(got, _reference_precision_recall(real, fake, 3), atol=1e-12)


def test_precision_recall_are_one_for_identical_and_zero_for_disjoint_sets():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((300, 8))
    assert metrics.precision_recall(x, x.copy()) == (1.0, 1.0)
    precision, recall = metrics.precision_recall(x, x + 100.0)
    assert precision == 0.0 and recall == 0.0
    # A generator that covers one half of the data (in 2-D, where k-NN balls are small):
    # precise, but recall about 1/2.
    y = rng.standard_normal((2000, 2))
    precision, recall = metrics.precision_recall(y, y[y[:, 0] > 0])
    assert precision == 1.0 and 0.45 < recall < 0.6


@pytest.mark.parametrize("arch", ["cnn", "resnet"])
def test_fashion_classifier_features_are_deterministic_and_score_real_data_as_real(arch):
    extractor = features.FashionClassifier(arch=arch)
    assert extractor.name == {"cnn": "fashion_classifier", "resnet": "fashion_resnet"}[arch]
    rng = np.random.default_rng(9)
    # Stand-in garments: smooth blobs on a black background, 28x28 in [-1, 1].
    yy, xx = np.mgrid[:28, :28]
    centres = rng.uniform(8, 20, (64, 2))
    images = np.exp(-((yy - centres[:, :1, None]) ** 2 + (xx - centres[:, 1:, None]) ** 2) / 40)
    images = (images[..., None] * 2 - 1).astype(np.float32)
    a, b = extractor(images), extractor(images)
    assert a["pool"].shape == (64, 128) and a["logits"].shape == (64, 10)
    np.testing.assert_array_equal(a["pool"], b["pool"])
    assert abs(metrics.fid_from_activations(a["pool"], a["pool"])) < 1e-6
    # 32x32 input is the 28x28 geometry padded by 2: the same features.
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)), constant_values=-1.0)
    np.testing.assert_allclose(extractor(padded)["pool"], a["pool"], rtol=1e-5, atol=1e-5)
    # Noise is far from blobs in these features.
    noise = rng.uniform(-1, 1, images.shape).astype(np.float32)
    assert metrics.fid_from_activations(a["pool"], extractor(noise)["pool"]) > 1.0


@pytest.mark.integration
def test_evaluate_with_the_fashion_classifier_reports_pr_classes_and_the_real_floor(
        trained_run, tmp_path, monkeypatch):
    # A run whose dataset has a test split: the reference is the test split, and the report
    # carries the real-vs-real floor next to every metric.
    import gzip
    import struct

    rng_np = np.random.default_rng(10)
    for split, n in (("train", 40), ("test", 30)):
        for name, array in zip(data_lib.IDX_FILES[split],
                               (rng_np.integers(0, 256, (n, 28, 28)), rng_np.integers(0, 10, n))):
            array = np.asarray(array, np.uint8)
            raw = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
            with gzip.open(tmp_path / name, "wb") as f:
                f.write(raw + array.tobytes())
    config = json.loads((trained_run / "config.json").read_text())
    run_dir = tmp_path / "run"
    import shutil

    shutil.copytree(trained_run, run_dir)
    config["train"].update(dataset="fashion_mnist", data_dir=str(tmp_path))
    (run_dir / "config.json").write_text(json.dumps(config))
    report, _ = evaluate.run(str(run_dir), features.FashionClassifier(),
                             ["fid", "kid", "is", "pr"],
                             scoring.Settings(num_samples=20, real_samples=30, batch_size=10,
                                               kid_subsets=3, kid_subset_size=10, is_splits=2))
    assert report["reference_split"] == "test" and report["real_samples"] == 30
    for key in ("fd", "kid", "is", "precision", "recall"):
        assert np.isfinite(report[key]) and np.isfinite(report[f"real_floor_{key}"]), key
    assert 0 <= report["precision"] <= 1 and 0 <= report["recall"] <= 1
    assert sum(report["class_counts"]) == 20 and 1 <= report["classes"] <= 10


def test_the_two_fashion_judges_are_different_networks_each_shipped_with_its_accuracy():
    import json

    from vitgan_tf import fashion_classifier

    reports = {}
    for arch, name in fashion_classifier.JUDGES.items():
        with open(os.path.join(fashion_classifier.ASSETS, f"{name}.json")) as f:
            reports[arch] = json.load(f)
        assert reports[arch]["test_accuracy"] > 0.9, (arch, reports[arch])
    assert reports["cnn"]["seed"] != reports["resnet"]["seed"]
    cnn, _ = fashion_classifier.build_classifier()
    resnet, _ = fashion_classifier.build_resnet()
    assert {type(layer).__name__ for layer in resnet.layers} - {
        type(layer).__name__ for layer in cnn.layers} >= {"Add"}  # residual, unlike the CNN
    # They disagree on what they see: the features of one are not those of the other.
    images = np.random.default_rng(3).uniform(-1, 1, (16, 28, 28, 1)).astype(np.float32)
    a = features.FashionClassifier(arch="cnn")(images)["pool"]
    b = features.FashionClassifier(arch="resnet")(images)["pool"]
    assert not np.allclose(a, b)
