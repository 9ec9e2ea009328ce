"""The paper's ablations at CPU scale: Fashion-MNIST variants at equal budgets, scored in the
domain metric.

    python -m bench.ablation --variants=baseline,d_sn --seeds=0,1 [--steps=600]
    python -m bench.ablation --report            # the table of every run scored so far

Each variant is the ViT-discriminator Fashion-MNIST preset (configs/fashion_mnist_vitd.flags)
with one switch changed: a ViTGANConfig field through its --model.<field> flag, or training
flags. Each run is
`python -m vitgan_tf.train` in its own process (the command is printed, so any row can be
rerun by hand), with the in-training KID every --kid_every steps as its training curve; its
final EMA generator is then scored against the 10,000 test images in the features of the
shipped Fashion-MNIST classifier: FD, KID, IS, precision, recall and classes (>= 1% of the
samples). A finished run is not retrained: rerunning the command only scores what is missing.

The table's D margin is the discriminator's mean logit on real minus on generated images at the
last logged step (a margin near 0 means D no longer tells them apart). A run counts as diverged
when training stopped on a non-finite loss, or when its final KID is more than twice the best
KID of its curve (it got much worse after it had learned something).

Results: one JSON per run in --results_dir; --report prints the Markdown table of the means and
spreads (half the range over seeds) and writes it next to them.
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import time

import numpy as np

from bench import common

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name: (what changes, model overrides, training flags). Defaults: configs/fashion_mnist_vitd.flags.
VARIANTS = {
    "baseline": ("the preset: ISN, L2 attention, overlapping patches, SIREN decoder, SLN, "
                 "no DiffAugment, no bCR", {}, {}),
    "d_sn": ("D: plain spectral norm (sigma = 1) instead of ISN", {"d_norm": "sn"}, {}),
    "d_no_norm": ("D: no spectral normalization", {"d_norm": "none"}, {}),
    "d_dot": ("D: dot-product attention (separate W_q, W_k) instead of L2",
              {"d_attention": "dot"}, {}),
    "d_patches_p": ("D: non-overlapping patches (kernel P instead of 2P)",
                    {"d_overlapping_patches": False}, {}),
    "d_vanilla": ("D: vanilla ViT (dot-product attention, no spectral norm, kernel P)",
                  {"d_attention": "dot", "d_norm": "none", "d_overlapping_patches": False}, {}),
    "diffaug": ("DiffAugment color,translation,cutout (p 0.8)", {},
                {"augment_policy": "color,translation,cutout", "augment_probability": 0.8}),
    "diffaug_bcr": ("DiffAugment as above + bCR lambda_real = lambda_fake = 10 (the paper's)",
                    {}, {"augment_policy": "color,translation,cutout",
                         "augment_probability": 0.8, "bcr_real": 10.0, "bcr_fake": 10.0}),
    "g_linear": ("G: linear per-token projection to pixels instead of the SIREN decoder",
                 {"g_decoder": "linear"}, {}),
    "g_additive": ("G: w added to the input tokens, plain LayerNorm instead of SLN",
                   {"g_conditioning": "additive"}, {}),
    "d_stylegan2": ("D: StyleGAN2 residual conv D (the paper's hybrid), 16 channels, R1 0.05 "
                    "lazy/16", {"d_arch": "stylegan2", "d_conv_channels": 16,
                                "d_conv_max_channels": 256},
                    {"r1_gamma": 0.05, "r1_interval": 16}),
    "d_stylegan2_rpgan": ("D: StyleGAN2 D as above, relativistic pairing loss (RpGAN)",
                          {"d_arch": "stylegan2", "d_conv_channels": 16,
                           "d_conv_max_channels": 256},
                          {"r1_gamma": 0.05, "r1_interval": 16, "loss": "rpgan"}),
    "d_stylegan2_rpgan_dlr": ("D: StyleGAN2 D with RpGAN as above, D learning rate 0.005 "
                              "(configs/fashion_mnist.flags)",
                              {"d_arch": "stylegan2", "d_conv_channels": 16,
                               "d_conv_max_channels": 256},
                              {"r1_gamma": 0.05, "r1_interval": 16, "loss": "rpgan",
                               "d_lr": 0.005}),
}

KID_TAG = "eval/kid_fashion_classifier"


def train_command(variant, seed, args):
    _, overrides, flags = VARIANTS[variant]
    workdir = os.path.join(args.runs_dir, f"{variant}-s{seed}")
    command = [sys.executable, "-m", "vitgan_tf.train",
               f"--flagfile={os.path.join(ROOT, 'configs', 'fashion_mnist_vitd.flags')}",
               f"--workdir={workdir}", f"--total_steps={args.steps}", f"--seed={seed}",
               f"--eval_every={args.kid_every}", f"--eval_samples={args.kid_samples}",
               f"--checkpoint_every={args.steps}", f"--sample_every={args.steps}",
               "--keep_checkpoints=1"]
    if args.data_dir:
        command.append(f"--data_dir={args.data_dir}")
    command += [f"--model.{k}={v}" for k, v in overrides.items()]
    command += [f"--{k}={v}" for k, v in flags.items()]
    return workdir, command


def score_run(variant, seed, workdir, returncode, wall, args, extractor, real):
    from bench.fashion_compare import score_features, vitgan_training_seconds
    from vitgan_tf import errors, features, rundir, scoring

    scalars = {tag: [(step, value) for step, _, value in points]
               for tag, points in common.read_scalars(workdir).items()}
    curve = scalars.get(KID_TAG, [])
    row = {"variant": variant, "seed": seed, "steps": args.steps, "workdir": workdir,
           "returncode": returncode, "wall_seconds": round(wall, 1), "kid_curve": curve}
    for tag in ("d_real", "d_fake", "d_loss", "g_loss"):
        row[tag] = scalars.get(f"train/{tag}", [])
    try:
        _, generator, _, step = rundir.load_generator(workdir)
    except (errors.RunError, OSError, ValueError) as e:
        print(f"{variant} seed {seed}: no generator to score ({e})", flush=True)
        return {**row, "step": 0, "diverged": True}
    seconds, batch = vitgan_training_seconds(workdir)
    fake = features.extract(extractor, scoring.generated_batches(generator, args.samples, 500),
                            args.samples, verbose=False)
    kids = [k for _, k in curve]
    stopped = returncode != 0 or step < args.steps
    row.update(step=step, images=step * batch,
               train_seconds=round(seconds.get(step, float("nan")), 1),
               **score_features(fake, real),
               diverged=bool(stopped or (kids and kids[-1] > 2 * min(kids))))
    return row


def run(args):
    from bench.fashion_compare import reference_stats
    from vitgan_tf import features

    os.makedirs(args.results_dir, exist_ok=True)
    extractor = features.FashionClassifier()
    real = reference_stats(extractor, args.data_dir, args.cache_dir)
    for seed in args.seeds:  # Every variant's first seed before any second one.
        for variant in args.variants:
            out = os.path.join(args.results_dir, f"{variant}-s{seed}.json")
            if os.path.exists(out):
                print(f"{variant} seed {seed}: already scored in {out}", flush=True)
                continue
            workdir, command = train_command(variant, seed, args)
            print(f"== {variant} seed {seed}: {VARIANTS[variant][0]}\n   "
                  + " ".join(command), flush=True)
            start = time.time()
            returncode = subprocess.call(command, cwd=ROOT)
            if returncode == 2:
                sys.exit(f"{variant} seed {seed}: the training command was refused (exit 2).")
            row = score_run(variant, seed, workdir, returncode, time.time() - start, args,
                            extractor, real)
            with open(out + ".tmp", "w") as f:
                json.dump(row, f, indent=1)
            os.replace(out + ".tmp", out)
            print(f"{variant} seed {seed}: FD {row.get('fd', float('nan')):.2f}  "
                  f"diverged {row['diverged']}  ({row['wall_seconds']:.0f} s)", flush=True)


def _mean_spread(values):
    values = np.asarray(values, dtype=float)
    return float(values.mean()), float((values.max() - values.min()) / 2)


def report(args):
    rows = []
    for path in sorted(glob.glob(os.path.join(glob.escape(args.results_dir), "*.json"))):
        with open(path) as f:
            rows.append(json.load(f))
    lines = ["| variant | change | seeds | budget | FD | IS | precision | recall | classes | "
             "final KID ×1e3 | D margin | diverged |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for variant, (change, _, _) in VARIANTS.items():
        runs = [r for r in rows if r["variant"] == variant and "fd" in r]
        if not runs:
            continue
        cells = []
        for key, fmt in (("fd", "{:.1f} ± {:.1f}"), ("is", "{:.2f} ± {:.2f}"),
                         ("precision", "{:.2f} ± {:.2f}"), ("recall", "{:.2f} ± {:.2f}"),
                         ("classes", "{:.1f} ± {:.1f}")):
            cells.append(fmt.format(*_mean_spread([r[key] for r in runs])))
        kids = [r["kid_curve"][-1][1] * 1e3 for r in runs if r["kid_curve"]]
        cells.append("{:.1f} ± {:.1f}".format(*_mean_spread(kids)) if kids else "-")
        # D's mean logit on real minus on generated images at the last logged step.
        margins = [r["d_real"][-1][1] - r["d_fake"][-1][1] for r in runs if r["d_real"]]
        cells.append("{:.2f} ± {:.2f}".format(*_mean_spread(margins)) if margins else "-")
        diverged = sum(r["diverged"] for r in runs)
        budget = f"{runs[0]['steps']} steps × 32"
        seeds = ",".join(str(r["seed"]) for r in sorted(runs, key=lambda r: r["seed"]))
        lines.append(f"| {variant} | {change} | {seeds} | {budget} | " + " | ".join(cells)
                     + f" | {'yes' if diverged else 'no'} ({diverged}/{len(runs)}) |")
    curves = ["", "KID (×1e3) during training, per run:", ""]
    for r in sorted(rows, key=lambda r: (list(VARIANTS).index(r["variant"]), r["seed"])):
        points = "  ".join(f"{s}:{k * 1e3:.1f}" for s, k in r["kid_curve"])
        curves.append(f"- {r['variant']} s{r['seed']}: {points}")
    text = "\n".join(lines + curves) + "\n"
    print(text)
    with open(os.path.join(args.results_dir, "table.md"), "w") as f:
        f.write(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="all",
                        help=f"comma-separated, or all: {', '.join(VARIANTS)}")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--steps", type=int, default=800, help="training steps per run")
    parser.add_argument("--kid_every", type=int, default=200)
    parser.add_argument("--kid_samples", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=2000, help="samples scored per run")
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--runs_dir", default="runs/ablation")
    parser.add_argument("--results_dir", default="bench/results/ablation")
    parser.add_argument("--cache_dir", default="runs/stats")
    parser.add_argument("--report", action="store_true", help="only print the table")
    args = parser.parse_args()
    if args.report:
        report(args)
        return
    args.variants = list(VARIANTS) if args.variants == "all" else args.variants.split(",")
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        parser.error(f"--variants: unknown {unknown}; expected some of {list(VARIANTS)}")
    try:
        args.seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        parser.error(f"--seeds={args.seeds!r}: expected comma-separated integers")
    run(args)
    report(args)


if __name__ == "__main__":
    main()
