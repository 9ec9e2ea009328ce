"""sample's walks (spherical in z, linear in w; PNG rows and .gif/.webp/.mp4 animations) and
style mixing (per-place styles, the mixing grid), each against a plain NumPy or by-hand
reference, and the command's refusals."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.helpers import ROOT
from vitgan_tf import rng, sample
from vitgan_tf.errors import UserError
from vitgan_tf.layers import stitch_patches
from vitgan_tf.models.generator import Generator


def _slerp_reference(a, b, t):
    """Spherical interpolation of two vectors, one value at a time, in Python floats."""
    dot = sum(x * y for x, y in zip(a, b))
    cos = dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))
    omega = math.acos(min(1.0, max(-1.0, cos)))
    if omega < 1e-6:
        return [(1 - t) * x + t * y for x, y in zip(a, b)]
    return [(math.sin((1 - t) * omega) * x + math.sin(t * omega) * y) / math.sin(omega)
            for x, y in zip(a, b)]


def test_slerp_matches_a_reference_keeps_its_ends_and_moves_at_a_constant_angle():
    r = np.random.default_rng(0)
    a, b = r.standard_normal((2, 3, 16))
    t = np.linspace(0, 1, 7)
    got = sample.slerp(a, b, t)
    assert got.shape == (7, 3, 16) and got.dtype == np.float32
    for i, ti in enumerate(t):
        for row in range(3):
            np.testing.assert_allclose(got[i, row], _slerp_reference(a[row], b[row], ti),
                                       rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got[0], a.astype(np.float32))
    np.testing.assert_array_equal(got[-1], b.astype(np.float32))
    # Between vectors of one length: equal steps of angle, and that length all along (what
    # makes it spherical, not linear).
    b = b / np.linalg.norm(b, axis=-1, keepdims=True) * np.linalg.norm(a, axis=-1, keepdims=True)
    got = sample.slerp(a, b, t)
    np.testing.assert_allclose(np.linalg.norm(got, axis=-1),
                               np.linalg.norm(a, axis=-1)[None].repeat(7, 0), rtol=1e-5)
    unit = got / np.linalg.norm(got, axis=-1, keepdims=True)
    angles = np.arccos(np.clip(np.sum(unit[1:] * unit[:-1], -1), -1, 1))
    np.testing.assert_allclose(angles, angles[:1].repeat(6, 0), rtol=1e-3)
    # Parallel vectors: linear interpolation, no division by sin(0).
    np.testing.assert_allclose(sample.slerp(a[:1], 2 * a[:1], [0.5])[0], 1.5 * a[:1], rtol=1e-6)


def test_mix_styles_takes_b_at_the_listed_places_only():
    r = np.random.default_rng(1)
    w_a, w_b = r.standard_normal((3, 8)), r.standard_normal((2, 8))
    got = sample.mix_styles(w_a, w_b, [0, 2], num_ws=4)
    assert got.shape == (3, 2, 4, 8)
    for a in range(3):
        for b in range(2):
            for place in range(4):
                want = w_b[b] if place in (0, 2) else w_a[a]
                np.testing.assert_array_equal(got[a, b, place], want.astype(np.float32))
    assert sample.default_mix_blocks(4) == [0, 1] and sample.default_mix_blocks(2) == [0]
    assert sample.parse_blocks("0-1,3", 4) == [0, 1, 3]
    for bad in ("4", "-1", "x", "", "2-"):
        with pytest.raises(UserError, match=r"mix_blocks.*\[0, 4\)"):
            sample.parse_blocks(bad, 4)


@pytest.fixture(scope="module")
def generator():
    return Generator("tiny", name="ema_generator")


def _by_hand(g, ws):
    """The generator's synthesis with one style per place, layer by layer."""
    cfg = g.vitgan_config
    h = np.broadcast_to(np.asarray(g.position()), (len(ws), cfg.g_grid_size**2,
                                                   cfg.g_hidden_dim))
    for i, block in enumerate(g.blocks):
        h = block(h, ws[:, i])
    y = g.final_norm(h, ws[:, -1])
    return np.asarray(stitch_patches(g.decoder(y), cfg.g_grid_size))


def test_synthesis_takes_one_style_per_place(generator):
    g = generator
    assert g.num_ws == g.vitgan_config.g_depth + 1 == 2
    ws = np.random.default_rng(2).standard_normal((3, g.num_ws, 32)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(g.synthesize(ws)), _by_hand(g, ws), atol=1e-5)
    # The same style at every place is the plain synthesis.
    same = np.repeat(ws[:, :1], g.num_ws, axis=1)
    np.testing.assert_allclose(np.asarray(g.synthesize(same)),
                               np.asarray(g.synthesize(ws[:, 0])), atol=1e-6)
    # Each place matters: changing one place's style changes the image.
    for place in range(g.num_ws):
        changed = ws.copy()
        changed[:, place] = ws[:, place][::-1]
        assert np.abs(np.asarray(g.synthesize(changed)) - _by_hand(g, ws)).max() > 1e-3, place
    with pytest.raises(ValueError, match=r"expected \(batch, 2, 32\)"):
        g.synthesize(np.zeros((1, 3, 32), np.float32))


def test_the_style_mixing_grid_is_the_generator_called_with_mixed_styles(generator):
    g = generator
    grid = sample.style_mixing_grid(g, [0, 1, 2], [5, 6], [1], truncation_psi=0.7)
    size = 17  # 16 pixels and a 1-pixel gap
    assert grid.shape == (4 * size + 1, 3 * size + 1, 3)
    z = rng.latents_from_seeds(np.array([0, 1, 2, 5, 6]), 32)
    w = np.asarray(g.truncate(g.mapping(z), 0.7))

    def cell(row, col):
        return grid[1 + row * size:row * size + size, 1 + col * size:col * size + size]

    def as_uint8(images):
        return np.round((np.clip(images, -1, 1) + 1) * 127.5).astype(np.uint8)

    assert (cell(0, 0) == 255).all()  # the blank corner
    for b in range(2):  # the first row: seeds B
        np.testing.assert_allclose(cell(0, 1 + b), as_uint8(np.asarray(g(z[3 + b:4 + b],
                                   truncation_psi=0.7)))[0], atol=1)
    for a in range(3):
        np.testing.assert_allclose(cell(1 + a, 0), as_uint8(np.asarray(g(z[a:a + 1],
                                   truncation_psi=0.7)))[0], atol=1)
        for b in range(2):
            ws = np.stack([w[a], w[3 + b]])[None]  # place 0 from A, place 1 from B
            np.testing.assert_allclose(cell(1 + a, 1 + b), as_uint8(_by_hand(g, ws))[0], atol=1)


def test_walks_end_at_the_seeds_and_follow_their_paths(generator):
    g = generator
    z = rng.latents_from_seeds(np.array([3, 4, 5, 6]), 32)
    ends = np.asarray(g(z))
    for walk in ("z", "w"):
        images = sample.walk_images(g, 2, 5, seed=3, walk=walk)
        assert images.shape == (2, 5, 16, 16, 3)
        np.testing.assert_allclose(images[:, 0], ends[:2], atol=1e-5)
        np.testing.assert_allclose(images[:, -1], ends[2:], atol=1e-5)
    # z: the images of slerp(z_a, z_b); w: of the straight line between the styles.
    path = sample.slerp(z[:2], z[2:], np.linspace(0, 1, 5))
    np.testing.assert_allclose(sample.walk_images(g, 2, 5, seed=3, walk="z")[:, 2],
                               np.asarray(g(path[2])), atol=1e-5)
    w = np.asarray(g.mapping(z))
    np.testing.assert_allclose(sample.walk_images(g, 2, 5, seed=3, walk="w")[:, 2],
                               np.asarray(g.synthesize(0.5 * w[:2] + 0.5 * w[2:])), atol=1e-5)
    frames = sample.walk_frames(g, 2, 5, seed=3)
    assert len(frames) == 5 and frames[0].shape == (18, 35, 3)


def test_animations_are_written_and_read_back(tmp_path):
    r = np.random.default_rng(3)
    frames = [r.integers(0, 256, (9, 11, 1), dtype=np.uint8) for _ in range(4)]
    for extension in (".gif", ".webp"):
        path = str(tmp_path / f"walk{extension}")
        sample.write_video(frames, path, fps=10)
        with Image.open(path) as image:
            assert image.n_frames == 4 and image.size == (11, 9)
            for i, frame in enumerate(frames):
                image.seek(i)
                got = np.asarray(image.convert("L"))
                np.testing.assert_array_equal(got, frame[..., 0], err_msg=f"{extension} {i}")
        assert not [n for n in os.listdir(tmp_path) if ".tmp" in n]


def test_an_mp4_walk_is_written_where_imageio_ffmpeg_is(tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    frames = [np.full((9, 11, 3), 40 * i, np.uint8) for i in range(5)]
    path = str(tmp_path / "walk.mp4")
    sample.write_video(frames, path, fps=5)
    with open(path, "rb") as f:
        assert f.read(12)[4:8] == b"ftyp"  # an MP4 container


def test_an_mp4_without_imageio_ffmpeg_is_refused_in_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # import fails
    with pytest.raises(UserError, match="needs imageio-ffmpeg.*pip install imageio-ffmpeg"):
        sample.check_output("walk.mp4", video=True)


def _sample(*args):
    return subprocess.run([sys.executable, "-m", "vitgan_tf.sample", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.integration
def test_the_sample_command_writes_walks_and_mixing_grids(tiny_run, tmp_path):
    gif, mix = tmp_path / "walk.gif", tmp_path / "mix.png"
    result = _sample(f"--workdir={tiny_run}", "--interpolation_steps=4", "--num=2",
                     f"--out={gif}", "--walk=w")
    assert result.returncode == 0, result.stderr[-800:]
    with Image.open(gif) as image:
        assert image.n_frames == 4 and image.size == (2 * 17 + 1, 18)
    result = _sample(f"--workdir={tiny_run}", "--style_mix=0-2:5-6", "--mix_blocks=1",
                     f"--out={mix}")
    assert result.returncode == 0, result.stderr[-800:]
    assert "places [1] from seeds B" in result.stdout
    assert np.asarray(Image.open(mix)).shape == (4 * 17 + 1, 3 * 17 + 1, 3)


@pytest.mark.parametrize("args, message", [
    (["--style_mix=0-3"], "--style_mix='0-3': expected A_SEEDS:B_SEEDS"),
    (["--style_mix=0:x"], "--seeds='x': expected integers"),
    (["--style_mix=0-3:4", "--mix_blocks=2"], "--mix_blocks='2': expected places in [0, 2)"),
    (["--mix_blocks=0"], "--mix_blocks='0': it chooses the places of --style_mix"),
    (["--style_mix=0:1", "--interpolation_steps=3"], "--interpolation_steps: not with"),
    (["--style_mix=0:1", "--class=1"], "--class: the run is not conditional"),
    (["--out=walk.gif"], "walk.gif': expected a .png file name (an animation"),
    (["--out=walk.avi", "--interpolation_steps=3"], "expected a .png, .gif, .webp or .mp4"),
    (["--fps=0", "--interpolation_steps=3", "--out=w.gif"], "--fps=0: expected a positive"),
    (["--walk=x"], "--walk"),
])
def test_sample_refuses_bad_walks_and_mixes_in_one_line(tiny_run, tmp_path, args, message):
    result = _sample(f"--workdir={tiny_run}", *[a.replace("--out=", f"--out={tmp_path}/")
                                                if a.startswith("--out=") else a
                                                for a in args])
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr[-800:]
    assert message in lines[-1] and "Traceback" not in result.stderr, lines[-1]
