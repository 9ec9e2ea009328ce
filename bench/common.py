"""What the benchmarks share: the machine they ran on, a timer, result rows as JSON, Markdown
tables made from those rows, and a reader of a run's TensorBoard scalars.

Each benchmark runs from the repository root as a module (`python -m bench.train_step`), so
it imports this package and `vitgan_tf` without editing `sys.path`. It writes its rows to
`bench/results/<name>.json` (`write_rows`), each file holding the machine and the command
with the rows, and prints them as a Markdown table (`markdown_table`).
"""

import datetime
import glob
import json
import os
import platform
import sys
import time

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def cpu_flags():
    """The CPU flags that decide the speed of a CPU step: AVX-512, its bfloat16, AMX."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f
                          if line.startswith("flags")), [])
    except OSError:
        flags = []
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
    return " ".join(flag for flag in wanted if flag in flags)


def machine():
    """The machine, for the record: CPU, cores, GPUs (if TensorFlow is loaded), versions."""
    info = {"cpu": cpu_name(), "cpu_flags": cpu_flags(), "cores": os.cpu_count(),
            "python": platform.python_version(),
            "date": datetime.date.today().isoformat()}
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        info["tensorflow"] = tf.__version__
        info["gpus"] = [g.name for g in tf.config.list_physical_devices("GPU")]
    return info


def describe_machine():
    info = machine()
    gpus = ", ".join(info.get("gpus", [])) or "no GPU"
    return (f"{info['cpu']}, {info['cores']} cores, {gpus}; TF {info.get('tensorflow', '-')}; "
            f"{info['date']}")


class Timer:
    """`with Timer() as t: ...`; then t.seconds."""

    def __enter__(self):
        self.start = time.perf_counter()
        self.seconds = None
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
        return False


def results_path(name):
    return os.path.join(RESULTS, f"{name}.json")


def write_rows(path, rows):
    """Write {"machine", "command", "rows"} to `path` (atomically); returns the path."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    record = {"machine": machine(), "command": " ".join([os.path.basename(sys.argv[0])]
                                                        + sys.argv[1:]), "rows": rows}
    with open(path + ".tmp", "w") as f:
        json.dump(record, f, indent=1)
    os.replace(path + ".tmp", path)
    return path


def read_rows(path):
    """The rows of a results file (also a plain list of rows, as older files hold)."""
    with open(path) as f:
        record = json.load(f)
    return record["rows"] if isinstance(record, dict) else record


def _cell(value, digits):
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def markdown_table(rows, columns, digits=2):
    """A Markdown table of `rows` (dicts); columns: [(header, key)] or [(header, key, digits)]."""
    columns = [c if len(c) == 3 else (*c, digits) for c in columns]
    lines = ["| " + " | ".join(c[0] for c in columns) + " |",
             "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(key, "-"), d) for _, key, d in columns)
                     + " |")
    return "\n".join(lines)


def read_scalars(workdir, tags=None):
    """{tag: [(step, wall_time, value), ...]} (sorted by step) of the scalars in a run's
    TensorBoard events (WORKDIR/logs); `tags`: only these."""
    import tensorflow as tf

    scalars = {}
    pattern = os.path.join(glob.escape(workdir), "logs", "events.out.tfevents.*")
    for path in sorted(glob.glob(pattern)):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if tags is not None and value.tag not in tags:
                    continue
                array = tf.make_ndarray(value.tensor)
                if array.size == 1:  # scalars only, not the sample grids
                    scalars.setdefault(value.tag, []).append(
                        (int(event.step), event.wall_time, float(array)))
    return {tag: sorted(points) for tag, points in scalars.items()}
