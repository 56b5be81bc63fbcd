"""The headless reward report: ``python launch.py report runs/a.json runs/b.json``.

Why: whether the critic predicts the hidden tests is a question about many
runs at once, so it is asked of saved tree files, with no model loaded. A
missing or damaged file is a :class:`~cli.search.UsageError` (one line, exit
status 2), and nothing is printed for a half-read set of files.

Example::

    run_report(["runs/add.json"])   # prints the rows, the parse rate, the hidden pass rate and the AUROC
    run_report(["nope.json"])       # UsageError: cannot read tree file nope.json: it does not exist
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from cli.common import load_trees
from core.evaluation.reward import report


def run_report(paths: list[str], out: TextIO = sys.stdout) -> int:
    """Load every file, then print the report of all of them together; returns the exit status 0."""
    out.write(report(load_trees(paths)).to_text())
    return 0


NAME = "report"
HELP = "how well the critic predicts the hidden tests, over saved tree files"


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("trees", nargs="+", metavar="TREE_JSON", help="tree files written by search --out")


def run(args: argparse.Namespace) -> int:
    return run_report(args.trees)
