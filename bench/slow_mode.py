"""Run bench/train_step.py several times back to back, each in a fresh process, and show
whether any run falls into a slow mode (images/s far below the best run's).

    python bench/slow_mode.py --runs=10                          # the issue's command, 10 times
    python bench/slow_mode.py --runs=10 --data_autotune=on       # the old slow mode
    python bench/slow_mode.py --runs=10 --env=TF_NUM_INTEROP_THREADS=1

Each run is `python bench/train_step.py --presets=P --batch_sizes=B --jit=false --steps=S
--peak=none --data_autotune=A`, with the extra environment variables given. A run is flagged
slow when its images/s is below `--slow_ratio` of the best run's. Prints each run's images/s,
per-step times and fit overhead (the fit call's wall time minus its steps'), and a summary.
"""

import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROW = re.compile(r"^\| (\S+) \| (\d+) \| (\S+) \| (\S+) \| ([\d.]+) \| "
                 r"([\d.]+) \(([\d.]+)-([\d.]+)\) \| (-?[\d.]+) \|")


def cpu_times():
    """(steal, total) jiffies of all CPUs from /proc/stat; None where there is none."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return None
    return fields[7] if len(fields) > 7 else 0, sum(fields[:8])


def one_run(args, env):
    command = [sys.executable, os.path.join(HERE, "train_step.py"), f"--presets={args.preset}",
               f"--batch_sizes={args.batch_size}", "--jit=false", f"--steps={args.steps}",
               "--peak=none", f"--data_autotune={args.data_autotune}"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, cwd=HERE)
    for line in result.stdout.splitlines():
        match = ROW.match(line)
        if match:
            return float(match.group(5)), [float(match.group(g)) for g in (6, 7, 8, 9)]
    raise RuntimeError(f"train_step.py printed no result:\n{result.stdout}\n{result.stderr}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--preset", default="32")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE, repeatable")
    parser.add_argument("--slow_ratio", type=float, default=0.75)
    parser.add_argument("--data_autotune", default="off", choices=["off", "on"],
                        help="tf.data autotuning of the bench's input ('on': as before the fix)")
    args = parser.parse_args()
    # The checkout's package, whether or not it is installed.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [
        os.path.dirname(HERE), os.environ.get("PYTHONPATH")]))}
    for item in args.env:
        name, _, value = item.partition("=")
        env[name] = value
    print(f"{args.runs} runs of preset {args.preset}, batch {args.batch_size}, "
          f"{args.steps} steps; tf.data autotune {args.data_autotune}; env "
          f"{args.env or 'unchanged'}", flush=True)
    rates = []
    for i in range(args.runs):
        before = cpu_times()
        rate, (median, low, high, overhead) = one_run(args, env)
        after = cpu_times()
        steal = ""
        if before and after and after[1] > before[1]:
            share = (after[0] - before[0]) / (after[1] - before[1])
            steal = f", CPU stolen by the host {100 * share:.1f}%"
        rates.append(rate)
        print(f"run {i + 1}: {rate:.2f} images/s, s/step median {median:.2f} "
              f"(min {low:.2f}, max {high:.2f}), fit overhead {overhead:.2f} s{steal}", flush=True)
    slow = [r for r in rates if r < args.slow_ratio * max(rates)]
    print(f"\n{len(slow)} of {len(rates)} runs slow (< {args.slow_ratio:.0%} of the best "
          f"{max(rates):.2f} images/s); min {min(rates):.2f}, median "
          f"{sorted(rates)[len(rates) // 2]:.2f}")


if __name__ == "__main__":
    main()
