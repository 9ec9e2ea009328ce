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


def test_the_fashion_step_bench_runs_the_preset_as_the_train_command_parses_it():
    from bench import fashion_step

    cfg = fashion_step.train_config()
    assert (cfg.batch_size, cfg.loss, cfg.d_lr, cfg.model["d_arch"],
            cfg.model["d_mbstd_group"]) == (32, "rpgan", 0.005, "stylegan2", 8)
    variant = fashion_step.train_config(extra=["--batch_size=64"])
    assert variant.batch_size == 64 and variant.model == cfg.model


def test_cpu_flags_name_only_the_flags_that_decide_a_cpu_step():
    flags = common.cpu_flags().split()
    assert set(flags) <= {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}
    assert "cpu_flags" in common.machine()


def test_fashion_compare_scores_the_first_snapshots_at_or_past_the_asked_kimg():
    from bench import fashion_compare

    entries = [{"images": 16_000 * i} for i in range(1, 11)]
    picked = fashion_compare.nearest_snapshots(entries, [40, 150, 1000])
    assert [e["images"] for e in picked] == [48_000, 160_000]
    assert fashion_compare.nearest_snapshots(entries, []) == entries
