"""The reward report on scripted trees with hand-made hidden verdicts: every figure is known exactly."""

from __future__ import annotations

import dataclasses
import io
import random
from itertools import product

import pytest

from cli.report import run_report
from cli.search import UsageError
from core.evaluation.reward import NO_ROWS, ReportRow, auroc_of, report
from core.search.mcts import Search
from core.tree.files import save_tree_file
from core.tree.records import ExecutionRecord, VerdictSummary
from tests.scripted import ScriptedBackend


def verdict(passed: bool, rate: float | None = None) -> VerdictSummary:
    rate = (1.0 if passed else 0.0) if rate is None else rate
    return VerdictSummary(
        passed, rate, 4, 0 if passed else 2, None, "" if passed else "assert f(1) == 2", 0.01
    )


def searched(make_search, problem, steps: list[str], problem_id: str = "custom/toy") -> Search:
    """One iteration from the root: one child per step, scored by the "(score N)" in its text."""
    backend = ScriptedBackend(proposals=[steps])
    search = make_search(backend, k=len(steps), max_iterations=1)
    search.tree.problem = dataclasses.replace(problem, id=problem_id)
    search.step()
    assert len(search.tree.root.children) == len(steps)
    return search


def attach(search: Search, passes: list[bool | None], visible: bool = True) -> None:
    """Give the root's children (in order) a hidden verdict; None leaves a child without one."""
    for cid, passed in zip(search.tree.root.children, passes, strict=True):
        if passed is None:
            continue
        node = search.tree.nodes[cid]
        value = node.critic.value
        node.execution = ExecutionRecord(
            visible=verdict(True) if visible else None,
            hidden=verdict(passed),
            critic_value=value,
            weight=0.5,
            reward=0.5 * value + 0.5,
            leaky=False,
        )


@pytest.fixture
def half(make_search, problem) -> Search:
    """Values 0.9 / 0.8 / 0.3 / 0.2 with hidden pass T / F / F / T: AUROC exactly 0.5."""
    search = searched(make_search, problem, [f"Step {s} (score {s})" for s in (9, 8, 3, 2)])
    attach(search, [True, False, False, True])
    return search


def test_half_auroc_rows_and_confident_wrong(half):
    rep = report([half.tree])
    assert [r.critic_value for r in rep.rows] == [0.9, 0.8, 0.3, 0.2]
    assert [r.critic_score for r in rep.rows] == [9.0, 8.0, 3.0, 2.0]
    assert [r.depth for r in rep.rows] == [1, 1, 1, 1]
    assert rep.auroc == 0.5 and rep.auroc_note == ""
    assert rep.hidden_pass_rate == 0.5
    assert rep.parse_rate == 1.0 and rep.critic_replies == 4
    # 0.8 fails and 0.2 passes, equally confident: listed by node id; 0.9 passing is right, 0.3 too mild
    assert [(r.problem_id, r.node_id) for r in rep.confident_wrong] == [("custom/toy", 2), ("custom/toy", 4)]
    d = rep.to_dict()
    assert d["auroc"] == 0.5 and len(d["rows"]) == 4 and d["rows"][0]["visible_rate"] == 1.0
    assert d["confident_wrong"][0] == {"problem_id": "custom/toy", "node_id": 2, "critic_value": 0.8}


def test_perfect_auroc_across_two_trees(make_search, problem):
    a = searched(make_search, problem, ["Try A (score 9)", "Try B (score 3)"], "custom/a")
    b = searched(make_search, problem, ["Try C (score 7)", "Try D (score 2)", "Try E"], "custom/b")
    attach(a, [True, False])
    attach(b, [True, False, None], visible=False)  # E: unparsed, and no hidden verdict, so no row
    rep = report([a.tree, b.tree])
    assert [(r.problem_id, r.node_id) for r in rep.rows] == [("custom/a", 1), ("custom/a", 2)] + [
        ("custom/b", 1),
        ("custom/b", 2),
    ]
    assert rep.auroc == 1.0
    assert (rep.critic_parsed, rep.critic_replies) == (4, 5)  # parse rate counts every reply, not only rows
    assert rep.parse_rate == 0.8
    assert rep.rows[2].visible_rate is None
    assert rep.confident_wrong == []


def test_unparsed_rows_tie_counts_half(make_search, problem):
    # Two unparsed replies take unparsed_value 0.0; one passes, one fails: their pair counts 1/2.
    search = searched(make_search, problem, ["Good (score 9)", "Vague one", "Vague two"])
    attach(search, [True, True, False])
    rep = report([search.tree])
    assert [r.critic_score for r in rep.rows] == [9.0, None, None]
    assert [r.critic_parsed for r in rep.rows] == [True, False, False]
    assert rep.auroc == 0.75  # pairs (0.9 vs 0.0 fail) = 1, (0.0 pass vs 0.0 fail) = 1/2 -> 1.5 / 2
    assert rep.parse_rate == pytest.approx(1 / 3)
    assert [r.node_id for r in rep.confident_wrong] == [2]  # value 0.0 yet passes
    assert "unparsed" in rep.to_text()


def test_one_class_gives_reason(make_search, problem):
    search = searched(make_search, problem, [f"Go {s} (score {s})" for s in (9, 5, 1)])
    attach(search, [False, False, False])
    rep = report([search.tree])
    assert rep.auroc is None
    assert rep.auroc_note == "all 3 rows fail the hidden tests: AUROC needs both classes"
    assert rep.hidden_pass_rate == 0.0
    assert "AUROC (critic value -> hidden pass): n/a (all 3 rows fail" in rep.to_text()
    attach(search, [True, None, None])
    assert auroc_of(report([search.tree]).rows[:1])[1].startswith("the 1 row passes the hidden tests")


def test_no_rows(make_search, problem):
    search = searched(make_search, problem, ["Only (score 6)"])
    rep = report([search.tree])
    assert rep.rows == [] and rep.auroc is None and rep.auroc_note == NO_ROWS
    assert rep.hidden_pass_rate is None and rep.parse_rate == 1.0
    assert rep.to_text().startswith(NO_ROWS)
    assert report([]).parse_rate is None


def row(value: float, passed: bool) -> ReportRow:
    return ReportRow("p", 0, 1, value * 10, value, True, passed, float(passed), None, value)


def test_auroc_matches_pairwise_count():
    rng = random.Random(3)
    for _ in range(200):
        rows = [
            row(rng.choice([0.0, 0.2, 0.5, 0.7, 1.0]), rng.random() < 0.5) for _ in range(rng.randint(2, 12))
        ]
        pos = [r.critic_value for r in rows if r.hidden_pass]
        neg = [r.critic_value for r in rows if not r.hidden_pass]
        if not pos or not neg:
            continue
        wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in product(pos, neg))
        assert auroc_of(rows)[0] == pytest.approx(wins / (len(pos) * len(neg)))


def test_run_report_prints_figures(tmp_path, half, make_search, problem):
    other = searched(make_search, problem, ["Plan (score 7)", "Mumble"], "custom/b")
    attach(other, [True, False])
    paths = [
        str(save_tree_file(half.tree, tmp_path / "a.json")),
        str(save_tree_file(other.tree, tmp_path / "b.json")),
    ]
    out = io.StringIO()
    assert run_report(paths, out=out) == 0
    text = out.getvalue()
    # rows: 0.9 T, 0.8 F, 0.3 F, 0.2 T, 0.7 T, 0.0 F -> pass pairs won: 0.9:3, 0.2:1, 0.7:2 = 6 of 9
    assert "Trees: 2   rows: 6" in text
    assert "Critic parse rate: 83% (5/6 replies)" in text
    assert "Hidden pass rate: 50% (3/6 rows)" in text
    assert "AUROC (critic value -> hidden pass): 0.667" in text
    assert "custom/toy node #2: value 0.80, hidden fails" in text
    assert text.splitlines()[0].split()[:3] == ["problem", "node", "depth"]


def test_run_report_bad_files(tmp_path):
    with pytest.raises(UsageError, match="missing.json: it does not exist"):
        run_report([str(tmp_path / "missing.json")], out=io.StringIO())
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(UsageError, match=r"bad.json: not valid JSON") as info:
        run_report([str(bad)], out=io.StringIO())
    assert "\n" not in str(info.value)
    with pytest.raises(UsageError, match="no tree files"):
        run_report([], out=io.StringIO())


def test_launch_report_subcommand_prints_the_figures_and_rejects_a_missing_file(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    missing = subprocess.run(
        [sys.executable, "launch.py", "report", str(tmp_path / "nope.json")],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (
        missing.returncode == 2 and missing.stderr.startswith("error: ") and "Traceback" not in missing.stderr
    )
