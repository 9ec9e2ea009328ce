"""Fine-tuning against training from scratch on a small target set, at equal steps.

    python -m bench.finetune_curve --source=runs/fashion_mnist:ckpt-4000 [--seeds=0,1] \
        [--steps=600] [--classes=5,8,9] [--images=1000]

The target set: the first `--images` Fashion-MNIST test images of `--classes` (default sandal,
bag, ankle boot), written as a folder of PNGs (runs/finetune_target/). For each seed, two runs
of the Fashion-MNIST preset on that folder for `--steps` steps: one with
`--init_from=SOURCE`, one from scratch. Each evaluates every `--eval_every` steps, on as many
samples as the target set has images, FD, KID, precision and recall in both judges' features
(`fashion_classifier`, `fashion_resnet`) against the target set. Prints the curves and writes
the rows (run, seed, step, each judge's fd and recall) to bench/results/finetune_curve.json.
"""

import argparse
import json
import os
import subprocess
import sys

import numpy as np

from bench import common

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_target(folder, classes, count, data_dir=None):
    """The first `count` test images of `classes` as 28x28 grayscale PNGs in `folder`."""
    from PIL import Image

    from vitgan_tf import data

    images, labels = data.load_idx("fashion_mnist", data_dir, "test")
    picked = np.flatnonzero(np.isin(labels, classes))[:count]
    os.makedirs(folder, exist_ok=True)
    for i in picked:
        Image.fromarray(np.asarray(images[i]).reshape(28, 28).astype(np.uint8)).save(
            os.path.join(folder, f"{i:05d}.png"))
    return len(picked)


def train(workdir, folder, seed, steps, every, samples, init_from=None):
    command = [sys.executable, "-m", "vitgan_tf.train",
               "--flagfile=configs/fashion_mnist.flags", f"--workdir={workdir}",
               "--dataset=folder", f"--data_dir={folder}", f"--seed={seed}",
               f"--total_steps={steps}", f"--eval_every={every}", f"--eval_samples={samples}",
               "--eval_metrics=fid,kid,pr", f"--checkpoint_every={every}",
               f"--sample_every={steps}", "--keep_checkpoints=2"]
    if init_from:
        command.append(f"--init_from={init_from}")
    with open(workdir + ".log", "w") as log:
        subprocess.run(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, check=True)


def curve(workdir, name, seed):
    rows = []
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            rows.append({"run": name, "seed": seed, "step": r["step"], "kimg": r.get("kimg"),
                         "fd": r["fd"], "recall": r.get("recall"),
                         "precision": r.get("precision"),
                         "resnet_fd": r.get("fashion_resnet_fd"),
                         "resnet_recall": r.get("fashion_resnet_recall")})
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, help="RUN[:ckpt-N|:best], as --init_from")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--eval_every", type=int, default=100)
    parser.add_argument("--classes", default="5,8,9")
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--runs", default="runs/finetune")
    parser.add_argument("--out", default=common.results_path("finetune_curve"))
    args = parser.parse_args()
    folder = os.path.join(ROOT, "runs", "finetune_target")
    count = write_target(folder, [int(c) for c in args.classes.split(",")], args.images,
                         args.data_dir)
    print(f"Target set: {count} images in {folder}", flush=True)
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        for name, source in (("fine-tuned", args.source), ("from scratch", None)):
            workdir = f"{args.runs}_{'ft' if source else 'scratch'}_s{seed}"
            if not os.path.exists(os.path.join(workdir, "metrics.jsonl")):
                train(workdir, folder, seed, args.steps, args.eval_every, count, source)
            rows += curve(workdir, name, seed)
            print(json.dumps(rows[-1]), flush=True)
    print(common.markdown_table(rows, [
        ("run", "run"), ("seed", "seed"), ("step", "step"), ("CNN FD", "fd"),
        ("CNN recall", "recall"), ("ResNet FD", "resnet_fd"),
        ("ResNet recall", "resnet_recall")]))
    print(f"Rows: {common.write_rows(args.out, rows)}")


if __name__ == "__main__":
    main()
