"""A class-conditional tiny run end to end: settings, training, config.json, sample grid,
resume, loading, evaluation's draws."""

import json
import types

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tests.helpers import ROOT, assert_same_uint8, randn, tiny_config
from vitgan_tf import config, evaluate, real_stats, rng, rundir, scoring, train_lib
from vitgan_tf.errors import UserError

pytestmark = pytest.mark.integration


def labelled_tiny_images():
    """The tiny run's fixed batch with labels 1, 3, 3, 7 (of the digits' 10 classes)."""
    images = np.clip(randn(4, 16, 16, 3), -1, 1)
    return tf.data.Dataset.from_tensors((images, np.array([1, 3, 3, 7], np.int32))).repeat()


def test_conditional_settings_are_checked_before_any_work():
    with pytest.raises(config.ConfigError, match="--conditional: --dataset=celeb_a has no "
                                                 "class labels"):
        config.TrainConfig(workdir="w", dataset="celeb_a", conditional=True).validate()
    with pytest.raises(config.ConfigError, match="model.num_classes=3: set --conditional"):
        config.TrainConfig(workdir="w", model={"num_classes": 3}).validate()


def test_a_conditional_tiny_run_trains_saves_its_classes_and_resumes(tmp_path):
    workdir = tmp_path / "run"
    cfg = tiny_config(workdir, conditional=True)
    gan = train_lib.train(cfg, dataset=labelled_tiny_images())
    saved = json.loads((workdir / "config.json").read_text())
    assert saved["classes"] == [str(d) for d in range(10)]  # the digits' classes
    assert saved["model"]["num_classes"] == 10 and saved["train"]["conditional"] is True
    # w_avg moved for the classes in the data only.
    moved = np.abs(gan.generator.w_avg.numpy()).sum(axis=1) > 0
    np.testing.assert_array_equal(np.flatnonzero(moved), [1, 3, 7])
    # The grid: one row per class (10), num_samples // 10 columns, at least one.
    grid = np.asarray(Image.open(workdir / "samples" / "latest.png"))
    assert grid.shape[:2] == (10 * 17 + 1, 1 * 17 + 1)
    # Resume, with the classes and their number from config.json and the data.
    resumed = train_lib.train(tiny_config(workdir, conditional=True, total_steps=6),
                              dataset=labelled_tiny_images())
    assert resumed.g_optimizer.iterations.numpy() == 6
    assert rundir.load_classes(str(workdir)) == saved["classes"]
    # The same directory without --conditional is another model: refused, saying so (and no
    # --model.num_classes flag, which the user never typed).
    with pytest.raises(Exception, match="is conditional on 10 classes; resuming it needs "
                                        "--conditional"):
        train_lib.train(tiny_config(workdir, total_steps=8), dataset=labelled_tiny_images())
    # The EMA generator loads alone, draws by class, and evaluation draws every class.
    _, generator, _, step = rundir.load_generator(str(workdir))
    assert step == 6 and generator.vitgan_config.num_classes == 10
    z = np.repeat(randn(1, 32), 2, axis=0)
    images = np.asarray(generator(z, labels=np.array([1, 7])))
    assert np.abs(images[0] - images[1]).max() > 1e-4
    batches = list(scoring.generated_batches(generator, 12, 5))
    assert [len(b) for b in batches] == [5, 5, 2]
    # Sample i is seed i of class i mod 10.
    first = np.asarray(generator(rng.latents_from_seeds([6], 32), labels=np.array([6])))
    np.testing.assert_allclose(batches[1][1:2], first, rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("cond") / "run"
    train_lib.train(tiny_config(workdir, conditional=True), dataset=labelled_tiny_images())
    return workdir


def test_sample_grids_by_class(conditional_run, tmp_path):
    from tests.helpers import run_cli

    out = tmp_path / "c.png"
    result = run_cli("sample", f"--workdir={conditional_run}", "--classes=1,3,7", "--num=2",
                     f"--out={out}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert np.asarray(Image.open(out)).shape[:2] == (3 * 17 + 1, 2 * 17 + 1)
    from vitgan_tf import sample

    _, generator, _, _ = rundir.load_generator(str(conditional_run))
    grid = sample.sample_grid(generator, 2, classes=[1, 3, 7])
    assert_same_uint8(np.asarray(Image.open(out)), grid)  # drawn in another process
    # Row 2 column 1 is (seed 1, class 7).
    tile = grid[2 * 17 + 1:3 * 17, 17 + 1:2 * 17]
    expected = sample.seed_images(generator, [1], labels=[7])[0]
    # (Batches of other sizes round differently in the last float bits: one grey level.)
    np.testing.assert_allclose(tile, np.round((np.clip(expected, -1, 1) + 1) * 127.5), atol=1)
    # Without --num: every class, 8 images per row.
    result = run_cli("sample", f"--workdir={conditional_run}", f"--out={out}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert np.asarray(Image.open(out)).shape[:2] == (10 * 17 + 1, 8 * 17 + 1)
    # Bad class ids: the parser's errors, in-process (the CLI prints a UserError as its last
    # line and exits 2 the same way for every flag: tests/test_rundir.py runs that path).
    names = rundir.load_classes(str(conditional_run))
    for flags_, message in (({"classes": "3-12"}, "--classes='3-12': expected class ids in "
                             "[0, 10)"), ({"class": -1}, "--class='-1': expected class ids")):
        with pytest.raises(UserError) as caught:
            sample.grid_classes(_Flags(**flags_), names)
        assert str(caught.value).startswith(message), caught.value


class _Flags:
    """The two flags of `sample.grid_classes`, as absl's FlagValues gives them."""

    def __init__(self, classes="", **one):
        self.classes, self._one = classes, one.get("class")

    def __getitem__(self, name):
        assert name == "class"
        return types.SimpleNamespace(value=self._one)


def test_class_flags_on_an_unconditional_run_are_refused(tiny_run):
    from vitgan_tf import sample

    names = rundir.load_classes(str(tiny_run))
    assert names is None
    for flags_, flag in (({"class": 3}, "--class"), ({"classes": "1,2"}, "--classes")):
        with pytest.raises(UserError, match=f"^{flag}: the run is not conditional"):
            sample.grid_classes(_Flags(**flags_), names)
    # evaluate refuses a conditional metric before it extracts anything; its CLI names the flag.
    with pytest.raises(UserError) as caught:
        evaluate.run(str(tiny_run), types.SimpleNamespace(name="unused"), ["fid", "ifd"])
    assert caught.value.render(as_flag=True) == (
        "--metrics='ifd': intra-class FD needs a conditional run (trained with --conditional).")


def test_class_accuracy_against_numpy():
    labels = np.arange(12) % 3
    # Class 0 (samples 0, 3, 6, 9) right 4 times of 4, class 1 (1, 4, 7, 10) 2 of 4, class 2
    # (2, 5, 8, 11) 1 of 4.
    predicted = np.array([0, 1, 2, 0, 1, 0, 0, 0, 1, 0, 2, 0])
    fake = {"logits": np.eye(3)[predicted] * 5.0, "pool": np.zeros((12, 2)), "labels": labels}
    result = scoring.METRICS["acc"](fake, None, scoring.Settings())
    assert result["class_accuracy"] == pytest.approx(7 / 12)
    assert result["class_accuracy_per_class"] == [1.0, 0.5, 0.25]
    with pytest.raises(UserError, match="metrics=.acc.: class accuracy needs a "
                                                 "conditional run"):
        scoring.METRICS["acc"]({"logits": fake["logits"]}, None, scoring.Settings())


def test_intra_class_fd_against_numpy_and_its_property():
    from scipy import linalg

    def fd(a, b):  # the textbook formula, scipy's sqrtm
        s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
        root = linalg.sqrtm(s1 @ s2).real
        return np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(s1 + s2 - 2 * root)

    rng_np = np.random.default_rng(0)
    centers = rng_np.normal(0, 3, (3, 4))
    real_labels = np.repeat(np.arange(3), 200)
    real_pool = centers[real_labels] + rng_np.normal(size=(600, 4))
    real = real_stats.class_statistics(real_pool, real_labels, 3)
    np.testing.assert_array_equal(real["class_counts"], [200, 200, 200])
    labels = np.arange(300) % 3
    pool = centers[labels] + 1.2 * rng_np.normal(size=(300, 4))
    result = scoring.METRICS["ifd"]({"pool": pool, "labels": labels}, real, scoring.Settings())
    expected = [fd(pool[labels == c], real_pool[real_labels == c]) for c in range(3)]
    np.testing.assert_allclose(result["ifd_per_class"], expected, rtol=1e-6)
    assert result["ifd"] == pytest.approx(np.mean(expected))
    # The property that justifies it: a generator that draws the wrong class has the same
    # pooled FD (the same images) and a far larger intra-class FD.
    wrong = scoring.METRICS["ifd"]({"pool": pool, "labels": (labels + 1) % 3}, real,
                                    scoring.Settings())
    assert wrong["ifd"] > 10 * result["ifd"]
    # A class with under 2 real (or generated) images is not scored.
    sparse = real_stats.class_statistics(real_pool[:201], real_labels[:201], 3)
    result = scoring.METRICS["ifd"]({"pool": pool, "labels": labels}, sparse,
                                     scoring.Settings())
    assert result["ifd_per_class"][1:] == [None, None]
    with pytest.raises(UserError, match="metrics=.ifd.: intra-class FD needs a "
                                                 "conditional run"):
        scoring.METRICS["ifd"]({"pool": pool}, real, scoring.Settings())


def test_evaluate_scores_each_sample_against_the_class_it_was_drawn_for(conditional_run):
    # A stand-in classifier that "recognizes" the label each batch was generated with (read
    # off the generator call): class accuracy is 1 exactly when evaluate scores every sample
    # against the label it was drawn with.
    _, generator, _, _ = rundir.load_generator(str(conditional_run))
    used = []

    class Recording:
        vitgan_config = generator.vitgan_config

        def __call__(self, z, truncation_psi=1.0, labels=None):
            used.append(np.asarray(labels))
            return generator(z, truncation_psi=truncation_psi, labels=labels)

    class Recognizer:
        name = "recognizer"

        def __call__(self, images):
            labels = used[len(seen)]
            seen.append(labels)
            return {"pool": np.asarray(images).reshape(len(images), -1)[:, :4],
                    "logits": np.eye(10)[labels]}

    seen = []
    result = scoring.score(Recording(), None, Recognizer(), ["acc"],
                               scoring.Settings(num_samples=25, batch_size=10))
    assert result["class_accuracy"] == 1.0
    assert sorted(np.concatenate(used).tolist()) == sorted(np.arange(25) % 10)


def test_evaluate_reports_class_accuracy_and_the_classifiers_own_as_its_floor(
        conditional_run, tmp_path):
    # The run re-pointed at Fashion-MNIST-format files (random images and labels) so that the
    # report carries the real-data floor: the classifier's accuracy on real training images
    # against their true labels.
    import shutil

    from tests.test_data import write_split
    from vitgan_tf import data as data_lib
    from vitgan_tf import features

    rng_np = np.random.default_rng(4)
    train_images, train_labels = rng_np.integers(0, 256, (40, 28, 28)), rng_np.integers(0, 10, 40)
    write_split(tmp_path, "train", train_images, train_labels)
    test_labels = rng_np.integers(0, 10, 30)
    write_split(tmp_path, "test", rng_np.integers(0, 256, (30, 28, 28)), test_labels)
    run_dir = tmp_path / "run"
    shutil.copytree(conditional_run, run_dir)
    saved = json.loads((run_dir / "config.json").read_text())
    saved["train"].update(dataset="fashion_mnist", data_dir=str(tmp_path))
    (run_dir / "config.json").write_text(json.dumps(saved))
    extractor = features.FashionClassifier()
    report, _ = evaluate.run(str(run_dir), extractor, ["fid", "acc", "ifd"], scoring.Settings(
        num_samples=40, real_samples=30, batch_size=10))
    assert 0 <= report["class_accuracy"] <= 1
    assert len(report["class_accuracy_per_class"]) == 10
    # Intra-class FD: a class is scored where the test split has 2 or more of its images (the
    # 40 samples hold 4 of every class); the floor scores real training images by their labels.
    test_counts = np.bincount(test_labels, minlength=10)
    assert [fd is not None for fd in report["ifd_per_class"]] == list(test_counts >= 2)
    assert report["ifd"] == pytest.approx(np.mean([f for f in report["ifd_per_class"] if f]))
    assert len(report["real_floor_ifd_per_class"]) == 10 and report["real_floor_ifd"] > 0
    # Every training image, so the order of the shuffle does not matter.
    images = data_lib.idx_geometry(train_images.astype(np.uint8), 16)
    predicted = extractor(np.repeat(images, 3, axis=-1))["logits"].argmax(1)
    assert report["real_floor_class_accuracy"] == pytest.approx(
        np.mean(predicted == train_labels))


def test_export_takes_class_id_and_gives_the_same_image_per_seed_and_class(
        conditional_run, tmp_path, monkeypatch):
    from ai_edge_litert.interpreter import Interpreter

    from vitgan_tf import export, sample

    written = export.export(str(conditional_run), str(tmp_path / "m"),
                            tflite_variants=("float32",))
    meta = json.loads((tmp_path / "m" / "1" / "assets.extra" / "vitgan_tf.json").read_text())
    assert meta["classes"] == [str(d) for d in range(10)]
    model = tf.saved_model.load(written["saved_model"])
    for name, inputs in (("serving_default", ["class_id", "z"]),
                         ("generate_truncated", ["class_id", "truncation_psi", "z"]),
                         ("generate_from_seeds", ["class_id", "seeds"]),
                         ("generate_raw", ["class_id", "z"])):
        assert sorted(model.signatures[name].structured_input_signature[1]) == inputs
    _, generator, _, _ = rundir.load_generator(str(conditional_run))
    seeds, classes = [5, 0, 5, 9], [1, 7, 7, 3]
    expected = sample.seed_images(generator, seeds, labels=classes)
    served = model.signatures["generate_from_seeds"](
        seeds=tf.constant(seeds, tf.int64), class_id=tf.constant(classes, tf.int32))["images"]
    as_uint8 = np.round((np.clip(expected, -1, 1) + 1) * 127.5)
    np.testing.assert_allclose(served.numpy(), as_uint8, atol=1)
    assert np.abs(expected[0] - expected[2]).max() > 1e-3  # seed 5: class 1 is not class 7
    z = rng.latents_from_seeds(np.asarray(seeds), 32).numpy()
    raw = model.signatures["generate_raw"](z=z, class_id=tf.constant(classes))["images"]
    np.testing.assert_allclose(raw.numpy(), expected, rtol=1e-4, atol=1e-4)
    # psi 0: every image of a class is that class's mean w, and the classes differ.
    psi0 = model.signatures["generate_truncated"](
        z=z, class_id=tf.constant([7, 7, 3, 3]), truncation_psi=tf.constant(0.0))["images"]
    psi0 = psi0.numpy().astype(int)
    np.testing.assert_array_equal(psi0[0], psi0[1])
    np.testing.assert_array_equal(psi0[2], psi0[3])
    assert np.abs(psi0[0] - psi0[2]).max() > 0
    # Refused requests name the input.
    for class_id, message in (([1, 2, 10, 3], r"class_id must be in \[0, 10\)"),
                              ([1, -1, 0, 3], r"class_id must be in \[0, 10\)"),
                              ([1, 2], "class_id must have one entry per image")):
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            model.signatures["serving_default"](z=z, class_id=tf.constant(class_id))
    # TFLite: the same images; a class out of range is flagged and blacked out, not refused.
    run = Interpreter(model_path=written["tflite"]["float32"]).get_signature_runner(
        "serving_default")
    lite = run(z=z, class_id=np.asarray(classes, np.int32))
    np.testing.assert_array_equal(lite["valid"], [1, 1, 1, 1])
    np.testing.assert_allclose(lite["raw"], expected, rtol=1e-4, atol=1e-4)
    assert np.abs(lite["images"].astype(int) - served.numpy().astype(int)).max() <= 1
    lite = run(z=z, class_id=np.asarray([1, 10, -3, 3], np.int32))
    np.testing.assert_array_equal(lite["valid"], [1, 0, 0, 1])
    assert lite["images"][1:3].max() == 0 and lite["images"][0].max() > 0
    # A class_id of another length than z: every row flagged (the interpreter said only
    # "XNNPack delegate failed to reshape"); the runner is made anew for each shape.
    for class_id in ([1, 2], [1, 2, 3, 4, 5], []):
        lite = Interpreter(model_path=written["tflite"]["float32"]).get_signature_runner(
            "serving_default")(z=z, class_id=np.asarray(class_id, np.int32))
        np.testing.assert_array_equal(lite["valid"], [0, 0, 0, 0])
        assert lite["images"].max() == 0
    # The REST client asks for a class with --class_id (TF Serving's part played by the
    # SavedModel itself).
    import os
    import sys

    sys.path.insert(0, os.path.join(ROOT, "export"))
    import client

    requests = []

    def predict(server, name, signature, inputs, version=None):
        requests.append((signature, inputs))
        fn = model.signatures[signature]
        specs = fn.structured_input_signature[1]
        return fn(**{k: tf.constant(v, specs[k].dtype) for k, v in inputs.items()})["images"]

    monkeypatch.setattr(client, "predict", predict)
    client.main(["--model", "m", "--seeds", "5,9", "--class_id", "7",
                 "--out_dir", str(tmp_path / "png")])
    assert requests == [("generate_from_seeds", {"seeds": [5, 9], "class_id": [7, 7]})]
    png = np.asarray(Image.open(tmp_path / "png" / "seed_5_class_7.png"))
    np.testing.assert_allclose(png, served.numpy()[2].squeeze(-1) if png.ndim == 2
                               else served.numpy()[2], atol=1)
