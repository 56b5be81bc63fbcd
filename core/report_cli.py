"""The headless reward report: ``python launch.py report runs/a.json runs/b.json``.

Why: whether the critic predicts the hidden tests is a question about many
runs at once, so it is asked of saved tree files, with no model loaded. A
missing or damaged file is a :class:`~core.cli.UsageError` (one line, exit
status 2), and nothing is printed for a half-read set of files.

Example::

    run_report(["runs/add.json"])   # prints the rows, the parse rate, the hidden pass rate and the AUROC
    run_report(["nope.json"])       # UsageError: cannot read tree file nope.json: it does not exist
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from core.cli import UsageError
from core.reward_report import report
from core.tree import Tree, TreeFormatError
from core.tree_io import load_tree_file


def load_trees(paths: list[str]) -> list[Tree]:
    if not paths:
        raise UsageError("no tree files given: name one or more tree JSON files")
    trees = []
    for path in paths:
        if not Path(path).is_file():
            raise UsageError(f"cannot read tree file {path}: it does not exist or is not a file")
        try:
            trees.append(load_tree_file(path))
        except TreeFormatError as exc:
            raise UsageError(f"cannot read tree file {path}: {exc}") from None
    return trees


def run_report(paths: list[str], out: TextIO = sys.stdout) -> int:
    """Load every file, then print the report of all of them together; returns the exit status 0."""
    out.write(report(load_trees(paths)).to_text())
    return 0
