"""The headless export: ``python launch.py export runs/a.json runs/b.json --out exports/v1``.

Why: a batch of saved searches should become a training set without opening
the studio. Each tree file is one run (its file name, without ``.json``, is
the run id); the paths are accepted by a rule instead of a person, and the
annotator is recorded as that rule's name (``cli`` by default). Bad input is a
one-line :class:`~cli.search.UsageError`.

Example::

    run_export(["runs/add.json"], "exports/v1")                      # the best path of each tree
    run_export(["runs/add.json"], "exports/v2", accept="terminal")   # every finished path
    run_export(["nope.json"], "exports/v3")   # UsageError: cannot read tree file nope.json: ...
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from cli.common import UsageError, load_trees
from core.curation.candidates import Decision, candidate_paths
from core.curation.exports import FORMATS, export_dataset, validate_export
from core.tree.nodes import Tree

ACCEPT_RULES = ("best", "terminal")
FIXED_TIME = (
    "1970-01-01T00:00:00+00:00"  # rule decisions have no moment; a fixed one keeps exports reproducible
)


def rule_decisions(tree: Tree, run_id: str, accept: str, annotator: str) -> list[Decision]:
    """Accept the best path (``best``) or every finished path (``terminal``); reject none."""
    paths = candidate_paths(tree, run_id)
    if accept == "terminal":
        tree_ends = {n.id for n in tree.nodes.values() if n.terminal}
        paths = [p for p in paths if p.node_id in tree_ends]
    else:
        paths = paths[:1]
    return [
        Decision(p, "accept", comment=f"rule: {accept}", annotator=annotator, created_at=FIXED_TIME)
        for p in paths
    ]


def run_export(
    tree_paths: list[str],
    out_dir: str,
    *,
    accept: str = "best",
    formats: Iterable[str] = FORMATS,
    annotator: str = "cli",
    out: TextIO | None = None,
) -> int:
    """Export the trees' paths by rule into ``out_dir``, print the counts, return the exit status 0."""
    if accept not in ACCEPT_RULES:
        raise UsageError(f"--accept must be one of {', '.join(ACCEPT_RULES)}, got {accept!r}")
    formats = tuple(formats)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise UsageError(f"unknown export format {unknown[0]!r}; known: {', '.join(FORMATS)}")
    if not out_dir:
        raise UsageError("no output folder given: use --out DIR")
    if Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise UsageError(f"cannot export into {out_dir}: it is a file")
    trees = load_trees(tree_paths)
    run_ids = [Path(p).name.removesuffix(".json") for p in tree_paths]
    if len(set(run_ids)) != len(run_ids):
        raise UsageError("two tree files have the same name; their run ids would clash")
    decisions = [
        d for t, r in zip(trees, run_ids, strict=True) for d in rule_decisions(t, r, accept, annotator)
    ]
    summary = export_dataset(decisions, out_dir, formats, trees=dict(zip(run_ids, trees, strict=True)))
    problems = validate_export(out_dir)
    if problems:  # our own output should always be valid: say so loudly if not
        raise UsageError(f"the export in {out_dir} did not validate: {problems[0]}")
    counts = ", ".join(f"{k} {v}" for k, v in summary.counts.items())
    (out or sys.stdout).write(
        f"exported {len(decisions)} accepted paths from {len(trees)} trees into {out_dir}: {counts}\n"
    )
    return 0


NAME = "export"
HELP = "turn saved tree files into training files (SFT, DPO, PRM, datasets)"


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("trees", nargs="+", metavar="TREE_JSON", help="tree files written by search --out")
    p.add_argument("--out", required=True, help="the export folder; each file in it is replaced atomically")
    p.add_argument(
        "--accept",
        choices=ACCEPT_RULES,
        default="best",
        help="accept the best path of each tree (default) or every finished path",
    )
    p.add_argument("--formats", default="sft,alpaca,reference,dpo,prm,hf", help="comma-separated formats")
    p.add_argument("--annotator", default="cli", help="the name recorded as annotator in each record's meta")


def run(args: argparse.Namespace) -> int:
    formats = [f for f in args.formats.split(",") if f]
    return run_export(args.trees, args.out, accept=args.accept, formats=formats, annotator=args.annotator)
