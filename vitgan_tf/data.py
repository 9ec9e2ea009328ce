"""Input pipelines: tfds datasets, image folders and the embedded digits demo.

Every source yields float32 (H, W, 3) images in [-1, 1]; `make_dataset` shuffles, repeats,
batches with the global batch and prefetches.
"""

import os

import numpy as np
import tensorflow as tf
from absl import logging

TFDS_DATASETS = {"cifar10": "cifar10", "celeb_a": "celeb_a", "lsun_bedroom": "lsun/bedroom"}
SOURCES = ("digits", "folder") + tuple(TFDS_DATASETS)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif")
CELEBA_CROP = 108  # centre crop of the 178x218 aligned faces before resizing (DCGAN practice)


class DataError(ValueError):
    """A data source that cannot be read, with what to do about it."""


def to_unit_range(image):
    """uint8 [0, 255] -> float32 [-1, 1]."""
    return tf.cast(image, tf.float32) / 127.5 - 1.0


def to_uint8(images):
    """[-1, 1] float images -> uint8, rounded as PNG sample grids are (the inverse of
    `to_unit_range` up to rounding)."""
    return tf.cast(tf.round(tf.clip_by_value((images + 1.0) * 127.5, 0.0, 255.0)), tf.uint8)


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


def digits_source(image_size):
    return tf.data.Dataset.from_tensor_slices(digits_images(image_size)[0])


def list_image_files(folder):
    """Image files under `folder` (recursive) whose header Pillow can read; logs the others."""
    from PIL import Image

    if not folder or not os.path.isdir(folder):
        raise DataError(
            f"--data_dir={folder!r} is not a folder; for --dataset=folder give a folder of "
            f"images ({', '.join(IMAGE_EXTENSIONS)}).")
    candidates = sorted(
        os.path.join(root, name) for root, _, names in os.walk(folder) for name in names
        if name.lower().endswith(IMAGE_EXTENSIONS))
    good, bad = [], []
    for path in candidates:
        try:
            with Image.open(path) as image:
                image.verify()
            good.append(path)
        except Exception:  # noqa: BLE001 - any unreadable file is skipped, never fatal
            bad.append(path)
    if bad:
        logging.warning("Skipped %d unreadable image files in %s, e.g. %s", len(bad), folder,
                        bad[:3])
    if not good:
        raise DataError(
            f"No readable images in --data_dir={folder!r} (looked for "
            f"{', '.join(IMAGE_EXTENSIONS)} recursively; {len(bad)} unreadable).")
    logging.info("Found %d images in %s", len(good), folder)
    return good


def folder_source(folder, image_size):
    files = list_image_files(folder)

    def load(path):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        return centre_crop_resize(image, image_size)

    ds = tf.data.Dataset.from_tensor_slices(files).shuffle(len(files), reshuffle_each_iteration=True)
    # Files whose header parses but whose body is corrupt fail in decode: skipped, logged by TF.
    return ds.map(load, num_parallel_calls=tf.data.AUTOTUNE).ignore_errors(log_warning=True)


def tfds_source(name, data_dir, image_size):
    import tensorflow_datasets as tfds

    tfds_name = TFDS_DATASETS[name]
    builder = tfds.builder(tfds_name, data_dir=data_dir)
    if not builder.is_prepared():
        hint = (" CelebA must be downloaded by hand: see README.md, 'Training on CelebA'."
                if name == "celeb_a" else "")
        raise DataError(
            f"tfds dataset {tfds_name!r} is not prepared in --data_dir={data_dir!r}. Prepare "
            f"it once with `tfds build {tfds_name} --data_dir={data_dir or '~/tensorflow_datasets'}`"
            f" on a machine with internet access.{hint}")
    crop = CELEBA_CROP if name == "celeb_a" else None
    ds = builder.as_dataset(split="train", shuffle_files=True)
    return ds.map(lambda ex: centre_crop_resize(ex["image"], image_size, crop),
                  num_parallel_calls=tf.data.AUTOTUNE)


def image_source(dataset, image_size, data_dir=None):
    """The unbatched dataset of (H, W, 3) float32 images in [-1, 1] for `dataset`."""
    if dataset == "digits":
        return digits_source(image_size)
    if dataset == "folder":
        return folder_source(data_dir, image_size)
    if dataset in TFDS_DATASETS:
        return tfds_source(dataset, data_dir, image_size)
    raise DataError(f"--dataset={dataset!r} is not one of {SOURCES}.")


def make_dataset(dataset, image_size, global_batch_size, data_dir=None, seed=0,
                 shuffle_buffer=10_000, channels=3):
    """Shuffled, repeated, batched (drop remainder) and prefetched training images.

    channels: 3 (RGB) or 1 (grayscale, for models with `channels=1`).
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}.")
    ds = image_source(dataset, image_size, data_dir)
    if channels == 1:
        ds = ds.map(tf.image.rgb_to_grayscale, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.shuffle(shuffle_buffer, seed=seed).repeat()
    ds = ds.batch(global_batch_size, drop_remainder=True, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
