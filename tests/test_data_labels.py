"""Class labels through every labelled source (conditional runs), and the refusals."""

import numpy as np
import pytest
from PIL import Image

from tests.test_data import write_split
from vitgan_tf import config, data


def _pairs(ds):
    images, labels = zip(*ds.as_numpy_iterator())
    return np.stack(images), np.array(labels)


def test_idx_labels_travel_with_their_images(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 28, 28))
    labels = rng.integers(0, 10, 12)
    write_split(tmp_path, "train", images, labels)
    got_images, got_labels = _pairs(data.image_source("fashion_mnist", 28, str(tmp_path),
                                                      with_labels=True))
    np.testing.assert_array_equal(got_labels, labels)
    np.testing.assert_allclose(got_images[..., 0], images / 127.5 - 1, atol=1e-6)
    batch_images, batch_labels = next(iter(data.make_dataset(
        "fashion_mnist", 28, 4, str(tmp_path), channels=3, with_labels=True)))
    assert batch_images.shape == (4, 28, 28, 3) and batch_labels.shape == (4,)
    assert batch_labels.dtype == np.int32
    # Shuffled as pairs: each image still carries its own label.
    for image, label in zip(np.asarray(batch_images), np.asarray(batch_labels)):
        matches = np.flatnonzero(np.all(np.abs(got_images[..., 0] - image[..., 0]) < 1e-6,
                                        axis=(1, 2)))
        assert label in got_labels[matches]
    assert data.class_names("fashion_mnist")[7] == "Sneaker"
    assert data.class_names("mnist") == [str(d) for d in range(10)]


def test_an_idx_label_out_of_range_names_the_file(tmp_path):
    write_split(tmp_path, "train", np.zeros((3, 28, 28)), [1, 12, 3])
    with pytest.raises(data.DataError, match="train-labels-idx1-ubyte.gz: label 12 is out of "
                                             "range"):
        data.image_source("mnist", 28, str(tmp_path), with_labels=True)


def test_digits_labels_are_the_digits():
    images, labels = _pairs(data.image_source("digits", 16, with_labels=True))
    reference_images, reference_labels = data.digits_images(16)
    np.testing.assert_array_equal(labels, reference_labels)
    np.testing.assert_array_equal(images, reference_images)


def _write_class_folder(root, name, n, start=0):
    (root / name).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        # Each image's value encodes its class, so a label can be checked against its image.
        value = 40 * (ord(name[0]) - ord("a")) + 20
        image = Image.fromarray(np.full((10, 12, 3), value, np.uint8))
        image.save(root / name / f"{start + i}.png")


def test_folder_labels_are_sorted_subfolder_names(tmp_path):
    for name, n in (("cat", 3), ("bird", 2), ("dog", 1)):
        _write_class_folder(tmp_path, name, n)
    (tmp_path / "dog" / "deeper").mkdir()
    Image.fromarray(np.full((8, 8, 3), 40 * 3 + 20, np.uint8)).save(
        tmp_path / "dog" / "deeper" / "x.png")  # nested: still a dog
    assert data.class_names("folder", str(tmp_path)) == ["bird", "cat", "dog"]
    images, labels = _pairs(data.image_source("folder", 8, str(tmp_path), with_labels=True))
    assert sorted(labels.tolist()) == [0, 0, 1, 1, 1, 2, 2]
    values = np.round((images[:, 0, 0, 0] + 1) * 127.5)
    expected = {0: 40 * 1 + 20, 1: 40 * 2 + 20, 2: 40 * 3 + 20}  # bird, cat, dog
    assert [expected[label] for label in labels] == values.tolist()


def test_folder_refusals_name_the_problem(tmp_path):
    _write_class_folder(tmp_path, "cat", 2)
    (tmp_path / "empty").mkdir()
    with pytest.raises(data.DataError, match="class folder 'empty' holds no image"):
        data.class_names("folder", str(tmp_path))
    (tmp_path / "empty").rmdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "loose.png")
    with pytest.raises(data.DataError, match="outside class subfolders .e.g. 'loose.png'"):
        data.image_source("folder", 8, str(tmp_path), with_labels=True)
    flat = tmp_path / "flat"
    flat.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(flat / "a.png")
    (tmp_path / "loose.png").unlink()
    # An unlabelled run still takes images anywhere under the folder.
    assert len(list(data.image_source("folder", 8, str(tmp_path)))) == 3


def test_a_folder_with_labels_is_guarded_against_empty_passes(tmp_path):
    _write_class_folder(tmp_path, "a", 2)
    ds = data.make_dataset("folder", 8, 2, str(tmp_path), with_labels=True)
    images, labels = next(iter(ds))
    assert images.shape == (2, 8, 8, 3) and labels.numpy().tolist() == [0, 0]


def test_tfds_labels_and_names():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=6):
        images, labels = _pairs(data.tfds_source("cifar10", None, 16, with_labels=True))
        names = data.class_names("cifar10")
    assert images.shape == (6, 16, 16, 3) and labels.dtype == np.int32
    assert labels.min() >= 0 and labels.max() < 10
    # The names of the dataset's ClassLabel (mock_data's metadata numbers them).
    assert len(names) == 10 and all(isinstance(name, str) for name in names)


@pytest.mark.parametrize("dataset", ["celeb_a", "lsun_bedroom"])
def test_sources_without_labels_are_refused(dataset):
    assert dataset not in config.LABELLED_DATASETS and data.class_names(dataset) is None
    with pytest.raises(data.DataError, match=f"dataset='{dataset}' has no class labels"):
        data.image_source(dataset, 16, with_labels=True)
