"""Screen training changes at equal images: each variant for each seed, one run per core at a
time, then every final checkpoint scored in the Fashion-MNIST domain metric.

    python -m bench.screen --name=round4 --steps=1500 --seeds=0,1,2 \
        --variant="baseline=" --variant="pack2=--model.d_pack=2" \
        --variant="ms1=--ms_weight=1.0" [--flagfile=configs/fashion_mnist.flags]

Each run is `python -m vitgan_tf.train --flagfile=F --total_steps=N --seed=S <variant flags>`
in runs/screen_<name>/<variant>_s<seed>, pinned to one core (`taskset`), as many at once as
the machine has cores; a finished run is not trained again (its directory resumes at its last
step). The rows (FD, precision, recall, class shares of 10,000 samples against the test
split, and the run's median images/s on its core) go to bench/results/screen_<name>.json, with
a table of each variant's mean and range over its seeds.
"""

import argparse
import itertools
import json
import os
import subprocess
import sys
import time

import numpy as np

from bench import common, fashion_compare


def _variant(text):
    name, _, flags = text.partition("=")
    if not name.isidentifier():
        raise argparse.ArgumentTypeError(f"--variant={text!r}: expected NAME=FLAGS")
    return name, flags.split()


def _train(jobs, cores):
    """Run (workdir, argv) jobs, one per core at a time; stop at the first that fails."""
    running, queue = {}, list(jobs)
    while queue or running:
        while queue and len(running) < cores:
            workdir, argv = queue.pop(0)
            core = min(set(range(cores)) - set(running.values()))
            with open(workdir + ".log", "a") as log:
                proc = subprocess.Popen(["taskset", "-c", str(core), sys.executable, "-m",
                                         "vitgan_tf.train", *argv], stdout=log,
                                        stderr=subprocess.STDOUT)
            running[proc] = core
            print(f"core {core}: {workdir}", flush=True)
        time.sleep(2)
        for proc in [p for p in running if p.poll() is not None]:
            if proc.returncode != 0:
                raise SystemExit(f"{' '.join(proc.args)}: exit {proc.returncode}; see its .log")
            del running[proc]


def _median_rate(workdir):
    rates = [rate for _, _, rate in fashion_compare._images_per_second(workdir)]
    return float(np.median(rates[1:] or rates)) if rates else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--variant", type=_variant, action="append", required=True)
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--flagfile", default="configs/fashion_mnist.flags")
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--cores", type=int, default=os.cpu_count())
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    root = os.path.join("runs", f"screen_{args.name}")
    os.makedirs(root, exist_ok=True)
    runs = []
    for seed, (name, flags) in itertools.product(seeds, args.variant):
        workdir = os.path.join(root, f"{name}_s{seed}")
        argv = [f"--flagfile={args.flagfile}", f"--workdir={workdir}",
                f"--total_steps={args.steps}", f"--seed={seed}", "--eval_every=0",
                f"--checkpoint_every={args.steps}", f"--sample_every={args.steps}", *flags]
        runs.append((name, seed, flags, workdir, argv))
    _train([(r[3], r[4]) for r in runs], args.cores)

    from vitgan_tf import rundir

    judges = fashion_compare.Judges(None, "runs/stats")
    rows = []
    for name, seed, flags, workdir, _ in runs:
        _, generator, path, step = rundir.load_generator(workdir)
        row = {"variant": name, "flags": " ".join(flags), "seed": seed, "checkpoint": path,
               "step": step, "images_per_second": round(_median_rate(workdir), 1),
               **fashion_compare.score_generator(generator, judges, args.samples)}
        print(json.dumps(row), flush=True)
        rows.append(row)
    summary = []
    for name, _ in args.variant:
        mine = [r for r in rows if r["variant"] == name]
        row = {"variant": name, "seeds": len(mine)}
        for key in ("fd", "recall", "precision", "share_min", "resnet_fd", "resnet_recall",
                    "resnet_precision", "resnet_share_min", "images_per_second"):
            values = [r[key] for r in mine]
            row[key] = f"{np.mean(values):.3g} ({min(values):.3g}-{max(values):.3g})"
        summary.append(row)
    common.write_rows(os.path.join(common.RESULTS, f"screen_{args.name}.json"), rows)
    print(common.markdown_table(summary, [(k, k) for k in summary[0]]))


if __name__ == "__main__":
    main()
