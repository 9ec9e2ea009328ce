"""bench/common.py: result rows as JSON with the machine, and Markdown tables made from them."""

import json

from bench import common


def test_rows_round_trip_with_the_machine(tmp_path):
    rows = [{"name": "a", "rate": 1.23456, "n": 3}, {"name": "b", "rate": 20.0}]
    path = common.write_rows(str(tmp_path / "sub" / "x.json"), rows)
    record = json.load(open(path))
    assert record["rows"] == rows and record["machine"]["cores"] >= 1
    assert common.read_rows(path) == rows
    (tmp_path / "old.json").write_text(json.dumps(rows))  # files written as a bare list
    assert common.read_rows(str(tmp_path / "old.json")) == rows


def test_markdown_table_formats_each_column():
    table = common.markdown_table([{"name": "a", "rate": 1234.5678, "n": 3}, {"name": "b"}],
                                  [("name", "name"), ("rate", "rate", 1), ("n", "n")])
    assert table.splitlines() == ["| name | rate | n |", "|---|---|---|",
                                  "| a | 1,234.6 | 3 |", "| b | - | - |"]


def test_timer_measures_the_block():
    with common.Timer() as timer:
        sum(range(1000))
    assert timer.seconds is not None and timer.seconds >= 0
