"""Score single ViTGAN checkpoints in the Fashion-MNIST domain metric (as bench/fashion_compare.py).

    python -m bench.score_checkpoint runs/h1/checkpoints/ckpt-1000 [...] [--samples=10000]
"""

import argparse
import json
import os

from bench import fashion_compare
from vitgan_tf import rundir


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--cache_dir", default="runs/stats")
    args = parser.parse_args()
    judges = fashion_compare.Judges(None, args.cache_dir)
    for path in args.checkpoints:
        workdir = os.path.dirname(os.path.dirname(path.rstrip("/")))
        _, generator, _, step = rundir.load_generator(workdir, path)
        row = {"checkpoint": path, "step": step,
               **fashion_compare.score_generator(generator, judges, args.samples)}
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
