"""The suite's xdist groups hold: a group's tests all run in one worker
(conftest.py, beside SLOW_FIRST, says why that matters). pytest-xdist tags
the groups onto the node ids, and a pytest that builds node ids otherwise
(9.2 does) silently splits every group across the workers."""

from __future__ import annotations

import re
import sys
from collections import defaultdict

from conftest import ROOT, run


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
