"""Does the critic tell the truth? Critic values set against hidden-test verdicts, per tree or many.

Why: the search climbs whatever the critic rewards. The hidden tests never enter
the reward, so they are the fair witness: a node whose critic value is high but
whose code fails them shows where the reward misleads the search. This module
only reads trees; it changes nothing and calls no model.

A row is a node with both a critic record and a hidden verdict. The figures are
the critic's parse rate (over every critic reply of the trees, not only rows),
the share of rows that pass the hidden tests, and the AUROC of the critic value
as a predictor of a hidden pass: the chance that a random passing row scores
above a random failing one, ties counting one half (Mann-Whitney U).

Example::

    rep = report([tree_a, tree_b])
    # four rows with critic values 0.9, 0.8, 0.3, 0.2 and hidden passes T, F, F, T:
    # pairs (pass, fail) = (0.9>0.8), (0.9>0.3), (0.2<0.8), (0.2<0.3) -> 2 of 4 -> AUROC 0.5
    rep.auroc                       # 0.5
    [(r.problem_id, r.node_id) for r in rep.confident_wrong]   # the 0.8 fail, then the 0.2 pass
    print(rep.to_text())
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from core.tree.nodes import Tree
from core.tree.queries import latest_run

HIGH = 0.8  # a critic value at or above this claims "this works"
LOW = 0.2  # ... at or below this claims "this is wrong"
NO_ROWS = "no node has hidden-test results: run with --exec-weight or ask for code on nodes"


@dataclass
class ReportRow:
    """One node with both a critic record and a hidden-test verdict."""

    problem_id: str
    node_id: int
    depth: int
    critic_score: float | None  # 0..10 as the model said it; None when unparsed
    critic_value: float  # in [0, 1]; an unparsed reply carries the config's unparsed_value
    critic_parsed: bool
    hidden_pass: bool
    hidden_rate: float
    visible_rate: float | None  # None when the problem has no visible tests
    reward: float
    critic_expected: float | None = None  # the distribution's expected score / 10; None without log-probs

    @property
    def text_value(self) -> float:
        """The sampled reply's score in [0, 1] (an unparsed reply: the value it was given)."""
        return self.critic_score / 10 if self.critic_score is not None else self.critic_value

    @property
    def confidence(self) -> float:
        """How far the critic is from undecided: 0 at 0.5, 1 at 0 or 1."""
        return abs(self.critic_value - 0.5) * 2

    @property
    def confidently_wrong(self) -> bool:
        return (self.critic_value >= HIGH and not self.hidden_pass) or (
            self.critic_value <= LOW and self.hidden_pass
        )


@dataclass
class RewardReport:
    rows: list[ReportRow]
    trees: int
    critic_replies: int
    critic_parsed: int
    auroc: float | None
    auroc_note: str  # why the AUROC is None ("" when it is a number)
    confident_wrong: list[ReportRow] = field(default_factory=list)
    auroc_text: float | None = None  # of the sampled reply's score alone
    auroc_distribution: float | None = None  # of the expected score, over the rows that have one
    distribution_rows: int = 0

    @property
    def parse_rate(self) -> float | None:
        return self.critic_parsed / self.critic_replies if self.critic_replies else None

    @property
    def hidden_pass_rate(self) -> float | None:
        return sum(r.hidden_pass for r in self.rows) / len(self.rows) if self.rows else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "trees": self.trees,
            "critic_replies": self.critic_replies,
            "critic_parsed": self.critic_parsed,
            "parse_rate": self.parse_rate,
            "rows": [asdict(r) for r in self.rows],
            "hidden_pass_rate": self.hidden_pass_rate,
            "auroc": self.auroc,
            "auroc_note": self.auroc_note,
            "auroc_text": self.auroc_text,
            "auroc_distribution": self.auroc_distribution,
            "distribution_rows": self.distribution_rows,
            "confident_wrong": [
                {"problem_id": r.problem_id, "node_id": r.node_id, "critic_value": r.critic_value}
                for r in self.confident_wrong
            ],
        }

    def to_text(self) -> str:
        """A plain-text table of the rows, then the figures, then the confident-and-wrong nodes."""
        lines = []
        if self.rows:
            head = ("problem", "node", "depth", "score", "value", "hidden", "h.rate", "v.rate", "reward")
            body = [
                (
                    r.problem_id,
                    f"#{r.node_id}",
                    str(r.depth),
                    "unparsed" if r.critic_score is None else f"{r.critic_score:g}",
                    f"{r.critic_value:.2f}",
                    "pass" if r.hidden_pass else "FAIL",
                    _pct(r.hidden_rate),
                    _pct(r.visible_rate),
                    f"{r.reward:.2f}",
                )
                for r in self.rows
            ]
            widths = [max(len(x) for x in col) for col in zip(head, *body, strict=True)]
            for cells in (head, *body):
                lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
            lines.append("")
        else:
            lines.append(NO_ROWS)
        rate = self.parse_rate
        parsed = f"{self.critic_parsed}/{self.critic_replies} replies"
        lines.append(f"Trees: {self.trees}   rows: {len(self.rows)}")
        lines.append(f"Critic parse rate: {_pct(rate)} ({parsed})")
        passed = sum(r.hidden_pass for r in self.rows)
        lines.append(f"Hidden pass rate: {_pct(self.hidden_pass_rate)} ({passed}/{len(self.rows)} rows)")
        auroc = f"n/a ({self.auroc_note})" if self.auroc is None else f"{self.auroc:.3f}"
        lines.append(f"AUROC (critic value -> hidden pass): {auroc}")
        lines.append(f"AUROC of the sampled score alone: {_num(self.auroc_text)}")
        lines.append(
            f"AUROC of the score distribution's mean: {_num(self.auroc_distribution)}"
            f" ({self.distribution_rows} rows with log-probabilities)"
        )
        if self.rows:
            rule = f"value >= {HIGH} and fails, or <= {LOW} and passes"
            lines.append(f"Confident and wrong ({rule}): {len(self.confident_wrong)}")
            for r in self.confident_wrong:
                verdict = "passes" if r.hidden_pass else "fails"
                lines.append(
                    f"  {r.problem_id} node #{r.node_id}: value {r.critic_value:.2f}, hidden {verdict}"
                )
        return "\n".join(lines) + "\n"


def report(trees: Sequence[Tree]) -> RewardReport:
    """Collect the rows of every tree (in tree order, then node id) and compute the figures."""
    rows = [row for tree in trees for row in tree_rows(tree)]
    auroc, note = auroc_of(rows)
    with_dist = [r for r in rows if r.critic_expected is not None]
    wrong = sorted(
        (r for r in rows if r.confidently_wrong), key=lambda r: (-r.confidence, r.problem_id, r.node_id)
    )
    return RewardReport(
        rows=rows,
        trees=len(trees),
        critic_replies=sum(t.usage.critic_replies for t in trees),
        critic_parsed=sum(t.usage.critic_parsed for t in trees),
        auroc=auroc,
        auroc_note=note,
        confident_wrong=wrong,
        auroc_text=auroc_of(rows, key=lambda r: r.text_value)[0],
        auroc_distribution=auroc_of(with_dist, key=lambda r: r.critic_expected)[0],
        distribution_rows=len(with_dist),
    )


def tree_rows(tree: Tree) -> list[ReportRow]:
    rows = []
    for node in sorted(tree.nodes.values(), key=lambda n: n.id):
        ex = latest_run(node)
        if node.critic is None or ex is None or ex.hidden is None:
            continue
        rows.append(
            ReportRow(
                problem_id=tree.problem.id,
                node_id=node.id,
                depth=node.depth,
                critic_score=node.critic.score if node.critic.parsed else None,
                critic_value=node.critic.value,
                critic_parsed=node.critic.parsed,
                hidden_pass=ex.hidden.passed,
                hidden_rate=ex.hidden.pass_rate,
                visible_rate=ex.visible.pass_rate if ex.visible is not None else None,
                reward=ex.reward,
                critic_expected=node.critic.expected / 10 if node.critic.expected is not None else None,
            )
        )
    return rows


def auroc_of(
    rows: Sequence[ReportRow], key: Callable[[ReportRow], float] = lambda r: r.critic_value
) -> tuple[float | None, str]:
    """Mann-Whitney AUROC of ``key`` (the critic's value) for hidden pass, by average ranks (ties count one half).

    Returns (None, reason) when the rows do not hold both classes.
    """
    if not rows:
        return None, NO_ROWS
    n_pos = sum(r.hidden_pass for r in rows)
    n_neg = len(rows) - n_pos
    if n_pos == 0 or n_neg == 0:
        verb = "fail" if n_pos == 0 else "pass"
        if len(rows) == 1:
            return (
                None,
                f"the 1 row {verb}{'s' if verb == 'fail' else 'es'} the hidden tests: AUROC needs both classes",
            )
        return None, f"all {len(rows)} rows {verb} the hidden tests: AUROC needs both classes"
    return rank_auroc([key(r) for r in rows], [r.hidden_pass for r in rows]), ""


def rank_auroc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """Mann-Whitney AUROC of ``scores`` for ``labels`` by average ranks (ties count one half); None
    without both classes."""
    pos = sum(labels)
    neg = len(labels) - pos
    if not pos or not neg:
        return None
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    rank_sum = 0.0  # sum of the 1-based average ranks of the positive rows
    i = 0
    while i < len(order):
        j = i
        while j < len(order) and scores[order[j]] == scores[order[i]]:
            j += 1
        rank_sum += (i + 1 + j) / 2 * sum(labels[order[k]] for k in range(i, j))  # ranks i+1..j share
        i = j
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0%}"
