"""IDX datasets (Fashion-MNIST, MNIST): the reader, its errors and the 28 -> S geometry, on
small IDX files the tests write themselves."""

import gzip
import os
import struct

import numpy as np
import pytest

from vitgan_tf import config, data


def write_idx(path, array, compress=True):
    array = np.asarray(array, np.uint8)
    raw = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    raw += array.tobytes()
    with (gzip.open if compress else open)(path, "wb") as f:
        f.write(raw)


def write_split(folder, split, images, labels):
    image_file, label_file = data.IDX_FILES[split]
    write_idx(folder / image_file, images)
    write_idx(folder / label_file, labels)


@pytest.fixture
def idx_dir(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (("train", 12), ("test", 5)):
        write_split(tmp_path, split, rng.integers(0, 256, (n, 28, 28)), rng.integers(0, 10, n))
    return tmp_path


def test_read_idx_round_trips_shape_and_bytes(tmp_path):
    array = np.random.default_rng(1).integers(0, 256, (3, 4, 5)).astype(np.uint8)
    for compress in (True, False):
        path = tmp_path / ("a.gz" if compress else "a")
        write_idx(path, array, compress)
        got = data.read_idx(str(path))
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, array)


def test_load_idx_reads_images_and_labels(idx_dir):
    images, labels = data.load_idx("fashion_mnist", str(idx_dir), "test")
    assert images.shape == (5, 28, 28) and labels.shape == (5,)
    rng = np.random.default_rng(0)
    rng.integers(0, 256, (12, 28, 28)), rng.integers(0, 10, 12)
    np.testing.assert_array_equal(images, rng.integers(0, 256, (5, 28, 28)))


@pytest.mark.parametrize("damage", ["truncated_gzip", "short_body", "bad_magic", "empty"])
def test_a_damaged_idx_file_gives_a_clear_error_naming_it(idx_dir, damage):
    path = idx_dir / data.IDX_FILES["train"][0]
    raw = gzip.decompress(path.read_bytes())
    if damage == "truncated_gzip":
        path.write_bytes(path.read_bytes()[:200])
    elif damage == "short_body":
        path.write_bytes(gzip.compress(raw[:-100]))
    elif damage == "bad_magic":
        path.write_bytes(gzip.compress(b"\x00\x00\x09\x03" + raw[4:]))
    else:
        path.write_bytes(b"")
    with pytest.raises(data.DataError, match=str(path)):
        data.load_idx("fashion_mnist", str(idx_dir))


def test_a_missing_file_names_it_and_the_apt_package(tmp_path):
    with pytest.raises(data.DataError, match="train-images-idx3-ubyte.gz.*dataset-fashion-mnist"):
        data.load_idx("fashion_mnist", str(tmp_path))
    with pytest.raises(data.DataError, match="data_dir="):
        data.load_idx("mnist", None)


def test_images_and_labels_that_disagree_are_refused(tmp_path):
    write_split(tmp_path, "train", np.zeros((4, 28, 28)), np.zeros(3))
    with pytest.raises(data.DataError, match="do not match"):
        data.load_idx("mnist", str(tmp_path))


def test_geometry_keeps_28_pads_32_and_resizes_others():
    images = np.random.default_rng(2).integers(0, 256, (2, 28, 28)).astype(np.uint8)
    x28 = data.idx_geometry(images, 28)
    np.testing.assert_allclose(x28[..., 0], images / 127.5 - 1.0, atol=1e-6)
    x32 = data.idx_geometry(images, 32)
    assert x32.shape == (2, 32, 32, 1)
    np.testing.assert_array_equal(x32[:, 2:30, 2:30], x28)  # every pixel exact
    border = np.ones((32, 32), bool)
    border[2:30, 2:30] = False
    assert np.all(x32[:, border] == -1.0)  # background
    x16 = data.idx_geometry(images, 16)
    assert x16.shape == (2, 16, 16, 1) and x16.min() >= -1 and x16.max() <= 1


def test_make_dataset_batches_idx_images_for_gray_and_rgb_models(idx_dir):
    gray = next(iter(data.make_dataset("fashion_mnist", 28, 4, str(idx_dir), channels=1)))
    assert gray.shape == (4, 28, 28, 1)
    rgb = next(iter(data.make_dataset("mnist", 32, 4, str(idx_dir), channels=3)))
    assert rgb.shape == (4, 32, 32, 3)
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])
    test = np.stack(list(data.image_source("fashion_mnist", 28, str(idx_dir), "test")))
    assert test.shape == (5, 28, 28, 1)


def _write_pngs(folder, n):
    from PIL import Image

    rng = np.random.default_rng(3)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (20, 20, 3), np.uint8)).save(folder / f"{i}.png")


def test_a_folder_whose_images_vanish_mid_run_fails_instead_of_hanging(tmp_path):
    import tensorflow as tf

    _write_pngs(tmp_path, 3)
    ds = data.make_dataset("folder", 16, 2, str(tmp_path), shuffle_buffer=4)
    it = iter(ds)
    assert next(it).shape == (2, 16, 16, 3)
    for path in tmp_path.glob("*.png"):
        path.unlink()
    with pytest.raises(tf.errors.InvalidArgumentError, match=data.EMPTY_PASS_MESSAGE):
        for _ in range(10):  # the shuffle buffer may still hold a few images
            next(it)


VANISH_SCRIPT = """
import pathlib, sys
import tensorflow as tf
from vitgan_tf import data
folder = pathlib.Path(sys.argv[1])
it = iter(data.make_dataset("folder", 16, 2, str(folder), shuffle_buffer=4))
next(it)
for path in sorted(folder.glob("*.png"))[::2]:  # half the files vanish
    path.unlink()
for _ in range(8 * 100 // 2):  # 8 passes over the 100 left
    next(it)
for path in folder.glob("*.png"):  # then all of them
    path.unlink()
try:
    for _ in range(300):
        next(it)
except tf.errors.InvalidArgumentError:
    print("stopped", flush=True)
# The iterator is left alive at interpreter exit, as after a failed fit: with a Python function
# in the pipeline that could deadlock the shutdown (a reader thread waiting for the GIL).
"""


def test_vanished_images_do_not_flood_the_log_and_the_process_exits(tmp_path):
    # A warning per missing file per pass would be 100 x 8 lines here (about 2,600 before the
    # error of a real run). Files are checked one chunk (64) at a time: only those removed
    # while their chunk (or the next, already started) is read reach ReadFile.
    import subprocess
    import sys

    _write_pngs(tmp_path, 200)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, "-c", VANISH_SCRIPT, str(tmp_path)], cwd=root,
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0"})
    assert result.returncode == 0 and result.stdout.strip() == "stopped", result.stderr[-2000:]
    noise = [line for line in result.stderr.splitlines() if "NotFound" in line
             or "No such file" in line]
    assert len(noise) <= 2 * 64 + 2 * 64, len(noise)  # two chunks, at each of the 2 deletions


def test_the_folder_pipeline_runs_no_python_function(tmp_path):
    # The cause of a run that printed its data error and never exited: a Python function in a
    # tf.data thread, waiting for the GIL that the iterator's destructor held.
    from tensorflow.core.framework import graph_pb2

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        _write_pngs(tmp_path / name, 2)
    for labelled in (False, True):
        ds = data.make_dataset("folder", 16, 2, str(tmp_path), with_labels=labelled)
        graph = graph_pb2.GraphDef.FromString(ds._as_serialized_graph().numpy())
        ops = {node.op for node in graph.node}
        ops |= {node.op for f in graph.library.function for node in f.node_def}
        assert "MatchingFiles" in ops and not {op for op in ops if "PyFunc" in op}, ops


def test_a_folder_of_truncated_jpegs_fails_instead_of_training_on_nothing(tmp_path):
    import tensorflow as tf
    from PIL import Image

    rng = np.random.default_rng(4)
    for i in range(3):
        path = tmp_path / f"{i}.jpg"
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), np.uint8)).save(path, quality=90)
        raw = path.read_bytes()
        path.write_bytes(raw[:len(raw) * 6 // 10])  # the header parses, the body is cut
    ds = data.make_dataset("folder", 16, 2, str(tmp_path), shuffle_buffer=4)
    with pytest.raises(tf.errors.InvalidArgumentError, match=data.EMPTY_PASS_MESSAGE):
        next(iter(ds))


# The IDX reader and the fashion preset's shapes have default tests of their own; training the
# preset on IDX files end to end runs with -m slow.
@pytest.mark.integration
@pytest.mark.slow
def test_the_fashion_preset_trains_on_idx_files(idx_dir, tmp_path):
    from vitgan_tf import rundir, train_lib

    cfg = config.TrainConfig(workdir=str(tmp_path / "run"), dataset="fashion_mnist",
                             data_dir=str(idx_dir), preset="fashion", batch_size=4,
                             total_steps=2, log_every=2, checkpoint_every=2, sample_every=2,
                             num_samples=4, bcr_real=0, bcr_fake=0, augment_policy="")
    gan = train_lib.train(cfg)
    assert gan.g_optimizer.iterations.numpy() == 2
    _, generator, _, _ = rundir.load_generator(cfg.workdir)
    assert generator(np.zeros((1, 128), np.float32)).shape == (1, 28, 28, 1)


def test_tfds_source_reads_a_prepared_dataset_with_seeded_file_order():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=6):
        images = np.stack(list(data.tfds_source("cifar10", None, 16, seed=3)
                               .take(4).as_numpy_iterator()))
        batch = next(iter(data.make_dataset("cifar10", 16, 2, channels=1)))
    assert images.shape == (4, 16, 16, 3) and images.min() >= -1 and images.max() <= 1
    assert batch.shape == (2, 16, 16, 1)
