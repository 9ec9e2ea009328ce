"""Feature extractors for FID, KID and IS, and batched feature extraction with a progress bar.

Three networks:
  * `FIDInception`: the 2015-12-05 Inception graph that TTUR and TF-GAN use for FID and that
    the original Inception Score uses (`classify_image_graph_def.pb`, `pool_3`, 299x299). Only
    numbers from this network are comparable with papers, ViTGAN's included.
  * `KerasInception`: `keras.applications.InceptionV3` with ImageNet weights. Convenient for
    monitoring a run; its FID is NOT comparable with published numbers.
  * `FashionClassifier`: a small CNN or a small ResNet trained on Fashion-MNIST
    (`vitgan_tf.fashion_classifier`), the domain metric for Fashion-MNIST runs, two judges:
    128-d features, 10 class logits.
Each maps images in [-1, 1] to {"pool": (N, features), "logits": (N, classes)}.
"""

import os

import keras
import numpy as np
import tensorflow as tf

from vitgan_tf.config import EXTRACTORS
from vitgan_tf.errors import Stopped, UserError
from vitgan_tf.images import to_uint8

FID_INCEPTION_URL = "http://download.tensorflow.org/models/image/imagenet/inception-2015-12-05.tgz"
FID_INCEPTION_FILE = "classify_image_graph_def.pb"


class WeightsError(UserError, FileNotFoundError):
    """A feature-extractor weights file that is missing, with where to get it."""


def _to_uint8_range(images):
    """[-1, 1] floats -> float32 in [0, 255], quantized as a saved PNG would be; gray -> RGB."""
    images = tf.convert_to_tensor(images, tf.float32)
    if images.shape[-1] == 1:
        images = tf.image.grayscale_to_rgb(images)
    return tf.cast(to_uint8(images), tf.float32)


class FIDInception:
    """The 2015-12-05 Inception graph (TTUR / TF-GAN FID network) from a local file.

    Args:
        path: `classify_image_graph_def.pb`, from the archive at `FID_INCEPTION_URL`.
    """

    name = "fid_inception"

    def __init__(self, path):
        if not path or not os.path.isfile(path):
            raise WeightsError(
                f": the FID Inception graph is not there. Download "
                f"{FID_INCEPTION_URL}, unpack it and pass the path of {FID_INCEPTION_FILE} "
                "(paper-comparable FID needs exactly this network).",
                argument="inception_path", value=path)
        graph_def = tf.compat.v1.GraphDef()
        try:
            with open(path, "rb") as f:
                graph_def.ParseFromString(f.read())
        except Exception as error:  # noqa: BLE001 - protobuf raises its own DecodeError
            raise WeightsError(
                f" is not a TensorFlow graph ({error}); pass "
                f"{FID_INCEPTION_FILE} from {FID_INCEPTION_URL}.",
                argument="inception_path", value=path) from None
        if not any(node.name == "pool_3" for node in graph_def.node):
            raise WeightsError(f" is a graph without the Inception "
                               f"'pool_3' layer; pass {FID_INCEPTION_FILE} from "
                               f"{FID_INCEPTION_URL}.", argument="inception_path", value=path)

        def imported(images):
            # The graph decodes one JPEG, casts it, and adds the batch axis in "ExpandDims";
            # feeding a batch there keeps its own resize to 299x299 and its normalization.
            pool, = tf.graph_util.import_graph_def(
                graph_def, input_map={"ExpandDims:0": images}, return_elements=["pool_3:0"],
                name="inception")
            pool = tf.reshape(pool, [-1, 2048])
            # Inception Score logits as in its original code: pool_3 times the softmax weights,
            # bypassing the graph's reshape to batch 1.
            matmul = tf.compat.v1.get_default_graph().get_operation_by_name(
                "inception/softmax/logits/MatMul")
            return pool, tf.matmul(pool, matmul.inputs[1])

        self._fn = tf.compat.v1.wrap_function(
            imported, [tf.TensorSpec([None, None, None, 3], tf.float32)])

    def __call__(self, images):
        pool, logits = self._fn(_to_uint8_range(images))
        return {"pool": pool.numpy(), "logits": logits.numpy()}


class KerasInception:
    """`keras.applications.InceptionV3` pool and logits (monitoring only, not paper FID).

    Args:
        weights: "imagenet" (downloaded by Keras, cached in ~/.keras), a local `.h5`/`.weights.h5`
            file of InceptionV3 with its top, or None for random weights (tests only).
    """

    def __init__(self, weights="imagenet"):
        if weights not in ("imagenet", None) and not os.path.isfile(weights):
            raise WeightsError(
                " is not a file; give a saved InceptionV3 "
                "weights file with its top, or 'imagenet' to let Keras download them.",
                argument="inception_weights", value=weights)
        try:
            model = keras.applications.InceptionV3(include_top=True, weights=weights,
                                                   classifier_activation=None)
        except Exception as error:  # the download failing offline raises several types
            if weights != "imagenet":
                raise
            raise WeightsError(
                "Could not get the ImageNet InceptionV3 weights (no internet?). Download "
                "inception_v3_weights_tf_dim_ordering_tf_kernels.h5 from "
                "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/ "
                "and pass its path as inception_weights (--inception_weights).") from error
        self.name = "keras_inception" if weights else "keras_inception_random"
        self._model = keras.Model(model.input, [model.get_layer("avg_pool").output, model.output])

    def __call__(self, images):
        x = _to_uint8_range(images) / 127.5 - 1.0
        pool, logits = self._model(tf.image.resize(x, (299, 299), method="bilinear"),
                                   training=False)
        return {"pool": np.asarray(pool), "logits": np.asarray(logits)}


class FashionClassifier:
    """Penultimate features and logits of a shipped Fashion-MNIST classifier: the CNN (the
    first judge, extractor "fashion_classifier") or the ResNet (the second, "fashion_resnet").

    Args:
        weights: the classifier's `.weights.h5`; default the one shipped in
            `vitgan_tf/assets` (written by `python -m vitgan_tf.fashion_classifier`).
        arch: "cnn" or "resnet" (`fashion_classifier.JUDGES`).
    """

    def __init__(self, weights=None, arch="cnn"):
        from vitgan_tf import fashion_classifier

        self.name = fashion_classifier.JUDGES[arch]
        weights = weights or fashion_classifier.weights_path(arch)
        if not os.path.isfile(weights):
            raise WeightsError(
                f"{weights}: the Fashion-MNIST classifier's weights are missing; train them with "
                f"`python -m vitgan_tf.fashion_classifier --arch={arch}` (needs the "
                "Fashion-MNIST files).")
        self._geometry = fashion_classifier.to_classifier_geometry
        _, self._model = fashion_classifier.BUILDERS[arch]()
        self._model.load_weights(weights)
        self._call = tf.function(lambda x: self._model(x, training=False),
                                 reduce_retracing=True)

    def pool(self, images):
        """The penultimate features of images in [-1, 1], differentiable (not quantized): what
        the projector's perceptual distance compares."""
        pool, _ = self._model(self._geometry(images), training=False)
        return pool

    def __call__(self, images):
        # Quantized as a saved PNG would be, like the Inception extractors.
        x = tf.cast(to_uint8(tf.convert_to_tensor(images, tf.float32)), tf.float32) / 127.5 - 1.0
        pool, logits = self._call(self._geometry(x))
        return {"pool": pool.numpy(), "logits": logits.numpy()}


def make_extractor(kind, inception_path=None, inception_weights="imagenet"):
    """An extractor by flag value: "fid_inception", "keras_inception", "fashion_classifier"
    or "fashion_resnet"."""
    if kind == "fashion_classifier":
        return FashionClassifier()
    if kind == "fashion_resnet":
        return FashionClassifier(arch="resnet")
    if kind == "fid_inception":
        return FIDInception(inception_path)
    if kind == "keras_inception":
        return KerasInception(None if inception_weights == "none" else inception_weights)
    raise UserError(f": expected one of {', '.join(EXTRACTORS)}.", argument="extractor", value=kind)


def extract(extractor, batches, num_samples, verbose=True, stop=None):
    """Run `extractor` over an iterable of image batches until `num_samples` images.

    stop: optional zero-argument callable, asked before each batch; when it returns True,
    `errors.Stopped` is raised (training's evaluation gives way to a preemption signal).
    Returns {"pool": (num_samples, features), "logits": (num_samples, classes)}.
    """
    parts = {"pool": [], "logits": []}
    bar = keras.utils.Progbar(num_samples, unit_name="image") if verbose else None
    seen = 0
    for batch in batches:
        if stop is not None and stop():
            raise Stopped()
        batch = batch[:num_samples - seen]
        out = extractor(batch)
        for key in parts:
            parts[key].append(out[key])
        seen += len(batch)
        if bar:
            bar.update(seen)
        if seen >= num_samples:
            break
    if seen < num_samples:
        raise UserError(f"Only {seen} images were available, {num_samples} were asked for.")
    return {key: np.concatenate(value) for key, value in parts.items()}
