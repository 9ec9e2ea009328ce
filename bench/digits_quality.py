"""How well a digits run's EMA generator covers the ten digits: the README's figures.

    python -m bench.digits_quality --workdir=runs/digits

A logistic regression is fit on all 1,797 real digits at the run's resolution; it then labels
`--samples` images of the EMA generator. Prints the count per class, the mean classifier
confidence on the samples and on the real digits, and the per-pixel standard deviation across
samples (a collapsed generator has a small one) next to the real digits'.
"""

import argparse

import numpy as np
import tensorflow as tf
from sklearn.linear_model import LogisticRegression

from bench import common
from vitgan_tf import data, rng, rundir


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=123)
    parser.add_argument("--out", default=common.results_path("digits_quality"), help="JSON rows")
    args = parser.parse_args()
    _, generator, checkpoint, step = rundir.load_generator(args.workdir)
    cfg = generator.vitgan_config
    if cfg.channels != 1:
        raise SystemExit(f"--workdir={args.workdir!r} is not a digits run "
                         f"(channels={cfg.channels}).")
    images, labels = data.digits_images(cfg.image_size)
    real = images[..., :1].reshape(len(images), -1)
    classifier = LogisticRegression(max_iter=5000).fit(real, labels)
    z = rng.normal(tf.constant([args.seed, 7], tf.int64), [args.samples, cfg.latent_dim])
    fake = np.concatenate([generator(z[i:i + 250], training=False).numpy()
                           for i in range(0, args.samples, 250)])
    probs = classifier.predict_proba(fake.reshape(len(fake), -1))
    row = {"checkpoint": checkpoint, "step": step, "samples": args.samples,
           "class_counts": np.bincount(probs.argmax(1), minlength=10).tolist(),
           "confidence": float(probs.max(1).mean()),
           "real_confidence": float(classifier.predict_proba(real).max(1).mean()),
           "pixel_std": float(fake.std(0).mean()),
           "real_pixel_std": float(images[..., :1].std(0).mean())}
    print(f"{checkpoint} (step {step}), {args.samples} samples")
    print("count per class 0-9:", row["class_counts"])
    print(f"mean confidence: samples {row['confidence']:.2f}, "
          f"real digits {row['real_confidence']:.2f}")
    print(f"per-pixel std across images: samples {row['pixel_std']:.3f}, "
          f"real digits {row['real_pixel_std']:.3f}")
    print(f"Rows: {common.write_rows(args.out, [row])}")


if __name__ == "__main__":
    main()
