"""Plot FD and recall against wall-clock minutes from bench/fashion_compare.py's JSON rows.

    python -m bench.plot_curves bench/results/time_to_quality.json --out=docs/time_to_quality.png

One line per run (ViTGAN runs by their wall-clock time from the start of training, DCGAN runs by
their training time). Needs matplotlib (`pip install -e '.[bench]'`).
"""

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from bench import common  # noqa: E402


def curves(rows):
    """{label: [(minutes, fd, recall)]} sorted by time; real-data rows are left out."""
    out = {}
    for r in rows:
        if r["model"].startswith("real"):
            continue
        seconds = r.get("wall_seconds", r["train_seconds"])
        label = f"{r['model']}: {r['run']}"
        out.setdefault(label, []).append((seconds / 60, r["fd"], r["recall"]))
    return {k: sorted(v) for k, v in out.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows")
    parser.add_argument("--out", required=True)
    parser.add_argument("--title", default="Fashion-MNIST, 2-core CPU, 10,000 samples")
    args = parser.parse_args()
    rows = common.read_rows(args.rows)
    fig, (ax_fd, ax_rec) = plt.subplots(1, 2, figsize=(11, 4))
    for label, points in curves(rows).items():
        minutes, fd, recall = zip(*points)
        ax_fd.plot(minutes, fd, marker="o", label=label)
        ax_rec.plot(minutes, recall, marker="o", label=label)
    ax_fd.set(xlabel="minutes", ylabel="FD (classifier features, lower is better)",
              yscale="log")
    ax_rec.set(xlabel="minutes", ylabel="recall (higher is better)", ylim=(0, 1))
    for ax in (ax_fd, ax_rec):
        ax.grid(alpha=0.3)
    ax_rec.legend(fontsize=8)
    fig.suptitle(args.title)
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    print(f"Wrote {args.out}")


if __name__ == "__main__":
    main()
