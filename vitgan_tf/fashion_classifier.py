"""Two small Fashion-MNIST classifiers whose features score generated garments: two judges.

    python -m vitgan_tf.fashion_classifier [--arch=cnn|resnet] [--data_dir=...]

trains one on the training split, reports its test accuracy and writes the weights that
`features.FashionClassifier` loads (shipped in `vitgan_tf/assets/`: `fashion_classifier` for
the CNN, the first judge, about 400 kB; `fashion_resnet` for the second). Their 128-d
penultimate activations are the features of the domain metric (Fréchet distance, KID,
precision and recall); their logits give the Inception-Score-style IS and the class of each
sample. The second judge differs from the first in what could make a judge lenient: its
architecture (residual blocks with strided convolutions and a 5x5 stem, against plain 3x3
pairs with max-pooling), its augmentation (random shifts of up to 2 pixels against flips) and
its seed. A lever that only one of them rewards is not kept (bench/README.md).

Input: 28x28 grayscale in [-1, 1]. Images of other sizes are brought to 28 by
`to_classifier_geometry` (32 is the 28 of the data padded by 2 each side, so it is cropped).
"""

import argparse
import json
import os
import time

import keras
import numpy as np
import tensorflow as tf

from vitgan_tf.data import FASHION_MNIST_CLASSES

ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets")
# Architecture -> the name of its weights and report in ASSETS (and of its extractor).
JUDGES = {"cnn": "fashion_classifier", "resnet": "fashion_resnet"}
WEIGHTS = os.path.join(ASSETS, "fashion_classifier.weights.h5")
REPORT = os.path.join(ASSETS, "fashion_classifier.json")
CLASSES = FASHION_MNIST_CLASSES
FEATURES = 128


def weights_path(arch):
    """The shipped weights of architecture `arch` (a key of JUDGES)."""
    return os.path.join(ASSETS, f"{JUDGES[arch]}.weights.h5")


def build_classifier():
    """(classifier: image -> logits, features: image -> 128-d penultimate activations)."""
    inputs = keras.Input((28, 28, 1), name="image")
    x = inputs
    for i, filters in enumerate((16, 32, 64)):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{i}a")(x)
        x = keras.layers.BatchNormalization(name=f"bn{i}a")(x)
        x = keras.layers.ReLU()(x)
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{i}b")(x)
        x = keras.layers.BatchNormalization(name=f"bn{i}b")(x)
        x = keras.layers.ReLU()(x)
        if i < 2:
            x = keras.layers.MaxPooling2D(name=f"pool{i}")(x)
    return _with_head(inputs, x, "fashion_classifier", "fashion_features")


def _with_head(inputs, x, name, features_name):
    """(classifier, features model) of a trunk's output `x`: global average pooling, the
    128-d ReLU features, dropout, the class logits."""
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    features = keras.layers.Dense(FEATURES, activation="relu", name="features")(x)
    logits = keras.layers.Dense(len(CLASSES), name="logits")(
        keras.layers.Dropout(0.3, name="dropout")(features))
    return (keras.Model(inputs, logits, name=name),
            keras.Model(inputs, [features, logits], name=features_name))


def build_resnet():
    """The second judge: (classifier, features) as `build_classifier` returns them, of a small
    ResNet (He et al. 2016): a 5x5 stem, then at 28, 14 and 7 pixels one residual block of two
    3x3 convolutions (16, 32, 64 channels; strided 1x1 projections between stages)."""
    inputs = keras.Input((28, 28, 1), name="image")
    x = keras.layers.Conv2D(16, 5, padding="same", use_bias=False, name="stem")(inputs)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization(name="stem_bn")(x))
    for i, filters in enumerate((16, 32, 64)):
        stride = 1 if i == 0 else 2
        shortcut = x
        if stride > 1:
            shortcut = keras.layers.Conv2D(filters, 1, stride, use_bias=False,
                                           name=f"proj{i}")(x)
            shortcut = keras.layers.BatchNormalization(name=f"proj{i}_bn")(shortcut)
        y = keras.layers.Conv2D(filters, 3, stride, padding="same", use_bias=False,
                                name=f"res{i}a")(x)
        y = keras.layers.ReLU()(keras.layers.BatchNormalization(name=f"res{i}a_bn")(y))
        y = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"res{i}b")(y)
        y = keras.layers.BatchNormalization(name=f"res{i}b_bn")(y)
        x = keras.layers.ReLU()(keras.layers.Add(name=f"res{i}")([shortcut, y]))
    return _with_head(inputs, x, "fashion_resnet", "fashion_resnet_features")


BUILDERS = {"cnn": build_classifier, "resnet": build_resnet}


def _shift(image, seed):
    """A random shift of up to 2 pixels (pad with the background, -1, and crop)."""
    padded = tf.pad(image, [[2, 2], [2, 2], [0, 0]], constant_values=-1.0)
    return tf.image.stateless_random_crop(padded, tf.shape(image), seed)


def to_classifier_geometry(images):
    """(N, S, S, C) in [-1, 1] -> (N, 28, 28, 1): gray, and 32 cropped / other sizes resized."""
    images = tf.convert_to_tensor(images, tf.float32)
    if images.shape[-1] == 3:
        images = tf.image.rgb_to_grayscale(images)
    size = images.shape[1]
    if size == 32:
        images = images[:, 2:30, 2:30]
    elif size != 28:
        images = tf.clip_by_value(tf.image.resize(images, (28, 28), antialias=True), -1.0, 1.0)
    return images


def train(data_dir=None, epochs=5, batch_size=128, seed=0, out=WEIGHTS, arch="cnn"):
    """Train on the Fashion-MNIST training split; returns the test accuracy. The CNN trains
    on random flips, the ResNet on random shifts."""
    from vitgan_tf import data

    keras.utils.set_random_seed(seed)
    x_train, y_train = data.idx_images("fashion_mnist", 28, data_dir, "train")
    x_test, y_test = data.idx_images("fashion_mnist", 28, data_dir, "test")
    model, _ = BUILDERS[arch]()
    steps = epochs * (len(x_train) // batch_size)
    model.compile(
        optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(2e-3, steps)),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    if arch == "cnn":
        def augment(x, y):
            return tf.image.random_flip_left_right(x, seed=seed), y
    else:
        def augment(x, y, index):
            return _shift(x, tf.stack([tf.constant(seed, tf.int64), index])), y
    pairs = tf.data.Dataset.from_tensor_slices((x_train, y_train.astype(np.int32)))
    if arch != "cnn":  # stateless shifts: each (image, epoch) draws its own
        pairs = pairs.repeat(epochs).enumerate().map(lambda i, xy: (xy[0], xy[1], i))
    flips = pairs.shuffle(len(x_train), seed=seed).map(augment).batch(
        batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    flips = data.without_autotune(flips)  # each epoch's fit iterator ends on time
    start = time.time()
    if arch == "cnn":
        model.fit(flips, epochs=epochs, verbose=2)
    else:  # one pass over the repeated data, logged per epoch's worth of steps
        model.fit(flips, epochs=epochs, steps_per_epoch=len(x_train) // batch_size, verbose=2)
    _, accuracy = model.evaluate(x_test, y_test.astype(np.int32), batch_size=500, verbose=0)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    model.save_weights(out + ".tmp.weights.h5")
    os.replace(out + ".tmp.weights.h5", out)
    report = {"arch": arch, "test_accuracy": float(accuracy), "epochs": epochs, "seed": seed,
              "train_seconds": round(time.time() - start, 1)}
    with open(os.path.splitext(os.path.splitext(out)[0])[0] + ".json", "w") as f:
        json.dump(report, f, indent=2)
    print(json.dumps(report))
    return float(accuracy)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", default=None,
                        help="Fashion-MNIST IDX folder (default: Debian's package path).")
    parser.add_argument("--arch", default="cnn", choices=sorted(BUILDERS),
                        help="cnn: the first judge (seed 0); resnet: the second (seed 1)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="default 5 for the cnn, 12 for the resnet (as shipped)")
    parser.add_argument("--seed", type=int, default=None,
                        help="default 0 for the cnn, 1 for the resnet")
    parser.add_argument("--out", default=None, help="default: the shipped weights' path")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else (0 if args.arch == "cnn" else 1)
    epochs = args.epochs or (5 if args.arch == "cnn" else 12)
    train(args.data_dir, epochs, seed=seed, out=args.out or weights_path(args.arch),
          arch=args.arch)


if __name__ == "__main__":
    main()
