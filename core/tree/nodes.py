"""The search tree: nodes with their stats and records, the event log, and JSON I/O.

Each tree owns its id counter (no class-level state), so any number of trees
can live side by side. ``Tree.to_json()`` and ``Tree.from_json()`` round-trip
exactly: saving a loaded tree gives the same bytes.

Example::

    tree = Tree.new(problem, SearchConfig(), model={"backend": "transformers", "model_id": "embedded"})
    child = tree.add_child(tree.root.id, "Sort the list first.", origin="policy", iteration=1)
    Tree.from_json(tree.to_json()).to_json() == tree.to_json()   # True
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from core.config import SearchConfig
from core.problems.problem import Problem
from core.tree.events import Event, EventKind
from core.tree.records import (
    BackpropEntry,
    CodeRecord,
    CriticRecord,
    ExecutionRecord,
    ExpansionRecord,
    ReflectionRecord,
    RolloutRecord,
    UCBRecord,
    Usage,
    from_plain,
    to_plain,
)

SCHEMA = "sra-tree/1"


class TreeFormatError(ValueError):
    """A JSON document is not a tree this version can read."""


@dataclass
class Node:
    id: int
    parent: int | None
    depth: int
    step: str  # one natural-language reasoning step; "" for the root
    origin: str  # "root" | "policy" | "human"
    created_iteration: int
    children: list[int] = field(default_factory=list)
    value: float = 0.0  # Q: the critic value, blended with rollout, then backed up
    visits: int = 0
    expanded: bool = False  # has been expanded since its step last changed
    terminal: bool = False
    terminal_reason: str = ""  # "reflection" | "end_gate" | "max_depth" | "no_new_steps" | "refuted"
    pruned: bool = False  # set on the node the user pruned; its subtree inherits it
    forced: bool = False
    stale: bool = False  # an ancestor's step was edited after this node was made
    original_step: str | None = None  # the policy's text before the first edit
    critic: CriticRecord | None = None
    reflection: ReflectionRecord | None = None
    expansion: ExpansionRecord | None = None
    rollout: RolloutRecord | None = None
    ucb: UCBRecord | None = None
    code: CodeRecord | None = None
    execution: ExecutionRecord | None = None  # what the search ran and took as the node's value
    check: ExecutionRecord | None = None  # the latest run by hand ("Code & tests"): shown, never used
    history: list[BackpropEntry] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Node:
        values = dict(d)
        for name, kind in (
            ("critic", CriticRecord),
            ("reflection", ReflectionRecord),
            ("expansion", ExpansionRecord),
            ("rollout", RolloutRecord),
            ("ucb", UCBRecord),
            ("code", CodeRecord),
            ("execution", ExecutionRecord),
            ("check", ExecutionRecord),
        ):
            values[name] = from_plain(kind, values.get(name))
        values["history"] = [BackpropEntry(**h) for h in values.get("history", [])]
        return cls(**values)


def own_status(node: Node) -> str:
    """A node's status from its own flags, ignoring pruned ancestors (``Tree.status`` adds those)."""
    if node.pruned:
        return "pruned"
    if node.stale:
        return "stale"
    if node.forced:
        return "forced"
    return "terminal" if node.terminal else "open"


@dataclass
class Tree:
    problem: Problem
    config: SearchConfig
    model: dict[str, str]
    nodes: dict[int, Node]
    events: list[Event] = field(default_factory=list)
    iteration: int = 0  # completed iterations
    next_id: int = 1
    usage: Usage = field(default_factory=Usage)
    stopped: str = ""  # why the search ended: "end_gate", "exhausted", "budget", ... ("" while running)
    # (database, run id) -> the run's version there when this tree was loaded from it or last saved
    # to it: the store refuses a save from a tree that missed a newer one. Not part of the JSON.
    stored_versions: dict[tuple[str, str], int] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    @classmethod
    def new(cls, problem: Problem, config: SearchConfig, model: dict[str, str]) -> Tree:
        root = Node(id=0, parent=None, depth=0, step="", origin="root", created_iteration=0)
        return cls(problem=problem, config=config, model=dict(model), nodes={0: root})

    @property
    def root(self) -> Node:
        return self.nodes[0]

    def node(self, node_id: int) -> Node:
        try:
            return self.nodes[node_id]
        except KeyError:
            raise KeyError(f"node {node_id} does not exist in this tree") from None

    def add_child(self, parent_id: int, step: str, *, origin: str, iteration: int) -> Node:
        parent = self.node(parent_id)
        child = Node(
            id=self.next_id,
            parent=parent.id,
            depth=parent.depth + 1,
            step=step,
            origin=origin,
            created_iteration=iteration,
        )
        self.next_id += 1
        self.nodes[child.id] = child
        parent.children.append(child.id)
        return child

    def path(self, node_id: int) -> list[Node]:
        """Root first, ``node_id`` last."""
        out = []
        node: Node | None = self.node(node_id)
        while node is not None:
            out.append(node)
            node = self.nodes[node.parent] if node.parent is not None else None
        return out[::-1]

    def steps(self, node_id: int) -> list[str]:
        return [n.step for n in self.path(node_id)[1:]]

    def subtree(self, node_id: int) -> list[Node]:
        out, todo = [], [node_id]
        while todo:
            node = self.node(todo.pop())
            out.append(node)
            todo.extend(reversed(node.children))
        return out

    def in_pruned_subtree(self, node_id: int) -> bool:
        return any(n.pruned for n in self.path(node_id))

    def status(self, node_id: int) -> str:
        """One word for display: pruned > stale > forced > terminal > open."""
        return "pruned" if self.in_pruned_subtree(node_id) else own_status(self.node(node_id))

    def log(self, kind: EventKind, node: int | None, iteration: int | None = None, **data: Any) -> Event:
        event = Event(len(self.events), self.iteration if iteration is None else iteration, kind, node, data)
        self.events.append(event)
        return event

    def validate(self) -> None:
        """Raise :class:`TreeFormatError` (one line) unless the structure is consistent.

        Checks: a root 0 without parent at depth 0; each node stored under its own
        id; parent and children links agree both ways, without repeats; depth is
        the parent's plus one (so parents lead every node back to the root, and no
        cycle can hide); ``next_id`` is past every id; events name existing nodes.
        """

        def bad(msg: str) -> TreeFormatError:
            return TreeFormatError(f"damaged search tree: {msg}")

        root = self.nodes.get(0)
        if root is None:
            raise bad("it has no root node (id 0)")
        if root.parent is not None or root.depth != 0:
            raise bad(f"the root has parent {root.parent!r} and depth {root.depth!r} (expected None and 0)")
        for key, node in self.nodes.items():
            if key != node.id:
                raise bad(f"node {node.id!r} is stored under id {key!r}")
            if len(set(node.children)) != len(node.children):
                raise bad(f"node {key} lists a child twice")
            for cid in node.children:
                child = self.nodes.get(cid)
                if child is None:
                    raise bad(f"node {key} lists child {cid!r}, which does not exist")
                if child.parent != key:
                    raise bad(f"node {key} lists child {cid}, whose parent is {child.parent!r}")
            if node.parent is None:
                if key != 0:
                    raise bad(f"node {key} has no parent but is not the root")
                continue
            parent = self.nodes.get(node.parent)
            if parent is None:
                raise bad(f"node {key} has parent {node.parent!r}, which does not exist")
            if key not in parent.children:
                raise bad(f"node {key} has parent {node.parent}, which does not list it as a child")
            if node.depth != parent.depth + 1:
                raise bad(f"node {key} is at depth {node.depth!r}, its parent at {parent.depth!r}")
        if self.next_id <= max(self.nodes):
            raise bad(f"next_id {self.next_id} is not past the largest node id {max(self.nodes)}")
        for e in self.events:
            if e.node is not None and e.node not in self.nodes:
                raise bad(f"event {e.seq} names node {e.node!r}, which does not exist")

    # --- JSON -----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "problem": self.problem.to_dict(),
            "config": self.config.to_dict(),
            "model": self.model,
            "iteration": self.iteration,
            "next_id": self.next_id,
            "stopped": self.stopped,
            "stats": {
                "nodes": len(self.nodes),
                "parse_rate": self.usage.parse_rate,
            },
            "usage": to_plain(self.usage),
            "nodes": [n.to_dict() for n in self.nodes.values()],
            "events": [e.to_dict() for e in self.events],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, d: Any) -> Tree:
        if not isinstance(d, dict):
            raise TreeFormatError("not a search tree: the JSON is not an object")
        schema = d.get("schema")
        if schema != SCHEMA:
            raise TreeFormatError(f"not a search tree of schema {SCHEMA!r} (found {schema!r})")
        try:
            nodes = {n["id"]: Node.from_dict(n) for n in d["nodes"]}
            tree = cls(
                problem=Problem.from_dict(d["problem"]),
                config=SearchConfig.from_dict(d["config"]),
                model=dict(d["model"]),
                nodes=nodes,
                events=[Event.from_dict(e) for e in d["events"]],
                iteration=d["iteration"],
                next_id=d["next_id"],
                usage=Usage(**d["usage"]),
                stopped=d["stopped"],
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise TreeFormatError(f"damaged search tree: {type(exc).__name__}: {exc}") from exc
        if 0 not in tree.nodes:
            raise TreeFormatError("damaged search tree: it has no root node (id 0)")
        return tree

    @classmethod
    def from_json(cls, text: str) -> Tree:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TreeFormatError(f"not valid JSON: {exc.msg} at line {exc.lineno}") from exc
        return cls.from_dict(data)
