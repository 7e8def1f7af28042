"""script/bench itself, cheaply: a tiny run of its sizes part (the custom
runtime: nothing to compile) prints the table it writes, and its tables of
the copy-to-deploy times and of the test suite's runs are rendered from
given numbers.

The benchmark proper runs only in script/bench (minutes); what it measures
is never asserted here, since timings are only reported. The Go size target
is held by tests/test_go.py, on the bootstraps it builds."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import re
from pathlib import Path

from conftest import ROOT, run

BENCH = ROOT / "script" / "bench"


def bench_module():
    """script/bench as a module (it has no .py suffix); importing it runs nothing."""
    loader = importlib.machinery.SourceFileLoader("bench", str(BENCH))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader("bench", loader))
    loader.exec_module(module)
    return module


def cells(row: str) -> list[str]:
    return [c.strip() for c in row.strip().strip("|").split("|")]


def test_a_tiny_run_prints_and_writes_the_sizes_table(tmp_path):
    output = tmp_path / "results.md"
    output.write_text("<!-- bench:deploy:start -->\nkept\n<!-- bench:deploy:end -->\n")
    result = run([str(BENCH), "--only", "custom", "--invocations", "3", "--cold-starts", "1", "--no-deploy",
                  "--output", str(output)], ROOT, timeout=300)
    written = output.read_text()
    assert "<!-- bench:deploy:start -->\nkept\n<!-- bench:deploy:end -->" in written, \
        "a part not measured keeps what --output held"
    sizes = written.split("<!-- bench:sizes:start -->\n")[1].split("<!-- bench:sizes:end -->")[0]
    assert sizes in result.stdout
    for arch in ("arm64", "x86_64"):
        row = next(line for line in sizes.splitlines() if line.startswith(f"| custom | {arch} |"))
        assert len(cells(row)) == 10, row
        assert all(re.search(r"[0-9]", c) for c in cells(row)[2:5] + cells(row)[6:]), row
    assert re.search(r"^\| custom \| [0-9.]+ ms \| [0-9.]+ ms \|$", sizes, re.M), "the runtime loop row"
    assert re.search(r"Rendering one project: [0-9.]+ s", sizes)


def test_the_deploy_table_has_a_column_per_phase_and_names_the_slowest():
    bench = bench_module()
    rows = [{"iac": "sam", "render": 1.0, "build": 5.0, "publish": 4.0, "deploy": 20.0, "invoke": 2.0, "total": 32.0,
             "load": 1.5},
            {"iac": "cdk", "render": 1.0, "build": 5.0, "publish": 4.0, "deploy": 55.0, "invoke": 2.0, "total": 67.0,
             "load": 9.3}]
    table = bench.render_deploy_table(rows, 2, "1.00 1.00 1.00")
    header = next(line for line in table.splitlines() if line.startswith("| IaC |"))
    assert cells(header) == ["IaC", *bench.PHASES, "total", "slowest phase", "load average"]
    sam = cells(next(line for line in table.splitlines() if line.startswith("| sam |")))
    cdk = cells(next(line for line in table.splitlines() if line.startswith("| cdk |")))
    assert sam[1:6] == ["1.0 s", "5.0 s", "4.0 s", "20.0 s", "2.0 s"]
    assert sam[6] == "32.0 s (under 60 s)" and cdk[6] == "67.0 s (**over** 60 s)"
    assert sam[7] == "deploy (62%)" and cdk[7] == "deploy (82%)"
    assert sam[8] == "1.5" and cdk[8] == "9.3"
    assert "Podman build on the stand-in base images" in table and "moto" in table


def write_run(tools: Path, name: str, caches: str | None, seconds: int, files: dict) -> None:
    record = {"date": "2026-12-04", "seconds": seconds, "outcome": "passed", "cores": 2}
    if caches:
        record["caches"] = caches
    (tools / f"{name}.json").write_text(json.dumps(record))
    cases = "".join(f'<testcase classname="tests.{module}" name="t{i}" time="{t}"/>'
                    for module, times in files.items() for i, t in enumerate(times))
    (tools / f"{name}.xml").write_text(f'<testsuites><testsuite name="pytest">{cases}</testsuite></testsuites>')


def test_the_suite_table_shows_the_warm_and_cold_runs_per_file_against_the_budget(tmp_path):
    bench = bench_module()
    write_run(tmp_path, "test-suite-warm", "warm", 840, {"test_deploy": [300, 60], "test_go": [30]})
    write_run(tmp_path, "test-suite-cold", "cold", 1980, {"test_deploy": [400], "test_images": [720]})
    write_run(tmp_path, "last-test-suite", "cold", 1980, {"test_deploy": [400], "test_images": [720]})
    table = bench.render_suite_table(bench.suite_runs(tmp_path))
    lines = table.splitlines()
    header = cells(next(line for line in lines if line.startswith("| |")))
    assert header[1].startswith("warm caches, 2026-12-04, 2 cores") and header[2].startswith("cold caches")
    assert cells(next(line for line in lines if "whole suite" in line))[1:] == [
        "14.0 min (passed, within 15 min)", "33.0 min (passed, **over 30 min**)"]
    files = [cells(line) for line in lines if line.startswith("| test_")]
    assert files == [["test_images.py", "", "12.0 min"], ["test_deploy.py", "6.0 min", "6.7 min"],
                     ["test_go.py", "0.5 min", ""]], "every file of either run, the slowest first"


def test_the_suite_table_falls_back_to_the_last_run_and_says_when_there_is_none(tmp_path):
    bench = bench_module()
    assert "no full run recorded yet" in bench.render_suite_table(bench.suite_runs(tmp_path))
    write_run(tmp_path, "last-test-suite", None, 600, {"test_go": [60]})
    table = bench.render_suite_table(bench.suite_runs(tmp_path))
    assert "last run (caches not recorded)" in table
    assert "| **whole suite** | 10.0 min (passed) |" in table
    assert "| test_go.py | 1.0 min |" in table


def test_replace_blocks_replaces_the_measured_parts_and_keeps_the_rest():
    bench = bench_module()
    text = "intro\n<!-- bench:sizes:start -->\nold sizes\n<!-- bench:sizes:end -->\nmiddle\n" \
           "<!-- bench:suite:start -->\nold suite\n<!-- bench:suite:end -->\nend\n"
    replaced = bench.replace_blocks(text, {"suite": "new suite\n", "deploy": "new deploy\n"})
    assert replaced == ("intro\n<!-- bench:sizes:start -->\nold sizes\n<!-- bench:sizes:end -->\nmiddle\n"
                        "<!-- bench:suite:start -->\nnew suite\n<!-- bench:suite:end -->\nend\n"
                        "<!-- bench:deploy:start -->\nnew deploy\n<!-- bench:deploy:end -->\n")


def test_the_readme_has_every_block_of_the_benchmark():
    readme = (ROOT / "README.md").read_text()
    bench = bench_module()
    for block in bench.BLOCKS:
        start, end = bench.markers(block)
        assert readme.count(start) == 1 and readme.count(end) == 1, f"README.md lacks {start} ... {end}"
        assert readme.index(start) < readme.index(end)


def test_the_loop_table_has_a_row_per_language_and_loop_with_the_median():
    bench = bench_module()
    rows = [{"language": "go", "tool": "mise run serve", "times": [1.0, 3.0, 2.0]},
            {"language": "rust", "tool": "cargo lambda watch", "missing": "cargo-lambda is not installed"}]
    table = bench.render_loop_table(rows, 3)
    assert "| go | mise run serve | 2.00 s |" in table
    assert "| rust | cargo lambda watch | cargo-lambda is not installed |" in table
    assert set(bench.GREETINGS) == set(bench.choices("language")), "a greeting to edit in every language"
