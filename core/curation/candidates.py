"""Curation: the paths of a run worth a human's judgement, and that judgement.

Why: a search leaves many nodes behind, but a training set wants whole
reasoning paths, each with its code, its scores and where it came from. A
:class:`CandidatePath` freezes one such path (so that a decision still says
what was judged after the tree moves on), and a :class:`Decision` records an
annotator's accept / reject / skip, with an optional edit that never
overwrites the original.

Example::

    paths = candidate_paths(search.tree, run_id="run-7")   # terminal paths + the best path
    d = Decision(paths[0], "accept", annotator="ada", edited_code="def add(a, b):\\n    return a + b")
    d.steps == paths[0].steps and d.code.startswith("def add")   # True
    sibling_paths(search.tree, paths[0].node_id, run_id="run-7")  # weaker branches: DPO negatives
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from core.problems.problem import Problem
from core.tree.nodes import Node, Tree
from core.tree.queries import best_node, latest_run
from core.tree.records import VerdictSummary, to_plain

DECISIONS = ("accept", "reject", "skip")


@dataclass(frozen=True)
class StepLabel:
    """The search's judgement of one step prefix: the node that ends it, its value and critic value."""

    node_id: int
    value: float
    critic: float | None  # the critic's value in [0, 1]; None when the node was never critiqued


@dataclass(frozen=True)
class CandidatePath:
    """One root-to-node path of one run, with everything an export needs to stay traceable."""

    run_id: str
    problem: Problem
    node_id: int
    steps: list[str]
    code: str  # "" when no code was written for this node
    value: float
    critic_score: float | None  # the critic's value in [0, 1] of the last step
    visible: VerdictSummary | None  # the sandbox verdict on the visible tests, if the code was run
    hidden: VerdictSummary | None
    provenance: dict[str, Any]  # model, backend, adapter, seed, config_hash
    labels: list[StepLabel] = field(default_factory=list)  # one per step, root excluded

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self) | {"problem": self.problem.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CandidatePath:
        values = dict(d)
        values["problem"] = Problem.from_dict(values["problem"])
        for key in ("visible", "hidden"):
            if values.get(key) is not None:
                values[key] = VerdictSummary(**values[key])
        values["labels"] = [StepLabel(**x) for x in values.get("labels", [])]
        return cls(**values)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Decision:
    """An annotator's verdict on a path; ``edited_*`` replace the original only in exports."""

    path: CandidatePath
    decision: str  # "accept" | "reject" | "skip"
    comment: str = ""
    edited_steps: list[str] | None = None
    edited_code: str | None = None
    annotator: str = "anonymous"
    created_at: str = field(default_factory=_now)

    def __post_init__(self) -> None:
        if self.decision not in DECISIONS:
            raise ValueError(f"decision must be one of {DECISIONS}, got {self.decision!r}")
        if self.edited_steps is not None and not all(isinstance(s, str) for s in self.edited_steps):
            raise ValueError("edited_steps must be a list of strings")

    @property
    def steps(self) -> list[str]:
        """The steps an export uses: the annotator's edit when there is one."""
        return list(self.edited_steps) if self.edited_steps is not None else list(self.path.steps)

    @property
    def code(self) -> str:
        return self.edited_code if self.edited_code is not None else self.path.code

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self) | {"path": self.path.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Decision:
        return cls(**{**d, "path": CandidatePath.from_dict(d["path"])})


def provenance(tree: Tree) -> dict[str, Any]:
    return {
        "model": tree.model.get("model_id", ""),
        "backend": tree.model.get("backend", ""),
        "adapter": tree.model.get("adapter"),
        "seed": tree.config.seed,
        "config_hash": tree.config.digest(),
    }


def path_of(tree: Tree, node_id: int, run_id: str, *, direct: bool = False) -> CandidatePath:
    """Freeze the path that ends at ``node_id`` into a :class:`CandidatePath`.

    ``direct``: the root may be taken too when it has code (the direct program, no reasoning steps),
    as a grounded search answers with it when it passes the examples and no path does.
    """
    node = tree.node(node_id)
    if node.depth == 0 and not (direct and node.code is not None):
        raise ValueError("the root is not a reasoning path")
    execution = latest_run(node)
    return CandidatePath(
        run_id=run_id,
        problem=tree.problem,
        node_id=node.id,
        steps=tree.steps(node.id),
        code=node.code.code if node.code is not None else "",
        value=node.value,
        critic_score=node.critic.value if node.critic is not None else None,
        visible=execution.visible if execution is not None else None,
        hidden=execution.hidden if execution is not None else None,
        provenance=provenance(tree),
        labels=[
            StepLabel(n.id, n.value, n.critic.value if n.critic is not None else None)
            for n in tree.path(node.id)[1:]
        ],
    )


def _live(tree: Tree, node: Node) -> bool:
    return node.depth > 0 and not node.stale and not tree.in_pruned_subtree(node.id)


def candidate_paths(tree: Tree, run_id: str) -> list[CandidatePath]:
    """The run's best path first, then its other finished paths by value (high first), without repeats.

    A finished path ends at a terminal node that did not just run out of new steps.
    """
    ends = [
        n
        for n in tree.nodes.values()
        if _live(tree, n) and n.terminal and n.terminal_reason != "no_new_steps"
    ]
    ends.sort(key=lambda n: (-n.value, n.id))
    best = best_node(tree)
    if best.depth > 0:
        ends = [best, *(n for n in ends if n.id != best.id)]
    return [path_of(tree, n.id, run_id) for n in ends]


def _greedy_end(tree: Tree, node: Node) -> Node:
    """Follow the highest-valued live child down to a leaf: how the search would continue the branch."""
    while True:
        kids = [tree.nodes[c] for c in node.children if _live(tree, tree.nodes[c])]
        if not kids:
            return node
        node = max(kids, key=lambda n: (n.value, -n.id))


def sibling_paths(tree: Tree, node_id: int, *, run_id: str = "", margin: float = 0.1) -> list[CandidatePath]:
    """Branches that left the path to ``node_id`` and did worse by at least ``margin``, worst first.

    Each branch starts at a sibling of a node on the path and is followed greedily to its leaf; its value
    is that leaf's. Stale and pruned branches are left out (their text no longer fits the tree).
    """
    target = tree.node(node_id)
    on_path = {n.id for n in tree.path(node_id)}
    ends: dict[int, Node] = {}
    for anchor in tree.path(node_id)[:-1]:
        for cid in anchor.children:
            child = tree.nodes[cid]
            if cid in on_path or not _live(tree, child):
                continue
            end = _greedy_end(tree, child)
            if end.value <= target.value - margin:
                ends[end.id] = end
    ordered = sorted(ends.values(), key=lambda n: (n.value, n.id))
    return [path_of(tree, n.id, run_id) for n in ordered]
