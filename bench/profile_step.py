"""Where the train step's time goes: TF profiler op time by op type, without XLA.

    python -m bench.profile_step                       # 32 preset, batch 32, float32
    python -m bench.profile_step --preset=64 --precision=mixed_bfloat16

Traces `--steps` steps of the real compiled fit step with `tf.profiler.experimental` (after two
warm-up steps), reads the trace (an XSpace protobuf) and sums the duration of every TF op event
by op type. Ops run on two inter-op threads at once, so op time adds up to more than wall time;
the shares are what matters. "Matmul-class" ops are the dense contractions (MatMul, Einsum,
BatchMatMul, Conv2D and their gradients); everything else is element-wise, reductions, random
numbers, gathers and bookkeeping, which XLA fusion could shorten. The profile is taken without
`jit_compile`: under XLA the step is one compiled cluster and the trace has no per-op events.

Then the step's dense contractions alone (`--replay`, on by default): every matmul-class op of
the traced train step (forward and backward), with its shapes and attributes, is re-run in one
tf.function on random inputs, with nothing else between them. Its time is what the step would
take if every other op were free; its FLOP/s, against the measured matmul peak, is the bound
the contractions themselves set. The gap between that and the full step is the cost of the
rest.
"""

import argparse
import collections
import glob
import os
import re
import tempfile
import time

import numpy as np
import tensorflow as tf
from tensorflow.tsl.profiler.protobuf import xplane_pb2

from bench import common
from bench.train_step import (
    PRESET_SETTINGS,
    compute_dtype,
    count_flops,
    matmul_shapes,
    measured_peak,
    synthetic_run,
)

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


def contraction_ops(graph):
    """[(op type, [input specs], {attr: value})] for every matmul-class op in `graph`. An input
    spec is a (shape, dtype) for float inputs, or the constant value of an integer one (the
    sizes inputs of the convolution gradients)."""
    found = []
    for op in graph.get_operations():
        if op.type not in MATMUL_CLASS or op.type.startswith("_"):
            continue
        inferred = set()
        for arg in op.op_def.input_arg:
            inferred |= {arg.type_attr, arg.number_attr, arg.type_list_attr} - {""}
        attrs = {}
        for attr in op.op_def.attr:
            if attr.name not in inferred:
                value = op.get_attr(attr.name)
                attrs[attr.name] = value.decode() if isinstance(value, bytes) else value
        inputs = []
        for tensor in op.inputs:
            if tensor.dtype.is_floating:
                inputs.append((tuple(tensor.shape.as_list()), tensor.dtype))
            else:  # input_sizes / filter_sizes: the shape of the gradient the op returns
                value = tf.get_static_value(tensor)
                inputs.append(np.asarray(op.outputs[0].shape.as_list(), np.int32)
                              if value is None else value)
        found.append((op.type, inputs, attrs))
    return found


def replay(ops, repeats=3):
    """Seconds per run of `ops` (from `contraction_ops`) in one tf.function, best of
    `repeats`, and the function's FLOPs."""
    args = []
    for op_type, inputs, attrs in ops:
        values = [tf.random.normal(spec[0], dtype=spec[1]) * 0.1 if isinstance(spec, tuple)
                  else tf.constant(spec) for spec in inputs]
        args.append((op_type, values, attrs))

    @tf.function
    def run():
        outputs = []
        for op_type, values, attrs in args:
            fn = getattr(tf.raw_ops, op_type)
            if op_type == "Einsum":  # one list input
                outputs.append(fn(inputs=values, **attrs))
            else:
                outputs.append(fn(**dict(zip(_input_names(op_type), values)), **attrs))
        return outputs

    flops = count_flops(run.get_concrete_function())
    run()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best, flops


def _signature(op):
    op_type, inputs, attrs = op
    return (op_type, tuple(spec[0] if isinstance(spec, tuple) else tuple(np.ravel(spec))
                           for spec in inputs), tuple(sorted((k, str(v)) for k, v in
                                                             attrs.items())))


def seconds_lost(row, peak):
    """A `by_shape` row's seconds per step beyond what its FLOPs would take at `peak`."""
    count, _, _, seconds, flops = row
    return count * (seconds - flops / peak)


def by_shape(ops, peak, seconds_each=0.3):
    """The contractions grouped by op type, shapes and attributes, each group's op timed alone:
    [(count, op type, input shapes, seconds per op, FLOPs per op)], the most time lost against
    `peak` first."""
    groups = collections.OrderedDict()
    for op in ops:
        groups.setdefault(_signature(op), []).append(op)
    rows = []
    for members in groups.values():
        one = members[0]
        per_run, flops = replay([one], repeats=1)
        repeats = max(1, int(seconds_each / max(per_run, 1e-6)))
        per_op, _ = replay([one] * repeats, repeats=3)
        rows.append((len(members), one[0], [spec[0] for spec in one[1]
                                            if isinstance(spec, tuple)],
                     per_op / repeats, flops))
    rows.sort(key=lambda row: -seconds_lost(row, peak))
    return rows


def _input_names(op_type):
    from tensorflow.python.framework import op_def_registry

    return [arg.name for arg in op_def_registry.get(op_type).input_arg]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="32")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--top", type=int, default=12, help="op types listed one by one")
    parser.add_argument("--replay", default="true", choices=["true", "false"],
                        help="time the step's dense contractions alone")
    parser.add_argument("--by_shape", type=int, default=0,
                        help="also time each distinct contraction alone and list the N that "
                        "lose the most time against the peak")
    parser.add_argument("--out", default=common.results_path("profile_step"), help="JSON rows")
    args = parser.parse_args()
    gan, images, data = synthetic_run(args.preset, args.batch_size, args.precision,
                                      **PRESET_SETTINGS.get(args.preset, {}))
    gan.fit(data, steps_per_epoch=2, epochs=1, verbose=0)  # trace and warm up
    start = time.perf_counter()
    gan.fit(data, steps_per_epoch=args.steps, epochs=1, verbose=0)
    step_seconds = (time.perf_counter() - start) / args.steps
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
          f"{step_seconds:.2f} s/step ({args.steps} steps); under the profiler "
          f"{wall / args.steps:.2f} s/step, op time {total:.1f} s (ops overlap on the "
          f"inter-op threads); trace in {logdir}")
    print(f"matmul-class ops: {100 * matmul / total:.1f}% of op time; "
          f"other ops: {100 * (total - matmul) / total:.1f}%\n")
    ranked = totals.most_common()
    op_rows = [{"table": "op_types", "op": op, "seconds": seconds,
                "share": f"{100 * seconds / total:.1f}%"} for op, seconds in ranked[:args.top]]
    rest = sum(seconds for _, seconds in ranked[args.top:])
    op_rows.append({"table": "op_types", "op": f"{len(ranked) - args.top} other types",
                    "seconds": rest, "share": f"{100 * rest / total:.1f}%"})
    print(common.markdown_table(op_rows, [("op type", "op"), ("seconds", "seconds"),
                                          ("share of op time", "share")]), flush=True)
    rows = op_rows
    if args.replay == "true":
        rows += replay_tables(gan, images, args, step_seconds)
    print(f"Rows: {common.write_rows(args.out, rows)}")


def replay_tables(gan, images, args, step_seconds):
    """The step's dense contractions replayed alone against the peak (and, with --by_shape,
    each distinct one); printed, and returned as rows."""
    concrete = tf.function(gan.train_step).get_concrete_function(
        tf.TensorSpec(images.shape, tf.float32))
    step_flops = count_flops(concrete)
    ops = contraction_ops(concrete.graph)
    seconds, flops = replay(ops)
    dtype = compute_dtype(args.precision)
    peak, shape = measured_peak(dtype, matmul_shapes([args.preset], [args.batch_size]),
                                verbose=False)
    print(f"\nPeak matmul {dtype}: {peak / 1e9:.1f} GFLOP/s (at {shape[0]}x{shape[1]}x"
          f"{shape[2]})\n")
    work = [{"table": "work", "work": name, "seconds": sec, "gflop": fl / 1e9,
             "gflop_per_second": fl / sec / 1e9, "share_of_peak": f"{100 * fl / sec / peak:.0f}%",
             "share_of_step": f"{100 * sec / step_seconds:.0f}%"}
            for name, sec, fl in (("full step", step_seconds, step_flops),
                                  (f"its {len(ops)} dense contractions alone", seconds, flops))]
    work.append({"table": "work", "work": "everything else (difference)",
                 "seconds": step_seconds - seconds, "gflop": (step_flops - flops) / 1e9,
                 "share_of_step": f"{100 * (1 - seconds / step_seconds):.0f}%"})
    print(common.markdown_table(work, [
        ("work", "work"), ("s/step", "seconds"), ("GFLOP", "gflop", 1),
        ("GFLOP/s", "gflop_per_second", 1), ("% of peak", "share_of_peak"),
        ("share of the step's time", "share_of_step")]))
    if not args.by_shape:
        return work
    kinds = by_shape(ops, peak)
    total = sum(count * sec for count, _, _, sec, _ in kinds)
    print(f"\nEach distinct contraction timed alone ({len(kinds)} kinds; together "
          f"{total:.2f} s per step), the {args.by_shape} that lose the most time against the "
          "peak:\n")
    shapes_rows = []
    for kind in kinds[:args.by_shape]:
        count, op_type, shapes, sec, fl = kind
        shapes_rows.append({
            "table": "by_shape", "op": op_type,
            "shapes": " · ".join("×".join(str(d) for d in shape) for shape in shapes),
            "count": count, "ms_each": 1e3 * sec, "share_of_peak": f"{100 * fl / sec / peak:.0f}%",
            "seconds_per_step": count * sec, "seconds_lost": seconds_lost(kind, peak)})
    print(common.markdown_table(shapes_rows, [
        ("op", "op"), ("input shapes", "shapes"), ("count per step", "count"),
        ("ms each", "ms_each"), ("% of peak", "share_of_peak"),
        ("s per step", "seconds_per_step"), ("s lost per step", "seconds_lost")]))
    return work + shapes_rows


if __name__ == "__main__":
    main()
