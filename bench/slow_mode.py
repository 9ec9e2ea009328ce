"""Run bench/train_step.py several times back to back, each in a fresh process, and show
whether any run falls into a slow mode (images/s far below the best run's).

    python bench/slow_mode.py --runs=10                          # the issue's command, 10 times
    python bench/slow_mode.py --runs=10 --env=TF_NUM_INTEROP_THREADS=1

Each run is `python bench/train_step.py --presets=P --batch_sizes=B --jit=false --steps=S
--peak=none`, with the extra environment variables given. A run is flagged slow when its
images/s is below `--slow_ratio` of the best run's. Prints each run's images/s and per-step
times and a summary line.
"""

import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROW = re.compile(r"^\| (\S+) \| (\d+) \| (\S+) \| (\S+) \| ([\d.]+) \| "
                 r"([\d.]+) \(([\d.]+)-([\d.]+)\)")


def one_run(args, env):
    command = [sys.executable, os.path.join(HERE, "train_step.py"), f"--presets={args.preset}",
               f"--batch_sizes={args.batch_size}", "--jit=false", f"--steps={args.steps}",
               "--peak=none"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, cwd=HERE)
    for line in result.stdout.splitlines():
        match = ROW.match(line)
        if match:
            return float(match.group(5)), [float(match.group(g)) for g in (6, 7, 8)]
    raise RuntimeError(f"train_step.py printed no result:\n{result.stdout}\n{result.stderr}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--preset", default="32")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE, repeatable")
    parser.add_argument("--slow_ratio", type=float, default=0.75)
    args = parser.parse_args()
    # The checkout's package, whether or not it is installed.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [
        os.path.dirname(HERE), os.environ.get("PYTHONPATH")]))}
    for item in args.env:
        name, _, value = item.partition("=")
        env[name] = value
    print(f"{args.runs} runs of preset {args.preset}, batch {args.batch_size}, "
          f"{args.steps} steps; env {args.env or 'unchanged'}", flush=True)
    rates = []
    for i in range(args.runs):
        rate, (median, low, high) = one_run(args, env)
        rates.append(rate)
        print(f"run {i + 1}: {rate:.2f} images/s, s/step median {median:.2f} "
              f"(min {low:.2f}, max {high:.2f})", flush=True)
    slow = [r for r in rates if r < args.slow_ratio * max(rates)]
    print(f"\n{len(slow)} of {len(rates)} runs slow (< {args.slow_ratio:.0%} of the best "
          f"{max(rates):.2f} images/s); min {min(rates):.2f}, median "
          f"{sorted(rates)[len(rates) // 2]:.2f}")


if __name__ == "__main__":
    main()
