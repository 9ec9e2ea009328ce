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


def _ends_cut(path):
    """Whether the file at `path` exists, is not empty and its last byte is not a newline."""
    try:
        with open(path, "rb") as f:
            if f.seek(0, os.SEEK_END) == 0:
                return False
            f.seek(-1, os.SEEK_END)
            return f.read(1) != b"\n"
    except FileNotFoundError:
        return False


def append_row(path, row):
    """Append `row` as one JSON line to the metrics log at `path`. A last line that a crash or
    a full disk cut short is moved to `path`.damaged first (with a warning), so that the new
    row starts a line of its own and every line of the log stays JSON."""
    if _ends_cut(path):  # the whole file is read only then
        with open(path, "rb") as f:
            data = f.read()
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
