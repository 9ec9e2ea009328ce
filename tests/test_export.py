import hashlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import ROOT, assert_same_uint8
from vitgan_tf import export, rundir

# Trains a run, exports it, loads it in other processes. One worker runs them all, so the
# module's exported model is written once.
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("export")]

# Runs in a fresh interpreter that imports TensorFlow only, as TF Serving would load it.
TF_ONLY_CLIENT = """
import sys
import numpy as np
import tensorflow as tf
model_dir, z_path, out_path = sys.argv[1:]
model = tf.saved_model.load(model_dir)
z = tf.constant(np.load(z_path))
seeds = tf.constant([7, 3, 7], tf.int64)
out = {
    "default": model.signatures["serving_default"](z=z)["images"].numpy(),
    "truncated": model.signatures["generate_truncated"](
        z=z, truncation_psi=tf.constant(1.0))["images"].numpy(),
    "psi0": model.signatures["generate_truncated"](
        z=z, truncation_psi=tf.constant(0.0))["images"].numpy(),
    "raw": model.signatures["generate_raw"](z=z)["images"].numpy(),
    "seeds": model.signatures["generate_from_seeds"](seeds=seeds)["images"].numpy(),
    "seeds_again": model.signatures["generate_from_seeds"](seeds=seeds[::-1])["images"].numpy(),
}
assert not any(name.startswith("vitgan_tf") for name in sys.modules), "imported vitgan_tf"
np.savez(out_path, **out)
"""


def _digest(folder):
    h = hashlib.sha256()
    for root, _, names in sorted(os.walk(folder)):
        for name in sorted(names):
            with open(os.path.join(root, name), "rb") as f:
                h.update(name.encode() + f.read())
    return h.hexdigest()


@pytest.fixture(scope="module")
def exported(tiny_run):
    base = tiny_run.parent
    written = export.export(str(base / "run"), str(base / "models" / "tiny"))
    _, gan, _, _ = rundir.load_run(str(base / "run"))
    return base, written, gan.ema_generator


def test_saved_model_in_a_tf_only_process_matches_the_ema_generator(exported, tmp_path):
    base, written, generator = exported
    assert written["saved_model"] == str(base / "models" / "tiny" / "1")
    z = np.random.default_rng(1).standard_normal((3, 32)).astype(np.float32)
    np.save(tmp_path / "z.npy", z)
    result = subprocess.run(
        [sys.executable, "-c", TF_ONLY_CLIENT, written["saved_model"], str(tmp_path / "z.npy"),
         str(tmp_path / "out.npz")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = np.load(tmp_path / "out.npz")
    raw = generator(z).numpy()
    expected = np.round(np.clip((raw + 1) * 127.5, 0, 255)).astype(np.uint8)
    assert out["default"].dtype == np.uint8 and out["default"].shape == (3, 16, 16, 3)
    assert_same_uint8(out["default"], expected)
    assert_same_uint8(out["truncated"], expected)
    # A CI run saw 1.6e-6 between the loaded graph and eager execution on two of 2,304 values.
    np.testing.assert_allclose(out["raw"], raw, rtol=1e-5, atol=1e-5)
    # psi = 0 maps every z to w_avg: one image.
    np.testing.assert_array_equal(out["psi0"][0], out["psi0"][1])
    # Seeds: deterministic per seed, whatever the batch order.
    np.testing.assert_array_equal(out["seeds"][0], out["seeds"][2])
    np.testing.assert_array_equal(out["seeds"], out["seeds_again"][::-1])
    assert not np.array_equal(out["seeds"][0], out["seeds"][1])


def test_saved_model_cli_lists_the_documented_signatures(exported):
    _, written, _ = exported
    # The saved_model_cli of the running interpreter's environment, not whatever is on PATH.
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    result = subprocess.run([cli, "show", "--all", "--dir", written["saved_model"]],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    text = result.stdout
    for name in ("serving_default", "generate_truncated", "generate_from_seeds", "generate_raw"):
        assert f"signature_def['{name}']" in text
    block = text.split("signature_def['generate_from_seeds']")[1].split("signature_def[")[0]
    assert "inputs['seeds'] tensor_info:" in block and "DT_INT64" in block
    assert "outputs['images'] tensor_info:" in block and "DT_UINT8" in block
    assert "shape: (-1, 16, 16, 3)" in block
    default = text.split("signature_def['serving_default']")[1].split("signature_def[")[0]
    assert "inputs['z']" in default and "shape: (-1, 32)" in default and "DT_FLOAT" in default


def test_input_shapes_are_checked_at_the_signature(exported):
    # Issue 23 item 14: a loaded signature (like TF Serving) does not check declared shapes;
    # without EnsureShape these failed deep in the graph ("Matrix size-incompatible").
    _, written, _ = exported
    model = tf.saved_model.load(written["saved_model"])
    sig = model.signatures
    for call, name in (
            (lambda: sig["serving_default"](z=tf.zeros([2, 31])), "z"),
            (lambda: sig["generate_raw"](z=tf.zeros([2, 32, 1])), "z"),
            (lambda: sig["generate_truncated"](z=tf.zeros([2, 32]),
                                               truncation_psi=tf.constant([0.5, 0.5])),
             "truncation_psi"),
            (lambda: sig["generate_from_seeds"](seeds=tf.constant([[1, 2]], tf.int64)),
             "seeds")):
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=rf"Shape of tensor {name} \["):
            call()


@pytest.mark.parametrize("variant,tolerance,mean_tolerance", [
    # Bounds from bench/results/tflite_accuracy.json (three tiny runs, 256 samples each, on the
    # displayed range [-1, 1]): float16 at most 0.013, mean 0.0005; dynamic-range int8 weights
    # at most 0.41, mean 0.0125. Trained Fashion-MNIST generators err more (export/README.md).
    ("float32", 1e-4, 1e-4), ("float16", 0.03, 0.002), ("dynamic_range", 0.5, 0.02)])
def test_tflite_variants_run_in_litert_and_match_the_saved_model(exported, variant, tolerance,
                                                                  mean_tolerance):
    from ai_edge_litert.interpreter import Interpreter

    _, written, generator = exported
    interpreter = Interpreter(model_path=written["tflite"][variant])
    z_input = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(z_input["index"], [3, 32])
    interpreter.allocate_tensors()
    z = np.random.default_rng(2).standard_normal((3, 32)).astype(np.float32)
    interpreter.set_tensor(z_input["index"], z)
    interpreter.invoke()
    outputs = {d["name"]: interpreter.get_tensor(d["index"])
               for d in interpreter.get_output_details()}
    raw = next(v for k, v in outputs.items() if v.dtype == np.float32)
    images = next(v for k, v in outputs.items() if v.dtype == np.uint8 and v.ndim == 4)
    valid = next(v for k, v in outputs.items() if v.ndim == 1)
    np.testing.assert_array_equal(valid, [1, 1, 1])
    model = tf.saved_model.load(written["saved_model"])
    reference = model.signatures["generate_raw"](z=tf.constant(z))["images"].numpy()
    assert raw.shape == images.shape == (3, 16, 16, 3)
    # Compared on the displayed range: raw values outside [-1, 1] (unclipped) are clipped by
    # the uint8 output, and int8 weights err most there (one value of 2,304 by 0.17 at -1.56).
    np.testing.assert_allclose(np.clip(raw, -1, 1), np.clip(reference, -1, 1), atol=tolerance)
    assert np.abs(np.clip(raw, -1, 1) - np.clip(reference, -1, 1)).mean() <= mean_tolerance


def _litert(path, z, valid=False):
    """Run a TFLite model as export/README.md shows: its signature runner, by output name."""
    from ai_edge_litert.interpreter import Interpreter

    outputs = Interpreter(model_path=path).get_signature_runner("serving_default")(z=z)
    return outputs["valid"] if valid else outputs["images"]


def test_seed_s_is_the_same_image_in_the_sample_cli_saved_model_and_tflite(exported, tmp_path):
    from PIL import Image

    from vitgan_tf import rng

    base, written, _ = exported
    seeds = [5, 0, 123456789]
    out = tmp_path / "seeds.png"
    result = subprocess.run(
        [sys.executable, "-m", "vitgan_tf.sample", f"--workdir={base / 'run'}",
         f"--seeds={','.join(map(str, seeds))}", f"--out={out}"], cwd=ROOT,
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    grid = np.asarray(Image.open(out))  # 2 columns of 16x16 with 1-pixel gaps
    cli = [grid[1 + r * 17:1 + r * 17 + 16, 1 + c * 17:1 + c * 17 + 16]
           for r, c in ((0, 0), (0, 1), (1, 0))]
    model = tf.saved_model.load(written["saved_model"])
    served = model.signatures["generate_from_seeds"](seeds=tf.constant(seeds, tf.int64))
    z = rng.latents_from_seeds(np.asarray(seeds), 32).numpy()
    lite = _litert(written["tflite"]["float32"], z)
    for i in range(3):
        assert_same_uint8(served["images"].numpy()[i], cli[i])
        assert np.abs(lite[i].astype(int) - cli[i].astype(int)).max() <= 1  # float rounding


def test_non_finite_inputs_are_refused_with_invalid_argument(exported):
    _, written, _ = exported
    model = tf.saved_model.load(written["saved_model"])
    z = np.zeros((2, 32), np.float32)
    z[1, 3] = np.nan
    with pytest.raises(tf.errors.InvalidArgumentError, match="z must be finite"):
        model.signatures["serving_default"](z=tf.constant(z))
    with pytest.raises(tf.errors.InvalidArgumentError, match="truncation_psi must be finite"):
        model.signatures["generate_truncated"](z=tf.zeros([1, 32]),
                                               truncation_psi=tf.constant(np.inf, tf.float32))


@pytest.mark.parametrize("variant", ["float32", "dynamic_range"])
def test_tflite_flags_rows_with_a_non_finite_z_and_blacks_them_out(exported, variant):
    # Issue 23 item 7: TFLite cannot raise; a NaN z gave all-255 images with no sign.
    _, written, _ = exported
    z = np.zeros((3, 32), np.float32)
    z[0] = 0.5
    z[1, 4], z[2, 0] = np.nan, np.inf
    valid = _litert(written["tflite"][variant], z, valid=True)
    images = _litert(written["tflite"][variant], z)
    np.testing.assert_array_equal(valid, [1, 0, 0])
    assert images[1:].max() == 0 and images[0].max() > 0
    good = _litert(written["tflite"][variant], z[:1])
    np.testing.assert_array_equal(images[:1], good)


def test_float16_tflite_gives_finite_images_for_z_zero(exported):
    # pixel_norm's epsilon underflowed in float16: z = 0 gave NaN (all pixels 255).
    _, written, _ = exported
    model = tf.saved_model.load(written["saved_model"])
    z = np.zeros((2, 32), np.float32)
    z[1] = 1e-3
    reference = model.signatures["serving_default"](z=tf.constant(z))["images"].numpy()
    lite = _litert(written["tflite"]["float16"], z)
    assert np.abs(lite.astype(int) - reference.astype(int)).max() <= 8


def test_export_refuses_bad_arguments_before_writing(exported, tmp_path):
    base, _, _ = exported
    with pytest.raises(ValueError, match="truncation_psi"):
        export.export(str(base / "run"), str(tmp_path / "m"), truncation_psi=float("nan"))
    with pytest.raises(ValueError, match="int8"):
        export.export(str(base / "run"), str(tmp_path / "m2"), tflite_variants=["int8"])
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        export.export(str(base / "run"), str(afile))
    assert not (tmp_path / "m").exists() or not any((tmp_path / "m").iterdir())
    assert not (tmp_path / "m2").exists() or not any((tmp_path / "m2").iterdir())


def test_tflite_conversion_uses_builtin_ops_only(exported):
    # The converter is limited to TFLITE_BUILTINS unless --allow_select_tf_ops: a model that
    # needed TF ops would fail to convert instead of silently needing the Flex delegate.
    _, written, _ = exported
    with open(written["tflite"]["float32"], "rb") as f:
        content = f.read()
    assert b"Flex" not in content


def test_second_export_writes_version_2_and_leaves_version_1(exported):
    base, written, _ = exported
    models = base / "models" / "tiny"
    before = _digest(models / "1")
    second = export.export(str(base / "run"), str(models), formats=("saved_model",))
    assert second["saved_model"] == str(models / "2") and second["version"] == 2
    assert _digest(models / "1") == before
    with pytest.raises(FileExistsError, match="never overwritten"):
        export.export(str(base / "run"), str(models), version=1)
    assert _digest(models / "1") == before
    with open(models / "2" / "assets.extra" / "vitgan_tf.json") as f:
        assert json.load(f)["step"] == 4


def test_a_tflite_only_export_takes_its_version(exported, tmp_path):
    # Issue 23 item 12: it took version 1 without a folder; the next full export then wrote
    # SavedModel 1 and stopped at "tflite/v1_float32.tflite exists".
    base, _, _ = exported
    out = tmp_path / "m"
    first = export.export(str(base / "run"), str(out), formats=("tflite",),
                          tflite_variants=("float32",))
    assert first["version"] == 1 and not (out / "1").exists()
    second = export.export(str(base / "run"), str(out), tflite_variants=("float32",))
    assert second["version"] == 2 and (out / "2").is_dir()
    assert sorted(os.listdir(out / "tflite")) == ["v1_float32.tflite", "v1_vitgan_tf.json",
                                                  "v2_float32.tflite", "v2_vitgan_tf.json"]
    # The description beside the TFLite files is the SavedModel's, for the web page.
    description = json.loads((out / "tflite" / "v2_vitgan_tf.json").read_text())
    assert description == json.loads((out / "2" / "assets.extra" / "vitgan_tf.json").read_text())
    assert description["version"] == 2 and description["tflite_batch"] == 0
    with pytest.raises(FileExistsError, match="version 1 exists"):
        export.export(str(base / "run"), str(out), version=1, formats=("saved_model",))


def test_exports_to_one_output_take_turns_and_a_failed_one_leaves_nothing(
        exported, tmp_path, monkeypatch):
    # Issue 23 item 13: two exports at once collided on "1.tmp" and left it behind.
    import threading

    from vitgan_tf.workdir_lock import DirectoryLock

    base, _, _ = exported
    out = tmp_path / "m"
    out.mkdir()
    (out / "1.tmp").mkdir()  # left by an export that was killed
    results = []
    with DirectoryLock(str(out)):  # another export is writing
        worker = threading.Thread(target=lambda: results.append(export.export(
            str(base / "run"), str(out), formats=("saved_model",))))
        worker.start()
        worker.join(timeout=5)
        assert worker.is_alive() and not results  # waiting its turn, nothing written
        (out / "1").mkdir()  # what the other export wrote
    worker.join(timeout=120)
    assert results and results[0]["version"] == 2
    assert sorted(os.listdir(out)) == ["1", "2"]  # the stale 1.tmp is gone too
    # A failure after the SavedModel was written removes all that this export wrote.
    def fail(*args, **kwargs):
        raise tf.errors.ResourceExhaustedError(None, None, "No space left on device")

    monkeypatch.setattr(export, "convert_tflite", fail)
    with pytest.raises(export.ExportError, match="disk full"):
        export.export(str(base / "run"), str(out), tflite_variants=("float32",))
    assert sorted(os.listdir(out)) == ["1", "2", "tflite"] and not os.listdir(out / "tflite")


def test_export_to_a_full_disk_is_one_line_and_leaves_nothing(exported, small_disk):
    # Issue 23 item 11: a ResourceExhaustedError traceback, exit 1.
    base, _, _ = exported
    (small_disk / "filler").write_bytes(b"\0" * 850_000)
    result = subprocess.run(
        [sys.executable, "-m", "vitgan_tf.export", f"--workdir={base / 'run'}",
         f"--output={small_disk / 'm'}"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "disk full" in errors[0] and "--output" in errors[0]
    assert os.listdir(small_disk / "m") == []


def test_cli_prints_signatures_and_rejects_bad_workdirs(exported, tmp_path):
    base, _, _ = exported
    result = subprocess.run(
        [sys.executable, "-m", "vitgan_tf.export", f"--workdir={base / 'run'}",
         f"--output={tmp_path / 'm'}", "--tflite_variants=float32"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "generate_from_seeds: seeds int64" in result.stdout
    assert "TFLite float32" in result.stdout and "MB" in result.stdout
    # A workdir whose run wrote no checkpoint yet.
    (tmp_path / "empty").mkdir()
    with open(base / "run" / "config.json") as f:
        config = json.load(f)
    with open(tmp_path / "empty" / "config.json", "w") as f:
        json.dump(config, f)
    bad = subprocess.run(
        [sys.executable, "-m", "vitgan_tf.export", f"--workdir={tmp_path / 'empty'}",
         f"--output={tmp_path / 'x'}"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "no checkpoint" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "x").exists()
    # A saved model config whose checkpoints do not fit it (say, edited by hand).
    shutil.copytree(base / "run" / "checkpoints", tmp_path / "empty" / "checkpoints")
    config["model"]["g_depth"] = 3
    with open(tmp_path / "empty" / "config.json", "w") as f:
        json.dump(config, f)
    with pytest.raises(ValueError, match="none restores"):
        rundir.load_run(str(tmp_path / "empty"))
    # An unknown model field (a config from another version).
    config["model"]["no_such_field"] = 1
    with open(tmp_path / "empty" / "config.json", "w") as f:
        json.dump(config, f)
    with pytest.raises(ValueError, match="not a valid model config"):
        rundir.load_generator(str(tmp_path / "empty"))


def test_rest_client_against_a_stub_serving_the_saved_model(exported, tmp_path):
    # A stand-in for TF Serving's REST API (columnar "inputs"/"outputs", metadata), answering
    # with the exported SavedModel; the client itself runs unchanged.
    import http.server
    import threading

    sys.path.insert(0, os.path.join(ROOT, "export"))
    import client

    _, written, _ = exported
    model = tf.saved_model.load(written["saved_model"])

    class Handler(http.server.BaseHTTPRequestHandler):
        def _reply(self, payload):
            body = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            assert self.path == "/v1/models/tiny/metadata"
            dims = [{"size": "-1"}, {"size": "32"}]
            self._reply({"metadata": {"signature_def": {"signature_def": {"serving_default": {
                "inputs": {"z": {"dtype": "DT_FLOAT", "tensor_shape": {"dim": dims}}}}}}}})

        def do_POST(self):
            assert self.path == "/v1/models/tiny:predict"
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            fn = model.signatures[request["signature_name"]]
            specs = fn.structured_input_signature[1]
            inputs = {k: tf.constant(v, specs[k].dtype) for k, v in request["inputs"].items()}
            self._reply({"outputs": fn(**inputs)["images"].numpy().tolist()})

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        client.main(["--server", url, "--model", "tiny", "--seeds", "5,6",
                     "--out_dir", str(tmp_path / "seeds")])
        client.main(["--server", url, "--model", "tiny", "--num", "2", "--truncation_psi", "0.5",
                     "--out_dir", str(tmp_path / "z")])
    finally:
        server.shutdown()
    from PIL import Image

    png = np.asarray(Image.open(tmp_path / "seeds" / "seed_5.png"))
    # The request's batch (seeds 5 and 6): a batch of one can round one uint8 value the other
    # way (matmul kernels differ by batch shape; seen on the shared 4-step run).
    expected = model.signatures["generate_from_seeds"](seeds=tf.constant([5, 6], tf.int64))
    np.testing.assert_array_equal(png, expected["images"].numpy()[0])
    assert sorted(os.listdir(tmp_path / "z")) == ["sample_0.png", "sample_1.png"]
