"""The browser page (web/): its JavaScript keeps the project's seed convention (web/rng.js draws
the same latent for a seed as vitgan_tf.rng.latents_from_seeds, to float32 rounding), and in
headless Chromium it draws, with LiteRT.js, the pixels `python -m vitgan_tf.sample --seeds`
draws, and says in one line what is wrong with bad input."""

import json
import os
import shutil
import subprocess
import time

import numpy as np
import pytest

from tests import browser as browser_lib
from tests.helpers import ROOT, assert_same_uint8, run_cli, tiny_config
from vitgan_tf import rng, web

needs_node = pytest.mark.skipif(shutil.which("node") is None,
                                reason="needs Node.js (node) to run web/rng.js")
LITERT = os.path.join(ROOT, "web", "node_modules", "@litertjs", "core")
needs_browser = [
    pytest.mark.integration,
    pytest.mark.skipif(browser_lib.find_chromium() is None,
                       reason="needs Chromium (apt-get install -y chromium)"),
    pytest.mark.skipif(not os.path.isdir(LITERT),
                       reason="needs LiteRT.js in web/node_modules (npm ci --prefix web)"),
]

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


@needs_node
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


def test_a_page_mid_navigation_reads_as_not_loaded_and_other_errors_raise():
    # Chromium answers Runtime.evaluate with "Cannot find default execution context" while a
    # navigation swaps the document (a CI run failed on it): the load wait polls on.
    class Replies:
        def __init__(self, *replies):
            self.replies = list(replies)

        def send(self, method, session=None, **params):
            reply = self.replies.pop(0)
            if isinstance(reply, Exception):
                raise reply
            return {"result": {"value": reply}}

    navigating = browser_lib.BrowserError(
        "Runtime.evaluate: {'code': -32000, 'message': 'Cannot find default execution context'}")
    page = browser_lib.Page(Replies(navigating, False, True), "session")
    assert [page.loaded(), page.loaded(), page.loaded()] == [False, False, True]
    broken = browser_lib.Page(Replies(browser_lib.BrowserError("Runtime.evaluate: other")), "s")
    with pytest.raises(browser_lib.BrowserError, match="other"):
        broken.loaded()


# -- the page in a real browser -------------------------------------------------------------


def _export(workdir, output, batch):
    from vitgan_tf import export

    export.export(str(workdir), str(output), formats=("tflite",),
                  tflite_variants=("float32", "float16"), tflite_batch=batch)
    return output


@pytest.fixture(scope="module")
def chromium():
    with browser_lib.Browser() as browser:
        yield browser


def _canvas(page):
    pixels = page.evaluate("window.vitgan.pixels()")
    rgba = np.array(pixels["data"], np.uint8).reshape(pixels["height"], pixels["width"], 4)
    assert np.all(rgba[..., 3] == 255)
    return rgba[..., :3]


def _sample_png(workdir, tmp_path, *flags):
    from PIL import Image

    out = tmp_path / "sample.png"
    result = run_cli("sample", f"--workdir={workdir}", f"--out={out}", *flags)
    assert result.returncode == 0, result.stderr[-2000:]
    return np.asarray(Image.open(out).convert("RGB"))


def _ready(page):
    assert page.evaluate("window.vitgan.ready") is True, page.evaluate("window.vitgan.error()")


def browser_test(test):
    """Marked integration; skipped, saying what to install, without Chromium or LiteRT.js."""
    for mark in needs_browser:
        test = mark(test)
    return test


@browser_test
def test_the_page_draws_the_pixels_of_sample(tiny_run, tmp_path, chromium):
    # Batch 4 per call: the 6 seeds take two calls, the second padded.
    model_dir = _export(tiny_run, tmp_path / "export", batch=4)
    want = _sample_png(tiny_run, tmp_path, "--seeds=0-5")
    # sample's default walk is the page's: spherical in z, seed 0 to seed 1.
    want_walk = _sample_png(tiny_run, tmp_path, "--interpolation_steps=5", "--num=1")
    for variant in ("float32", "float16"):
        with web.serving(model_dir, variant) as (url, _):
            page = chromium.open(url)
            _ready(page)
            assert page.evaluate("window.vitgan.drawGrid('0-5')") is True
            got = _canvas(page)
            timing = page.evaluate("window.vitgan.timing()")
            # Interpolation: its ends are the seeds' own images.
            assert page.evaluate("window.vitgan.interpolate('0', '1', 5)") is True
            walk = _canvas(page)
            shot = page.screenshot()
        assert got.shape == want.shape == (2 * 17 + 1, 3 * 17 + 1, 3), variant
        if variant == "float32":
            # Measured: identical (XNNPack in WebAssembly against TF's CPU kernels, uint8).
            assert_same_uint8(got, want)
        else:
            # float16 weights: measured 1 grey level off on 6% of a tiny model's values (the
            # trained Fashion-MNIST model: at most 7, mean 0.04).
            diff = np.abs(got.astype(int) - want.astype(int))
            assert diff.max() <= 2 and diff.mean() < 0.2, (diff.max(), diff.mean())
        np.testing.assert_array_equal(walk[1:17, 1:17], got[1:17, 1:17])
        np.testing.assert_array_equal(walk[1:17, 4 * 17 + 1:5 * 17], got[1:17, 18:34])
        assert walk.shape == want_walk.shape
        if variant == "float32":
            assert_same_uint8(walk, want_walk)
        assert timing["images"] == 6 and timing["perImage"] > 0
        assert shot[:8] == b"\x89PNG\r\n\x1a\n"


@browser_test
def test_the_page_draws_one_row_per_class_of_a_conditional_model(tmp_path, chromium):
    from tests.test_conditional import labelled_tiny_images
    from vitgan_tf import train_lib

    workdir = tmp_path / "run"
    train_lib.train(tiny_config(workdir, conditional=True, total_steps=2),
                    dataset=labelled_tiny_images())
    model_dir = _export(workdir, tmp_path / "export", batch=1)
    with web.serving(model_dir) as (url, _):
        page = chromium.open(url)
        _ready(page)
        assert "10 classes" in page.evaluate("document.getElementById('model-info').textContent")
        assert page.evaluate("document.getElementById('classes').options.length") == 10
        assert page.evaluate("window.vitgan.drawGrid('0-2', [1, 3])") is True
        got = _canvas(page)
        assert page.evaluate("window.vitgan.drawGrid('0-2', [10])") is False
        assert "10 is not a class id of this model (0 to 9)" in page.evaluate(
            "window.vitgan.error()")
    want = _sample_png(workdir, tmp_path, "--seeds=0-2", "--classes=1,3")
    assert got.shape == want.shape == (2 * 17 + 1, 3 * 17 + 1, 3)
    assert_same_uint8(got, want)


@browser_test
def test_the_page_says_in_one_line_what_is_wrong(tiny_run, tmp_path, chromium):
    import tensorflow as tf

    model_dir = _export(tiny_run, tmp_path / "export", batch=1)
    # Another TFLite model under the export's names: not a ViTGAN generator.
    other = tmp_path / "other"
    (other / "tflite").mkdir(parents=True)
    double = tf.function(lambda x: {"y": 2 * x},
                         input_signature=[tf.TensorSpec([1, 4], tf.float32, name="x")])
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [double.get_concrete_function()])
    (other / "tflite" / "v1_float32.tflite").write_bytes(converter.convert())
    shutil.copy(model_dir / "tflite" / "v1_vitgan_tf.json", other / "tflite")

    def error_of(url):
        page = chromium.open(url)
        assert page.evaluate("window.vitgan.ready") is False
        return page.evaluate("window.vitgan.error()")

    with web.serving(model_dir) as (url, _):
        assert error_of(url + "?meta=missing.json").startswith(
            "Could not fetch the model description missing.json (HTTP 404).")
        assert error_of(url + "?model=vitgan_tf.json").startswith(
            "vitgan_tf.json is not a TFLite model")
        assert error_of(url + "?meta=model.tflite").startswith("model.tflite is not JSON")
        page = chromium.open(url)
        _ready(page)
        for call, message in (
                ("drawGrid('0-99999')", 'Seeds: "0-99999" is 100000 images; at most 256'),
                ("drawGrid('a-b')", 'Seeds: expected a range such as 0-15'),
                ("drawGrid('9223372036854775808')", "each a whole number from 0 to "
                                                    "9223372036854775807"),
                ("interpolate('0', '1', 1)", "Steps: expected a whole number from 2 to 64")):
            assert page.evaluate(f"window.vitgan.{call}") is False, call
            assert message in page.evaluate("window.vitgan.error()"), call
        # A good request after a bad one clears the message and draws.
        assert page.evaluate("window.vitgan.drawGrid('2,7')") is True
        assert page.evaluate("window.vitgan.error()") == ""
        # A latent the model marks invalid (not finite): a red tile and a message, never a
        # silent black image; the finite one beside it is drawn.
        assert page.evaluate("window.vitgan.drawLatents("
                             "[NaN, ...Array(31).fill(0), ...Array(32).fill(0.5)])") is True
        assert page.evaluate("window.vitgan.error()").startswith(
            "1 image(s) could not be drawn (the model marked them invalid")
        assert "latent 0." in page.evaluate("window.vitgan.error()")
        canvas = _canvas(page)
        np.testing.assert_array_equal(canvas[1:17, 1:17].reshape(-1, 3), [[200, 0, 32]] * 256)
        assert not np.all(canvas[1:17, 18:34] == [200, 0, 32])
    with web.serving(other) as (url, _):
        assert "is not the vitgan_tf generator that vitgan_tf.json describes: its inputs are " \
               "(x)" in error_of(url)


def test_the_server_refuses_what_the_page_cannot_run(tiny_run, tmp_path):
    from vitgan_tf import export, web
    from vitgan_tf.errors import UserError

    with pytest.raises(UserError, match="no tflite/ folder there"):
        web.model_files(str(tmp_path))
    output = tmp_path / "export"
    export.export(str(tiny_run), str(output), formats=("tflite",), tflite_variants=("float32",))
    with pytest.raises(UserError, match="exported for any number of rows per call.*"
                                        "--tflite_batch=1"):
        web.model_files(str(output))
    with pytest.raises(UserError, match="^version=7: no float32 TFLite model of that version"):
        web.model_files(str(output), version=7)
    with pytest.raises(UserError, match="^variant='float16': no float16 TFLite model"):
        web.model_files(str(output), "float16")
    (output / "tflite" / "v1_vitgan_tf.json").unlink()
    with pytest.raises(UserError, match="v1_vitgan_tf.json is missing"):
        web.model_files(str(output))


@browser_test
def test_the_page_loads_without_console_errors_and_times_after_a_warm_up(
        tiny_run, tmp_path, chromium, monkeypatch):
    requests = []
    monkeypatch.setattr(web.Handler, "log_request",
                        lambda self, code="-", size="-": requests.append((self.path, str(code))))
    model_dir = _export(tiny_run, tmp_path / "export", batch=1)
    with web.serving(model_dir) as (url, _):
        page = chromium.open(url)
        _ready(page)
        assert page.evaluate("window.vitgan.consoleErrors()") == []
        assert "after one untimed warm-up call" in page.evaluate(
            "document.getElementById('timing').textContent")
    assert [r for r in requests if r[1] != "200"] == []  # no favicon.ico 404 among them
    assert not any("favicon" in path for path, _ in requests)


@browser_test
def test_the_page_opened_as_a_file_says_to_use_the_server(chromium):
    page = chromium.open("file://" + os.path.join(ROOT, "web", "index.html"))
    deadline = time.monotonic() + 10
    while not page.evaluate("document.getElementById('error').textContent") and (
            time.monotonic() < deadline):
        time.sleep(0.1)
    text = page.evaluate("document.getElementById('error').textContent")
    assert text.startswith("This page was opened as a file") and "vitgan_tf.web" in text


@pytest.mark.slow
@browser_test
def test_the_page_draws_the_shipped_generator_like_sample(tmp_path, chromium):
    # The trained model in the repository: a newcomer's first page, no training needed.
    shipped = os.path.join(ROOT, "pretrained", "fashion_mnist")
    want = _sample_png(shipped, tmp_path, "--seeds=0-3")
    with web.serving(shipped, "float16") as (url, _):
        page = chromium.open(url)
        _ready(page)
        assert page.evaluate("window.vitgan.drawGrid('0-3')") is True
        got = _canvas(page)
    assert got.shape == want.shape == (2 * 29 + 1, 2 * 29 + 1, 3)
    # float16 TFLite against the float16 weights run by TensorFlow in float32.
    diff = np.abs(got.astype(int) - want.astype(int))
    assert diff.max() <= 12 and diff.mean() < 0.5, (diff.max(), diff.mean())


@browser_test
def test_a_link_draws_the_same_images_and_the_grid_downloads_as_png(tiny_run, tmp_path,
                                                                     chromium):
    import base64
    import io
    import urllib.parse

    from PIL import Image

    model_dir = _export(tiny_run, tmp_path / "export", batch=4)
    grid = _sample_png(tiny_run, tmp_path, "--seeds=3,5")
    walk = _sample_png(tiny_run, tmp_path, "--interpolation_steps=5", "--num=1", "--seed=2")
    with web.serving(model_dir, "float32") as (url, _):
        page = chromium.open(url + "?seeds=3,5")
        _ready(page)
        assert_same_uint8(_canvas(page), grid)  # the address's seeds, not the form's default
        assert page.evaluate("document.getElementById('seeds').value") == "3,5"
        # Drawing writes what is drawn into the address and the link.
        assert page.evaluate("window.vitgan.interpolate('2', '3', 5)") is True
        query = urllib.parse.parse_qs(page.evaluate("location.search")[1:])
        assert query == {"from": ["2"], "to": ["3"], "steps": ["5"]}
        assert "from=2&to=3&steps=5" in page.evaluate("document.getElementById('link').href")
        # The PNG download is the canvas.
        data = page.evaluate("window.vitgan.pngDataUrl()")
        assert data.startswith("data:image/png;base64,")
        png = np.asarray(Image.open(io.BytesIO(base64.b64decode(data.split(",", 1)[1])))
                         .convert("RGB"))
        np.testing.assert_array_equal(png, _canvas(page))
        assert page.evaluate("window.vitgan.downloadPng()") == "vitgan_walk_2_3.png"
        # A fresh page at that address draws that walk.
        shared = chromium.open(url + page.evaluate("location.search"))
        _ready(shared)
        assert_same_uint8(_canvas(shared), walk)
        # The accelerator: WebGPU where the browser offers it, else WebAssembly, named with the
        # time per image.
        used = shared.evaluate("window.vitgan.accelerator()")
        timing = shared.evaluate("document.getElementById('timing').textContent")
        if used["used"] == "wasm":  # no WebGPU here, or one that could not run it: said so
            assert not used["webgpu"] or "WebGPU could not run the model" in used["note"]
        assert used["used"] in ("webgpu", "wasm") and "ms per image" in timing
        assert {"webgpu": "WebGPU", "wasm": "WebAssembly"}[used["used"]] in timing
        forced = chromium.open(url + "?accelerator=wasm&seeds=3,5")
        _ready(forced)
        assert forced.evaluate("window.vitgan.accelerator()")["used"] == "wasm"
        assert_same_uint8(_canvas(forced), grid)
        bad = chromium.open(url + "?accelerator=npu")
        assert bad.evaluate("window.vitgan.ready") is False
        assert "accelerator=npu: expected one of auto, webgpu, wasm" in bad.evaluate(
            "window.vitgan.error()")


# Chromium's WebGPU on the CPU (SwiftShader): the page's WebGPU path runs on any machine.
SWIFTSHADER = ("--enable-unsafe-webgpu", "--use-webgpu-adapter=swiftshader",
               "--enable-features=Vulkan")


@pytest.mark.slow  # about a minute: WebGPU emulated on the CPU
@browser_test
def test_the_page_runs_the_model_on_webgpu_where_the_browser_has_it(tiny_run, tmp_path):
    model_dir = _export(tiny_run, tmp_path / "export", batch=4)
    want = _sample_png(tiny_run, tmp_path, "--seeds=0-5")
    with browser_lib.Browser(flags=SWIFTSHADER) as browser, \
            web.serving(model_dir, "float32") as (url, _):
        page = browser.open(url + "?seeds=0-5")
        _ready(page)
        used = page.evaluate("window.vitgan.accelerator()")
        timing = page.evaluate("document.getElementById('timing').textContent")
        got = _canvas(page)
    assert used == {"used": "webgpu", "note": "", "webgpu": True}, used
    assert "ms per image (LiteRT.js, WebGPU" in timing
    # GPU arithmetic (float32 shaders) against TensorFlow's CPU kernels, in grey levels.
    diff = np.abs(got.astype(int) - want.astype(int))
    assert diff.max() <= 3 and diff.mean() < 0.3, (diff.max(), diff.mean())
