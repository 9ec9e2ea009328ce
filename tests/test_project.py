"""The projector: its loss against a NumPy reference, its schedule, that it finds a style that
a target was drawn from, that targets do not interact, and the command's files and refusals."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.helpers import ROOT
from vitgan_tf import project
from vitgan_tf.errors import UserError
from vitgan_tf.models.generator import Generator


def test_the_loss_is_pixels_plus_weighted_unit_feature_distance():
    r = np.random.default_rng(0)
    images, targets = r.uniform(-1, 1, (2, 3, 4, 4, 1)).astype(np.float32)
    matrix = r.standard_normal((16, 5)).astype(np.float32)

    def features(x):
        return np.reshape(x, (len(x), -1)) @ matrix

    expected = []
    for x, t in zip(images, targets):
        pixel = np.mean((x.astype(np.float64) - t) ** 2)
        fx, ft = features(x[None])[0], features(t[None])[0]
        fx, ft = fx / np.linalg.norm(fx), ft / np.linalg.norm(ft)
        expected.append((pixel, np.sum((fx - ft) ** 2)))
    pixel, perceptual = project.distances(images, targets, features)
    np.testing.assert_allclose(np.asarray(pixel), [e[0] for e in expected], rtol=1e-5)
    np.testing.assert_allclose(np.asarray(perceptual), [e[1] for e in expected], rtol=1e-4)
    loss = project.projection_loss(images, targets, features, 0.3)
    np.testing.assert_allclose(float(loss), sum(p + 0.3 * q for p, q in expected), rtol=1e-5)
    # Without features: pixels alone; the perceptual distance of an image to itself is 0.
    assert float(project.projection_loss(images, targets)) == pytest.approx(
        sum(e[0] for e in expected), rel=1e-5)
    np.testing.assert_allclose(np.asarray(project.distances(images, images, features)[1]), 0,
                               atol=1e-6)


def test_the_learning_rate_ramps_up_then_down():
    steps, peak = 200, 0.1
    rates = [project.learning_rate(i, steps, peak) for i in range(steps)]
    assert rates[0] == 0 and rates[5] == pytest.approx(peak * 5 / 10)  # 5% ramp-up: 10 steps
    assert rates[50] == pytest.approx(peak)  # flat in the middle
    t = 180 / steps
    assert rates[180] == pytest.approx(peak * (0.5 - 0.5 * math.cos((1 - t) / 0.25 * math.pi)))
    assert rates[-1] < 0.001 * peak


@pytest.fixture(scope="module")
def generator():
    g = Generator("tiny", name="ema_generator")
    g.w_avg.assign(np.asarray(g.mapping(np.random.default_rng(1).standard_normal(
        (256, 32)).astype(np.float32))).mean(0))
    return g


def test_it_finds_a_style_whose_image_is_the_target(generator):
    g = generator
    w_true = np.asarray(g.mapping(np.random.default_rng(2).standard_normal((2, 32)).astype(
        np.float32)))
    targets = np.asarray(g.synthesize(w_true))
    start = np.asarray(g.synthesize(project.start_styles(g, 2)))
    before = np.mean((start - targets) ** 2, axis=(1, 2, 3))
    for w_plus in (False, True):
        w, images, snapshots = project.project(g, targets, steps=150, lr=0.05, w_plus=w_plus,
                                               snapshot_every=50)
        after = np.mean((images - targets) ** 2, axis=(1, 2, 3))
        assert w.shape == ((2, g.num_ws, 32) if w_plus else (2, 32))
        assert np.all(after < 0.1 * before), (w_plus, before, after)
        np.testing.assert_allclose(np.asarray(g.synthesize(w)), images, atol=1e-5)
        assert len(snapshots) == 4  # steps 0, 50, 100 and the end


def test_the_start_is_the_nearest_of_the_candidate_styles(generator):
    from vitgan_tf import rng

    g = generator
    z = rng.latents_from_seeds(np.array([3, 7]), 32)
    w = np.asarray(g.mapping(z))
    targets = np.asarray(g.synthesize(w))  # seeds 7 and 3's own images, in that order
    start = project.nearest_styles(g, targets[::-1], 10)
    np.testing.assert_allclose(start, w[::-1], atol=1e-6)
    # No candidates: the mean style; and seeds that are not among them are not found.
    np.testing.assert_allclose(project.nearest_styles(g, targets, 0),
                               np.tile(g.w_avg.numpy(), (2, 1)), atol=1e-6)
    assert np.abs(project.nearest_styles(g, targets, 3) - w).max() > 1e-3
    # From there the projection only improves on it.
    _, images, _ = project.project(g, targets, steps=20, candidates=10)
    assert np.mean((images - targets) ** 2) < 1e-3


def test_targets_are_projected_independently(generator):
    g = generator
    targets = np.random.default_rng(3).uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32)
    together, _, _ = project.project(g, targets, steps=20)
    alone, _, _ = project.project(g, targets[1:], steps=20)
    np.testing.assert_allclose(together[1:], alone, atol=1e-4)


def _png(path, array):
    Image.fromarray(array).save(path)
    return str(path)


def test_a_target_must_be_an_image_of_the_runs_size_and_channels(tmp_path):
    gray = _png(tmp_path / "gray.png", np.zeros((16, 16), np.uint8))
    assert project.read_target(gray, 16, 1).shape == (1, 16, 16, 1)
    rgba = _png(tmp_path / "rgba.png", np.zeros((16, 16, 4), np.uint8))
    assert project.read_target(rgba, 16, 3).shape == (1, 16, 16, 3)  # alpha dropped
    (tmp_path / "text.png").write_text("not an image")
    for path, size, channels, message in (
            (str(tmp_path / "text.png"), 16, 1, "not an image"),
            (str(tmp_path / "missing.png"), 16, 1, "no such file"),
            (gray, 28, 1, "a 16x16 image with 1 channel(s); the run draws 28x28 grayscale"),
            (gray, 16, 3, "the run draws 16x16 RGB images (3 channel(s))")):
        with pytest.raises(UserError, match=r"^target=.*" + message.replace("(", r"\(")
                           .replace(")", r"\)")):
            project.read_target(path, size, channels)


def _cli(tool, *args):
    return subprocess.run([sys.executable, "-m", f"vitgan_tf.{tool}", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.integration
def test_the_command_writes_its_files_and_sample_draws_its_w_again(tiny_run, tmp_path):
    target = _png(tmp_path / "t.png", np.random.default_rng(4).integers(
        0, 256, (16, 16, 3), dtype=np.uint8))
    out = tmp_path / "proj"
    result = _cli("project", f"--workdir={tiny_run}", f"--target={target}", f"--out={out}",
                  "--steps=30", "--w_plus")
    assert result.returncode == 0, result.stderr[-1500:]
    report = json.loads((out / "projection.json").read_text())
    assert report["perceptual"] == "none"  # 16x16 RGB: pixels alone by default
    assert report["after"]["pixel"] < report["before"]["pixel"]
    assert np.load(out / "w.npy").shape == (1, 2, 32)
    with Image.open(out / "projection.gif") as gif:
        assert gif.n_frames >= 2
    assert np.asarray(Image.open(out / "target.png")).shape == (16, 16, 3)
    again = tmp_path / "again.png"
    result = _cli("sample", f"--workdir={tiny_run}", f"--w={out / 'w.npy'}", f"--out={again}")
    assert result.returncode == 0, result.stderr[-1500:]
    drawn = np.asarray(Image.open(again))[1:17, 1:17].astype(int)
    projected = np.asarray(Image.open(out / "projected.png")).astype(int)
    assert np.abs(drawn - projected).max() <= 1


@pytest.mark.integration
def test_the_command_refuses_bad_input_in_one_line(tiny_run, tmp_path):
    target = _png(tmp_path / "t.png", np.zeros((16, 16, 3), np.uint8))
    small = _png(tmp_path / "s.png", np.zeros((8, 8, 3), np.uint8))
    bad_w = tmp_path / "w.npy"
    np.save(bad_w, np.zeros((1, 5), np.float32))
    base = [f"--workdir={tiny_run}", f"--out={tmp_path / 'o'}"]
    for tool, args, message in (
            ("project", [f"--target={small}"], "a 8x8 image with 3 channel(s)"),
            ("project", [f"--target={tmp_path}"], "no such file"),
            ("project", [f"--target={target}", "--class=1"], "--class: the run is not "
                                                             "conditional"),
            ("project", [f"--target={target}", "--steps=0"], "--steps=0: expected a positive"),
            ("project", [f"--target={target}", "--perceptual=x"], "--perceptual"),
            ("sample", [f"--w={bad_w}"], "expected floats of shape (N, 32) or (N, 2, 32)"),
            ("sample", [f"--w={target}"], "not a readable .npy file")):
        if tool == "sample":
            args = [*args, f"--out={tmp_path / 'x.png'}"]
        result = _cli(tool, *base[:1], *(base[1:] if tool == "project" else []), *args)
        last = result.stderr.strip().splitlines()[-1]
        assert result.returncode == 2 and message in last, (args, result.stderr[-800:])
        assert "Traceback" not in result.stderr
