"""The benchmark runs in this environment and its table holds what it promises.

Sizes are deterministic, so the size target is asserted here; timings are
only ever reported by script/bench, never asserted."""

from __future__ import annotations

import re

from conftest import ROOT, run


def test_bench_prints_the_table_and_the_go_size_target_holds(tmp_path):
    output = tmp_path / "results.md"
    result = run([str(ROOT / "script" / "bench"), "--only", "go", "--invocations", "20",
                  "--cold-starts", "1", "--output", str(output)], ROOT, timeout=900)
    table = output.read_text()
    assert table in result.stdout
    for arch in ("arm64", "x86_64"):
        row = next(line for line in table.splitlines() if line.startswith(f"| go | {arch} |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == 10, row
        # bootstrap size: tuned flags at most 0.7x the plain `go build`
        size_ratio = float(re.search(r"\(([0-9.]+)×\)", cells[2]).group(1))
        assert size_ratio <= 0.7, row
        assert all(re.search(r"[0-9]", c) for c in cells[2:]), row
    assert "Rendering one project:" in table
