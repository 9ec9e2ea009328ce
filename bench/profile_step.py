"""Where the train step's time goes: TF profiler op time by op type, without XLA.

    python bench/profile_step.py                       # 32 preset, batch 32, float32
    python bench/profile_step.py --preset=64 --precision=mixed_bfloat16

Traces `--steps` steps of the real compiled fit step with `tf.profiler.experimental` (after two
warm-up steps), reads the trace (an XSpace protobuf) and sums the duration of every TF op event
by op type. Ops run on two inter-op threads at once, so op time adds up to more than wall time;
the shares are what matters. "Matmul-class" ops are the dense contractions (MatMul, Einsum,
BatchMatMul, Conv2D and their gradients); everything else is element-wise, reductions, random
numbers, gathers and bookkeeping, which XLA fusion could shorten. The profile is taken without
`jit_compile`: under XLA the step is one compiled cluster and the trace has no per-op events.
"""

import argparse
import collections
import glob
import os
import re
import tempfile
import time

import tensorflow as tf
from tensorflow.tsl.profiler.protobuf import xplane_pb2
from train_step import PRESET_SETTINGS, synthetic_run

MATMUL_CLASS = ("MatMul", "_FusedMatMul", "BatchMatMulV2", "BatchMatMulV3", "Einsum", "Conv2D",
                "_FusedConv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter")
_OP_EVENT = re.compile(r"^[^:]+:([A-Za-z_]\w*)$")


def op_time_by_type(xplane_path):
    """{op type: total seconds} over the TF op events of the host plane's compute threads."""
    space = xplane_pb2.XSpace()
    with open(xplane_path, "rb") as f:
        space.ParseFromString(f.read())
    totals = collections.Counter()
    for plane in space.planes:
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                # TF op events are named "scope/op_name:OpType"; executor events "A::B".
                match = _OP_EVENT.match(plane.event_metadata[event.metadata_id].name)
                if match:
                    totals[match.group(1)] += event.duration_ps / 1e12
    return totals


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="32")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--top", type=int, default=12, help="op types listed one by one")
    args = parser.parse_args()
    gan, _, data = synthetic_run(args.preset, args.batch_size, args.precision,
                                 **PRESET_SETTINGS.get(args.preset, {}))
    gan.fit(data, steps_per_epoch=2, epochs=1, verbose=0)  # trace and warm up
    logdir = tempfile.mkdtemp(prefix="vitgan_profile_")
    tf.profiler.experimental.start(logdir)
    start = time.perf_counter()
    gan.fit(data, steps_per_epoch=args.steps, epochs=1, verbose=0)
    wall = time.perf_counter() - start
    tf.profiler.experimental.stop()
    path = sorted(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True))[-1]
    totals = op_time_by_type(path)
    total = sum(totals.values())
    matmul = sum(seconds for op, seconds in totals.items() if op in MATMUL_CLASS)
    print(f"preset {args.preset}, batch {args.batch_size}, {args.precision}, no XLA: "
          f"{args.steps} steps in {wall:.1f} s wall; op time {total:.1f} s "
          f"(two inter-op threads); trace in {logdir}")
    print(f"matmul-class ops: {100 * matmul / total:.1f}% of op time; "
          f"other ops: {100 * (total - matmul) / total:.1f}%\n")
    print("| op type | seconds | share of op time |")
    print("|---|---|---|")
    ranked = totals.most_common()
    for op, seconds in ranked[:args.top]:
        print(f"| {op} | {seconds:.2f} | {100 * seconds / total:.1f}% |")
    rest = sum(seconds for _, seconds in ranked[args.top:])
    print(f"| {len(ranked) - args.top} other types | {rest:.2f} | {100 * rest / total:.1f}% |")


if __name__ == "__main__":
    main()
