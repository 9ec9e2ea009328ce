"""Input pipelines: tfds datasets, image folders, IDX files (Fashion-MNIST, MNIST) and the
embedded digits demo.

Every source yields float32 (H, W, C) images in [-1, 1], C = 3 or 1 (IDX sources are
grayscale), or, with `with_labels=True` (class-conditional runs), (image, int32 class id)
pairs; `class_names` gives the names of the ids. `make_dataset` converts to the model's
channels, shuffles, repeats, batches with the global batch and prefetches.
"""

import gzip
import os
import struct
import zlib

import numpy as np
import tensorflow as tf
from absl import logging

from vitgan_tf.config import DATASET_REGISTRY, DATASETS, LABELLED_DATASETS
from vitgan_tf.errors import UserError

# Views of config.DATASET_REGISTRY, the one list of datasets.
TFDS_DATASETS = {name: info.tfds_name for name, info in DATASET_REGISTRY.items()
                 if info.kind == "tfds"}
# IDX datasets: default folder (Debian's package for Fashion-MNIST) and the hint.
IDX_DATASETS = {name: (info.idx_dir or None, info.hint)
                for name, info in DATASET_REGISTRY.items() if info.kind == "idx"}
IDX_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
             "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
IDX_NATIVE_SIZE = 28
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif")
CELEBA_CROP = 108  # centre crop of the 178x218 aligned faces before resizing (DCGAN practice)
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot")
DIGIT_CLASSES = tuple(str(d) for d in range(10))


class DataError(UserError):
    """A data source that cannot be read, with what to do about it."""


def centre_crop_resize(image, size, crop=None):
    """Centre-crop to a square (of side `crop`, or the shorter side) and resize to `size`."""
    shape = tf.shape(image)
    side = tf.minimum(shape[0], shape[1]) if crop is None else tf.constant(crop)
    top, left = (shape[0] - side) // 2, (shape[1] - side) // 2
    image = image[top:top + side, left:left + side]
    image = tf.image.resize(tf.cast(image, tf.float32), (size, size), antialias=True)
    return tf.clip_by_value(image / 127.5 - 1.0, -1.0, 1.0)


def digits_images(image_size):
    """scikit-learn's 1,797 handwritten 8x8 digits, upscaled to `image_size`, as RGB in [-1, 1].

    Returns (images, labels) as NumPy arrays.
    """
    from sklearn.datasets import load_digits

    data = load_digits()
    images = data.images.astype(np.float32)[..., None] / 16.0  # ink in [0, 1]
    images = tf.image.resize(images, (image_size, image_size), method="bilinear").numpy()
    images = np.repeat(np.clip(images, 0.0, 1.0) * 2.0 - 1.0, 3, axis=-1)
    return images.astype(np.float32), data.target


def digits_source(image_size, with_labels=False):
    images, labels = digits_images(image_size)
    return _slices(images, labels if with_labels else None)


def _slices(images, labels=None):
    """A dataset of images, or of (image, int32 label) pairs."""
    if labels is None:
        return tf.data.Dataset.from_tensor_slices(images)
    return tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int32)))


def scan_folder(folder, labelled=False, verify=True):
    """One walk of an image folder: (files, labels, class_names).

    files: the image files under `folder` (recursive, sorted) whose header Pillow can read
    (`verify`; the others are logged and left out). labelled: the folder holds one subfolder
    per class; class_names are the subfolders, sorted (ids 0, 1, ...), and labels the class id
    of each file; DataError names the file or folder for images directly in `folder` or a class
    folder without images. Unlabelled: labels and class_names are None.
    """
    from PIL import Image

    if not folder or not os.path.isdir(folder):
        raise DataError(" is not a folder; the folder dataset reads a folder of images"
                        + (" with one subfolder per class" if labelled else "")
                        + f" ({', '.join(IMAGE_EXTENSIONS)}).", argument="data_dir",
                        value=folder)
    candidates = sorted(
        os.path.join(root, name) for root, _, names in os.walk(folder) for name in names
        if name.lower().endswith(IMAGE_EXTENSIONS))
    class_names = labels = None
    if labelled:
        def top(path):
            return os.path.relpath(path, folder).split(os.sep)[0]

        loose = [f for f in candidates if os.path.dirname(f) == os.path.normpath(folder)]
        if loose:
            raise DataError(f" has images outside class subfolders (e.g. "
                            f"{os.path.basename(loose[0])!r}); a conditional run needs every "
                            "image in a subfolder named after its class.", argument="data_dir",
                            value=folder)
        class_names = sorted(name for name in os.listdir(folder)
                             if os.path.isdir(os.path.join(folder, name)))
        if not class_names:
            raise DataError(" has no subfolders; a conditional run needs one subfolder of "
                            "images per class.", argument="data_dir", value=folder)
        used = {top(f) for f in candidates}
        for name in class_names:
            if name not in used:
                raise DataError(f": class folder {name!r} holds no image; every class needs "
                                "images (remove the folder or add images).",
                                argument="data_dir", value=folder)
    files, bad = [], []
    for path in candidates:
        if not verify:
            files.append(path)
            continue
        try:
            with Image.open(path) as image:
                image.verify()
            files.append(path)
        except Exception:  # noqa: BLE001 - any unreadable file is skipped, never fatal
            bad.append(path)
    if bad:
        logging.warning("Skipped %d unreadable image files in %s, e.g. %s", len(bad), folder,
                        bad[:3])
    if not files:
        raise DataError(
            f": no readable images there (looked for {', '.join(IMAGE_EXTENSIONS)} "
            f"recursively; {len(bad)} unreadable).", argument="data_dir", value=folder)
    if labelled:
        ids = {name: i for i, name in enumerate(class_names)}
        labels = [ids[top(f)] for f in files]
    logging.info("Found %d images in %s", len(files), folder)
    return files, labels, class_names


def list_image_files(folder):
    """Image files under `folder` (recursive) whose header Pillow can read; logs the others."""
    return scan_folder(folder)[0]


def folder_classes(folder):
    """The class names of a labelled image folder: its subfolders, sorted (ids 0, 1, ...);
    `scan_folder`'s checks, without reading the images."""
    return scan_folder(folder, labelled=True, verify=False)[2]


def present_files(files):
    """A dataset of one shuffled pass over those of `files` that still exist when they come up:
    the pass is cut into chunks of max(64, len(files) / 64) files, and each chunk keeps the
    files that a listing of its folders (MatchingFiles, a graph op) still shows when the
    chunk starts. A new pass (under `repeat`) shuffles and looks again.

    A file removed during a run is skipped before ReadFile sees it (its kernel logs a warning
    per missing file per pass: thousands of lines that buried the one error that matters);
    only files removed while their chunk is being read still reach it, at most one chunk. The
    check is no Python function: a `numpy_function` here kept the process from exiting after a
    data error (the iterator's destructor, holding the GIL, waited for a reader thread that
    waited for the GIL). Listing a folder of 20,000 files takes about 20 ms; with 64 listings
    per pass that is well under a millisecond per image.
    """
    chunk = max(64, -(-len(files) // 64))

    def keep_present(paths):
        folders, _ = tf.unique(tf.strings.regex_replace(paths, r"/[^/]*$", ""))
        escaped = tf.strings.regex_replace(folders, r"([\[\]*?\\])", r"\\\1")
        found = tf.io.matching_files(escaped + "/*")
        present = tf.sets.intersection(paths[None], found[None]).values
        return tf.data.Dataset.from_tensor_slices(present)

    ds = tf.data.Dataset.from_tensor_slices(files).shuffle(len(files),
                                                            reshuffle_each_iteration=True)
    return ds.batch(chunk).flat_map(keep_present)


def folder_source(folder, image_size, with_labels=False):
    files, labels, _ = scan_folder(folder, labelled=with_labels)

    def load(path, *label):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        image = centre_crop_resize(image, image_size)
        return (image, *label) if label else image

    ds = present_files(files)
    if with_labels:
        table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(files), tf.constant(labels,
                                                                               tf.int32)), -1)
        ds = ds.map(lambda path: (path, table.lookup(path)))
    # Files that fail to read or decode are skipped without a log line of ours;
    # `scan_folder` reported those unreadable at the start, and a pass with no image left
    # stops the run (`repeat_guarded`).
    return ds.map(load, num_parallel_calls=tf.data.AUTOTUNE).ignore_errors(log_warning=False)


EMPTY_PASS_MESSAGE = "a full pass over the data gave no readable image"


def repeat_guarded(one_pass, what):
    """`one_pass` repeated forever, failing instead of hanging when a whole pass yields
    nothing (every file vanished or is unreadable: `ignore_errors` would loop on empty passes
    forever). The error is an InvalidArgumentError whose message contains EMPTY_PASS_MESSAGE
    and `what`."""
    blank = tf.nest.map_structure(lambda spec: tf.zeros([d or 1 for d in spec.shape],
                                                        spec.dtype), one_pass.element_spec)
    marked = one_pass.map(lambda *x: (x[0] if len(x) == 1 else x, True)).concatenate(
        tf.data.Dataset.from_tensors((blank, False)))

    def guard(seen, item):
        # seen: has the current pass given an image yet; each end-of-pass marker checks it and
        # resets it.
        image, real = item
        check = tf.debugging.Assert(tf.logical_or(real, seen), [f"{EMPTY_PASS_MESSAGE} ({what})"])
        with tf.control_dependencies([check]):
            real = tf.identity(real)
        return real, (image, real)

    guarded = marked.repeat().scan(tf.constant(False), guard)
    return guarded.filter(lambda image, real: real).map(lambda image, real: image)


def read_idx(path):
    """An IDX file (gzip-compressed or not) as a uint8 NumPy array of its declared shape.

    Raises `DataError` naming the file for a missing, truncated or corrupt file.
    """
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file.")
    try:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"{path}: cannot be read ({error}); the file is truncated or corrupt, "
                        "get it again.") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path}: not an IDX file of unsigned bytes (bad magic number).")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim < 1 or len(raw) < header:
        raise DataError(f"{path}: truncated IDX header.")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        raise DataError(f"{path}: holds {len(raw) - header} data bytes, its header declares "
                        f"{expected} for shape {shape}; the file is truncated or corrupt.")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


def idx_data_dir(dataset, data_dir=None):
    """The folder of an IDX dataset's files: data_dir, or the dataset's default."""
    default, hint = IDX_DATASETS[dataset]
    folder = data_dir or default
    if not folder:
        raise DataError(f" needs a data_dir (--data_dir) folder: {hint}.", argument="dataset",
                        value=dataset)
    return folder


def load_idx(dataset, data_dir=None, split="train"):
    """(images (N, 28, 28) uint8, labels (N,) uint8) of an IDX dataset's split.

    dataset: "fashion_mnist" or "mnist"; split: "train" or "test".
    """
    folder = idx_data_dir(dataset, data_dir)
    _, hint = IDX_DATASETS[dataset]
    arrays = []
    for name in IDX_FILES[split]:
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            raise DataError(f": {path} is missing; {dataset} reads the four *-ubyte.gz files "
                            f"from this folder ({hint}).", argument="data_dir", value=folder)
        arrays.append(read_idx(path))
    images, labels = arrays
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"{folder}: {split} images {images.shape} and labels {labels.shape} "
                        "do not match.")
    if labels.size and labels.max() >= 10:
        raise DataError(f"{os.path.join(folder, IDX_FILES[split][1])}: label {labels.max()} "
                        "is out of range (0-9); the file is corrupt, get it again.")
    return images, labels


def idx_geometry(images, image_size):
    """uint8 (N, 28, 28) -> float32 (N, S, S, 1) in [-1, 1].

    At 28 the images are used as they are. Larger sizes pad the border with background
    (Fashion-MNIST and MNIST have a black background, so 32 = 28 + 2 pixels each side keeps
    every pixel exact); other sizes resize with antialiasing.
    """
    x = images.astype(np.float32)[..., None] / 127.5 - 1.0
    native = images.shape[1]
    pad = image_size - native
    if pad == 0:
        return x
    if pad > 0 and pad % 2 == 0:
        p = pad // 2
        return np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), constant_values=-1.0)
    resized = tf.image.resize(x, (image_size, image_size), antialias=True).numpy()
    return np.clip(resized, -1.0, 1.0)


def idx_images(dataset, image_size, data_dir=None, split="train"):
    """(images float32 (N, S, S, 1) in [-1, 1], labels) of an IDX dataset through
    `idx_geometry`; the tfds copy of Fashion-MNIST when the IDX files are not there but tfds
    has it prepared in `data_dir`."""
    folder = idx_data_dir(dataset, data_dir)
    if dataset == "fashion_mnist" and not os.path.isfile(
            os.path.join(folder, IDX_FILES[split][0])):
        images, labels = _tfds_fashion_mnist(data_dir, split)
        if images is not None:
            return idx_geometry(images, image_size), labels
    images, labels = load_idx(dataset, data_dir, split)
    return idx_geometry(images, image_size), labels


def _tfds_fashion_mnist(data_dir, split):
    """tfds's prepared fashion_mnist as uint8 arrays, or (None, None) if it is not prepared."""
    try:
        import tensorflow_datasets as tfds

        builder = tfds.builder("fashion_mnist", data_dir=data_dir)
        if not builder.is_prepared():
            return None, None
    except Exception:  # noqa: BLE001 - no tfds copy: fall back to the IDX files' error
        return None, None
    ds = builder.as_dataset(split=split, batch_size=-1)
    data = tfds.as_numpy(ds)
    return data["image"][..., 0], data["label"]


def idx_source(dataset, image_size, data_dir=None, split="train", with_labels=False):
    images, labels = idx_images(dataset, image_size, data_dir, split)
    return _slices(images, labels if with_labels else None)


def tfds_not_prepared(name, data_dir=None):
    """What to do when a tfds dataset is not prepared: the message's text after the flag."""
    tfds_name = TFDS_DATASETS[name]
    where = data_dir or "~/tensorflow_datasets"
    args = f"{tfds_name!r}" + (f", data_dir={data_dir!r}" if data_dir else "")
    manual = ""
    if name == "celeb_a":  # CelebA's files come by hand (README.md, Training)
        manual = "download_config=tfds.download.DownloadConfig(manual_dir='FOLDER')"
    prepare = (f"python -c \"import tensorflow_datasets as tfds; tfds.builder({args})."
               f"download_and_prepare({manual})\"" + (
                   " with img_align_celeba.zip and its three list files in FOLDER (README.md, "
                   "Training)" if manual else ""))
    return (f": the tfds dataset {tfds_name!r} is not prepared in {where}. Prepare it once, "
            f"on a machine with internet access: {prepare}. (`tfds build {tfds_name}` does "
            "the same but needs `pip install apache-beam` first.)")


def tfds_source(name, data_dir, image_size, seed=0, with_labels=False):
    """A prepared tfds dataset's training images (with their `label` feature for
    `with_labels`); its file order is shuffled with `seed`."""
    import tensorflow_datasets as tfds

    tfds_name = TFDS_DATASETS[name]
    try:
        builder = tfds.builder(tfds_name, data_dir=data_dir)
        ds = builder.as_dataset(split="train", shuffle_files=True,
                                read_config=tfds.ReadConfig(shuffle_seed=seed))
    except (AssertionError, FileNotFoundError, tf.errors.NotFoundError):
        raise DataError(tfds_not_prepared(name, data_dir),
                        **(dict(argument="data_dir", value=data_dir) if data_dir else
                           dict(argument="dataset", value=name))) from None
    crop = CELEBA_CROP if name == "celeb_a" else None

    def example(ex):
        image = centre_crop_resize(ex["image"], image_size, crop)
        return (image, tf.cast(ex["label"], tf.int32)) if with_labels else image

    return ds.map(example, num_parallel_calls=tf.data.AUTOTUNE)


def class_names(dataset, data_dir=None):
    """The class names of `dataset` (id i is names[i]), or None for a source without class
    labels (celeb_a's attributes are not classes; lsun_bedroom is one scene)."""
    if dataset not in LABELLED_DATASETS:
        return None
    if dataset == "fashion_mnist":
        return list(FASHION_MNIST_CLASSES)
    if dataset in ("mnist", "digits"):
        return list(DIGIT_CLASSES)
    if dataset == "folder":
        return folder_classes(data_dir)
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(TFDS_DATASETS[dataset], data_dir=data_dir)
        return list(builder.info.features["label"].names)
    except (AssertionError, FileNotFoundError, KeyError, tf.errors.NotFoundError):
        raise DataError(f": the tfds dataset {TFDS_DATASETS[dataset]!r} there has no readable "
                        "class names (its 'label' feature).", argument="data_dir",
                        value=data_dir) from None


def image_source(dataset, image_size, data_dir=None, split="train", seed=0, with_labels=False):
    """The unbatched dataset of (H, W, C) float32 images in [-1, 1] for `dataset`; C is 1 for
    the grayscale IDX datasets and 3 for the others. split: "train", or "test" for the IDX
    datasets (the others use their training images). with_labels: (image, int32 class id)
    pairs instead, for the datasets of LABELLED_DATASETS."""
    if dataset not in DATASETS:
        raise DataError(f" is not one of {DATASETS}.", argument="dataset", value=dataset)
    if with_labels and dataset not in LABELLED_DATASETS:
        raise DataError(f" has no class labels (labelled: "
                        f"{', '.join(LABELLED_DATASETS)}).", argument="dataset", value=dataset)
    if dataset == "digits":
        return digits_source(image_size, with_labels)
    if dataset == "folder":
        return folder_source(data_dir, image_size, with_labels)
    if dataset in IDX_DATASETS:
        return idx_source(dataset, image_size, data_dir, split, with_labels)
    return tfds_source(dataset, data_dir, image_size, seed, with_labels)


def with_channels(ds, channels):
    """`ds` of (H, W, C) images, or (image, label) pairs, converted to `channels` (1:
    grayscale, 3: RGB)."""
    labelled = isinstance(ds.element_spec, tuple)
    have = (ds.element_spec[0] if labelled else ds.element_spec).shape[-1]
    if have == channels:
        return ds
    convert = tf.image.rgb_to_grayscale if channels == 1 else tf.image.grayscale_to_rgb
    if labelled:
        return ds.map(lambda image, label: (convert(image), label),
                      num_parallel_calls=tf.data.AUTOTUNE)
    return ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE)


def make_dataset(dataset, image_size, global_batch_size, data_dir=None, seed=0,
                 shuffle_buffer=10_000, channels=3, with_labels=False):
    """Shuffled, repeated, batched (drop remainder) and prefetched training images, or
    (images, labels) batches with `with_labels`.

    channels: 3 (RGB) or 1 (grayscale, for models with `channels=1`).
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}.")
    ds = with_channels(image_source(dataset, image_size, data_dir, seed=seed,
                                    with_labels=with_labels), channels)
    if dataset == "folder":  # files may vanish or be unreadable: never loop on empty passes
        ds = repeat_guarded(ds, f"data_dir={data_dir}").shuffle(shuffle_buffer, seed=seed)
    else:
        ds = ds.shuffle(shuffle_buffer, seed=seed).repeat()
    ds = ds.batch(global_batch_size, drop_remainder=True, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def without_autotune(ds):
    """`ds` with tf.data's autotuning model thread turned off, for `Model.fit`.

    With autotuning on, every iterator starts a thread that re-tunes the pipeline at
    intervals that double from 10 ms (10 ms, 30 ms, 70 ms, ... 10.23 s, 20.47 s, 40.95 s after
    the iterator starts). When `fit` ends, Keras drops its iterator, and on TF 2.21 the call
    often does not return until that thread's next wake-up: a 4-step fit that ends its last
    step at 18.0 s returns at 20.47 s, one that ends at 21 s returns at 40.95 s. That was the
    "2x slow mode" of bench/train_step.py (bench/README.md has the measurements). With the
    thread off, `fit` returns when its last step ends. AUTOTUNE parallelism and prefetch
    then keep TF's untuned defaults, which run the pipelines here far above the step's
    demand (bench/data.py measures both settings).
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)
