"""A small Fashion-MNIST classifier whose features score generated garments.

    python -m vitgan_tf.fashion_classifier [--data_dir=/usr/share/datasets/fashion-mnist]

trains it on the training split, reports its test accuracy and writes the weights that
`features.FashionClassifier` loads (`vitgan_tf/assets/fashion_classifier.weights.h5`, shipped:
about 400 kB). Its 128-d penultimate activations are the features of the domain metric (Fréchet
distance, KID, precision and recall); its logits give the Inception-Score-style IS and the class
of each sample.

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
WEIGHTS = os.path.join(ASSETS, "fashion_classifier.weights.h5")
REPORT = os.path.join(ASSETS, "fashion_classifier.json")
CLASSES = FASHION_MNIST_CLASSES
FEATURES = 128


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
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    features = keras.layers.Dense(FEATURES, activation="relu", name="features")(x)
    logits = keras.layers.Dense(len(CLASSES), name="logits")(
        keras.layers.Dropout(0.3, name="dropout")(features))
    model = keras.Model(inputs, logits, name="fashion_classifier")
    return model, keras.Model(inputs, [features, logits], name="fashion_features")


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


def train(data_dir=None, epochs=5, batch_size=128, seed=0, out=WEIGHTS):
    """Train on the Fashion-MNIST training split; returns the test accuracy."""
    from vitgan_tf import data

    keras.utils.set_random_seed(seed)
    x_train, y_train = data.idx_images("fashion_mnist", 28, data_dir, "train")
    x_test, y_test = data.idx_images("fashion_mnist", 28, data_dir, "test")
    model, _ = build_classifier()
    steps = epochs * (len(x_train) // batch_size)
    model.compile(
        optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(2e-3, steps)),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    flips = tf.data.Dataset.from_tensor_slices((x_train, y_train.astype(np.int32))).shuffle(
        len(x_train), seed=seed).map(
        lambda x, y: (tf.image.random_flip_left_right(x, seed=seed), y)).batch(
        batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    flips = data.without_autotune(flips)  # each epoch's fit iterator ends on time
    start = time.time()
    model.fit(flips, epochs=epochs, verbose=2)
    _, accuracy = model.evaluate(x_test, y_test.astype(np.int32), batch_size=500, verbose=0)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    model.save_weights(out + ".tmp.weights.h5")
    os.replace(out + ".tmp.weights.h5", out)
    report = {"test_accuracy": float(accuracy), "epochs": epochs, "seed": seed,
              "train_seconds": round(time.time() - start, 1)}
    with open(os.path.splitext(os.path.splitext(out)[0])[0] + ".json", "w") as f:
        json.dump(report, f, indent=2)
    print(json.dumps(report))
    return float(accuracy)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", default=None,
                        help="Fashion-MNIST IDX folder (default: Debian's package path).")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=WEIGHTS)
    args = parser.parse_args()
    train(args.data_dir, args.epochs, seed=args.seed, out=args.out)


if __name__ == "__main__":
    main()
