"""A run's metrics log, WORKDIR/metrics.jsonl: one JSON line per in-training evaluation,
appended so that every line stays JSON whatever cut the last one short."""

import json
import os

from absl import logging

FILE = "metrics.jsonl"


def read_rows(workdir):
    """The rows of WORKDIR/metrics.jsonl that parse (a line cut short by a crash does not)."""
    rows = []
    try:
        with open(os.path.join(workdir, FILE)) as f:
            for line in f:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if isinstance(row, dict):
                    rows.append(row)
    except OSError:
        pass
    return rows


def append_row(path, row):
    """Append `row` as one JSON line to the metrics log at `path`. A last line that a crash or
    a full disk cut short is moved to `path`.damaged first (with a warning), so that the new
    row starts a line of its own and every line of the log stays JSON."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        data = b""
    if data and not data.endswith(b"\n"):
        keep = data[:data.rfind(b"\n") + 1]
        with open(path + ".damaged", "ab") as f:
            f.write(data[len(keep):] + b"\n")
        with open(path + ".tmp", "wb") as f:
            f.write(keep)
        os.replace(path + ".tmp", path)
        logging.warning("%s ended in a line cut short (%d bytes); moved it to %s.damaged.",
                        path, len(data) - len(keep), path)
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")
