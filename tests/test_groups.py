"""The suite's own structure. Its xdist groups hold: a group's tests all run
in one worker (conftest.py, beside SLOW_FIRST, says why that matters).
pytest-xdist tags the groups onto the node ids, and a pytest that builds node
ids otherwise (9.2 does) silently splits every group across the workers. No
test module imports another, and every choice has its per-choice data."""

from __future__ import annotations

import ast
import re
import sys
from collections import defaultdict

from conftest import CASES, COPIER, MATRIX, ROOT, choice_values, combo_id, event_kind, run
from support.choices import PER_CHOICE


def test_each_group_runs_in_one_worker():
    # Quick tests of two modules, parametrized ones among them, on two workers.
    result = run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--numprocesses=2", "-v",
                  "tests/test_scratch.py", "tests/test_rules.py", "-k", "dockerfile or custom_cannot or copier_judges"],
                 ROOT, timeout=600)
    workers = defaultdict(set)
    for worker, nodeid in re.findall(r"^\[(gw\d+)\] \[ *\d+%\] PASSED (.+?) *$", result.stdout, re.M):
        _, _, group = nodeid.rpartition("@")
        assert group, f"{nodeid}: no xdist group in the node id"
        workers[group].add(worker)
    assert set(workers) == {"test_scratch", "test_rules"}, result.stdout
    assert all(len(w) == 1 for w in workers.values()), dict(workers)


def test_no_test_module_imports_another():
    """Shared code lives in conftest.py and tests/support/: importing a test
    module runs its module-level setup and collects its tests twice over."""
    test_modules = {path.stem for path in (ROOT / "tests").glob("test_*.py")}
    found = []
    for path in [*(ROOT / "tests").glob("*.py"), *(ROOT / "tests" / "support").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.relative_to(ROOT)} imports {n}" for n in names if n.split(".")[0] in test_modules]
    assert found == []


def test_every_choice_has_an_entry_in_every_per_choice_table():
    """tests/data's files: one per choice of copier.yml's trigger and iac,
    each with every key its siblings have; and the shared cases of
    tests/cases.yaml for every event kind a trigger sends."""
    for question, table in PER_CHOICE.items():
        assert sorted(table) == sorted(choice_values(question)), \
            f"tests/data: one file per choice of {question}: {choice_values(question)}"
        keys = {name: sorted(data) for name, data in table.items()}
        assert len({tuple(k) for k in keys.values()}) == 1, f"tests/data, {question}: the files' keys differ: {keys}"
    # A question asked for one trigger alone is in that trigger's file.
    asked = {q: re.fullmatch(r"\{\{ trigger == '([\w-]+)' \}\}", str(v.get("when", ""))) for q, v in COPIER.items()
             if isinstance(v, dict)}
    assert {q: m[1] for q, m in asked.items() if m} == {
        q: trigger for trigger, data in PER_CHOICE["trigger"].items() for q in data["questions"]}
    kinds = {event_kind(t) for t in choice_values("trigger")}
    assert kinds <= set(CASES), "tests/cases.yaml: an event kind has no cases"


def test_combo_keeps_only_that_combinations_tests():
    """`script/test --one <combination>` (pytest's --combo): the tests of that
    combination only, every one of them."""
    combo = combo_id(MATRIX[-1])
    files = ["tests/test_lint.py"]  # one module of --one's three is enough, and quick to collect
    args = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--numprocesses=0", "--collect-only", "-q"]
    ids = [line for line in run([*args, f"--combo={combo}", *files], ROOT).stdout.splitlines() if "::" in line]
    every = [line for line in run([*args, *files], ROOT).stdout.splitlines() if f"[{combo}" in line]
    assert ids and sorted(ids) == sorted(every)
    refused = run([*args, "--combo=go-nothing", *files], ROOT, check=False)
    assert refused.returncode != 0 and "--combo go-nothing: not a combination copier.yml accepts" in refused.stderr
