"""Input-pipeline throughput alone (images/s), to show it is never the training bottleneck.

    python -m bench.data                       # digits and a generated image folder
    python -m bench.data --tfds=cifar10 --data_dir=~/tensorflow_datasets   # prepared tfds data

Each pipeline is the training one (`vitgan_tf.data.make_dataset`: decode, resize/crop, scale,
shuffle, batch, prefetch), iterated without a model, with tf.data's autotuning off as training
runs it (`vitgan_tf.data.without_autotune`) and on (TF's default), to show what turning it off
costs.
"""

import argparse
import os
import tempfile
import time

import numpy as np
from PIL import Image

from bench import common
from vitgan_tf import data


def images_per_second(dataset, batch, batches=200):
    iterator = iter(dataset)
    for _ in range(5):
        next(iterator)  # fill the shuffle buffer and warm up
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batch * batches / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--image_size", type=int, default=32)
    parser.add_argument("--folder_images", type=int, default=500)
    parser.add_argument("--tfds", default="", help="A prepared tfds dataset: cifar10, celeb_a, "
                        "lsun_bedroom.")
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--fashion_dir", default=data.IDX_DATASETS["fashion_mnist"][0])
    parser.add_argument("--out", default=common.results_path("data"), help="JSON rows")
    args = parser.parse_args()
    print(f"{common.describe_machine()}; batch {args.batch_size}; {args.image_size}px")
    rows = []

    def row(name, make):
        rates = [images_per_second(ds, args.batch_size)
                 for ds in (data.without_autotune(make()), make())]
        rows.append({"pipeline": name, "autotune_off": rates[0], "autotune_on": rates[1]})
        print(f"{name}: {rates[0]:,.0f} images/s (autotune off), {rates[1]:,.0f} (on)",
              flush=True)

    row("digits (in memory)", lambda: data.make_dataset("digits", args.image_size,
                                                        args.batch_size))
    with tempfile.TemporaryDirectory() as folder:
        rng = np.random.default_rng(0)
        for i in range(args.folder_images):
            size = (int(rng.integers(48, 160)), int(rng.integers(48, 160)))
            pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
            Image.fromarray(pixels).save(os.path.join(folder, f"{i}.jpg"), quality=90)
        row("folder of JPEGs 48-160px (decode, resize, crop)",
            lambda: data.make_dataset("folder", args.image_size, args.batch_size, folder))
    if os.path.exists(os.path.join(args.fashion_dir, data.IDX_FILES["train"][0])):
        # The Fashion-MNIST preset's own pipeline: 28 px, grayscale, from the IDX files.
        row("fashion_mnist IDX (28px, grayscale)",
            lambda: data.make_dataset("fashion_mnist", 28, args.batch_size, args.fashion_dir,
                                      channels=1))
    else:
        print(f"fashion_mnist: not installed in {args.fashion_dir}")
    if args.tfds:
        row(f"tfds {args.tfds}", lambda: data.make_dataset(args.tfds, args.image_size,
                                                           args.batch_size, args.data_dir))
    print()
    print(common.markdown_table(rows, [
        ("pipeline", "pipeline"), ("images/s, tf.data autotune off (training's setting)",
                                   "autotune_off", 0),
        ("images/s, autotune on (TF's default)", "autotune_on", 0)]))
    print(f"Rows: {common.write_rows(args.out, rows)}")


if __name__ == "__main__":
    main()
