"""Value checks for a tree file from anywhere: every field's type and range, before any object is built.

Why: :meth:`Tree.validate` checks the shape (links, depths, ids), but a client's file can be
sound in shape and still carry values that the search, the store and the UI trust: visits of
-3, a value of NaN or 7.5, a step that is a number, an unknown event kind, JSON nested 500 deep
in an event. :func:`check_document` refuses each with ONE line that names the node (or event)
and the field, as a :class:`TreeFormatError`, like the loader's other refusals.

The types come from the dataclasses themselves (``Node``, the records, ``Usage``, ``Problem``,
``Event``), so a new field is checked as soon as it exists; :data:`RULES` adds what a type
cannot say (ranges and closed sets), one row per field. The config goes through its own
validation (``SearchConfig.from_dict``).

Example::

    check_document(json.loads(text))   # None, or for instance:
    # TreeFormatError: damaged search tree: node 7: "visits" must be a non-negative integer, got -3
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.config import ConfigError, SearchConfig
from core.execution.sandbox import ERROR_KINDS
from core.problems.problem import SOURCES, Problem
from core.tree import records as r
from core.tree.events import Event
from core.tree.nodes import SCHEMA, Node, TreeFormatError
from core.tree.stops import BUDGET_STOPS, FINAL_STOPS

MAX_INT = 2**53 - 1  # beyond it the tree view (JavaScript) and SQLite's INTEGER lose it
MAX_NESTING = 32  # free-form JSON (an event's data): ours is a few levels deep


@dataclass(frozen=True)
class Rule:
    """What a field's value must be beyond its type; ``what`` names a good value in the message."""

    what: str
    ok: Callable[[Any], bool]


def one_of(*values: Any) -> Rule:
    return Rule("one of " + ", ".join(json.dumps(v) for v in values), lambda v: v in values)


COUNT = Rule("a non-negative integer", lambda v: v >= 0)
SECONDS = Rule("a non-negative finite number", lambda v: v >= 0)
UNIT = Rule("a finite number in [0, 1]", lambda v: 0 <= v <= 1)
SCORE = Rule("a finite number in [0, 10]", lambda v: 0 <= v <= 10)
CALL = {"tokens": COUNT, "latency_s": SECONDS}  # every record of an LLM call has these

# (record type, field) -> rule; a rule on a list or an object applies to each element or value.
RULES: dict[type, dict[str, Rule]] = {
    Node: {
        "id": COUNT,
        "parent": COUNT,
        "depth": COUNT,
        "origin": one_of("root", "policy", "human"),
        "created_iteration": COUNT,
        "children": COUNT,
        "value": UNIT,
        "visits": COUNT,
        "terminal_reason": one_of(
            "", "reflection", "end_gate", "max_depth", "no_new_steps", "refuted", "one_shot"
        ),
    },
    r.CriticRecord: {
        **CALL,
        "score": SCORE,
        "value": UNIT,
        "distribution": UNIT,
        "expected": SCORE,
        "source": one_of("text", "distribution"),
    },
    r.ReflectionRecord: CALL,
    r.DroppedStep: {"reason": one_of("unusable", "in_path", "echo", "duplicate")},
    r.ExpansionRecord: {**CALL, "iteration": COUNT, "kept": COUNT, "attempts": COUNT},
    r.RolloutRecord: {"iteration": COUNT, "best": UNIT, "before": UNIT, "after": UNIT, "weight": UNIT},
    r.UCBRecord: {
        "iteration": COUNT,
        "value": UNIT,
        "explore": SECONDS,
        "bonus": SECONDS,
        "total": SECONDS,
        "parent_visits": COUNT,
        "visits": COUNT,
    },
    r.BackpropEntry: {"iteration": COUNT, "value": UNIT, "visits": COUNT},
    r.CodeRecord: {**CALL, "source": one_of("fenced", "unfenced", "truncated_fence", "none")},
    r.VerdictSummary: {
        "pass_rate": UNIT,
        "tests": COUNT,
        "failed": COUNT,
        "error_kind": one_of(*ERROR_KINDS),
        "duration_s": SECONDS,
    },
    r.ExecutionRecord: {"critic_value": UNIT, "weight": UNIT, "reward": UNIT},
    r.Usage: {
        **{f.name: COUNT for f in dataclasses.fields(r.Usage) if f.type == "int"},
        "llm_seconds": SECONDS,
        "by_role": COUNT,
    },
    Problem: {"source": one_of(*SOURCES)},
    Event: {"seq": COUNT, "iteration": COUNT, "node": COUNT},
}

# The document itself: key -> its type (the config is checked by SearchConfig; "stats" is derived).
TOP: dict[str, Any] = {
    "schema": str,
    "problem": Problem,
    "config": SearchConfig,
    "model": dict[str, str],
    "iteration": int,
    "next_id": int,
    "stopped": str,
    "stats": dict[str, Any],
    "usage": r.Usage,
    "nodes": list,  # each checked by check_document, which names the node
    "events": list,
}
TOP_RULES = {
    "iteration": COUNT,
    "next_id": COUNT,
    "stopped": one_of("", *sorted(BUDGET_STOPS | FINAL_STOPS)),
}


class Refused(Exception):
    """One bad value: the field's path in its node (or event, or the file) and what it should be."""

    def __init__(self, path: str, what: str, value: Any = None, got: str | None = None) -> None:
        super().__init__(path)
        self.path, self.what = path, what
        self.got = got if got is not None else f"got {shown(value)}"


def check_document(doc: dict[str, Any]) -> None:
    """Raise :class:`TreeFormatError` (one line) unless every value of the tree file is of its type and range."""
    try:
        _check_top(doc)
    except Refused as exc:
        raise _error("", exc) from None
    for i, raw in enumerate(doc["nodes"]):
        where = f"node {raw['id']}" if _is_count(raw, "id") else f"nodes[{i}]"
        try:
            _check_value(raw, Node, "", None)
            _check_node(raw, doc["config"])
        except Refused as exc:
            raise _error(where, exc) from None
    for i, raw in enumerate(doc["events"]):
        try:
            _check_value(raw, Event, "", None)
            if raw["seq"] != i:
                raise Refused("seq", f"{i} (its place in the event log)", raw["seq"])
        except Refused as exc:
            raise _error(f"event {i}", exc) from None


def _check_top(doc: dict[str, Any]) -> None:
    unknown = sorted(set(doc) - set(TOP))
    if unknown:
        raise Refused(unknown[0], "", got="is not a field of a search tree")
    for key, kind in TOP.items():
        if key not in doc:
            if key == "stats":
                continue
            raise Refused(key, "", got="is missing")
        if key == "schema":
            if doc[key] != SCHEMA:  # the loader says "not a search tree" before it calls this
                raise Refused(key, json.dumps(SCHEMA), doc[key])
        elif kind is SearchConfig:
            try:
                SearchConfig.from_dict(doc[key])
            except (ConfigError, TypeError, ValueError) as exc:
                raise Refused(key, "", got=f"is not a valid config: {exc}") from None
        else:
            _check_value(doc[key], kind, key, TOP_RULES.get(key))


def _check_node(raw: dict[str, Any], config: dict[str, Any]) -> None:
    """What the types cannot say about a node: the root's origin, and no deeper than the search goes."""
    is_root = raw["id"] == 0
    if (raw["origin"] == "root") != is_root:
        raise Refused(
            "origin", '"root"' if is_root else '"policy" or "human" (only node 0 is the root)', raw["origin"]
        )
    max_depth = config.get("max_depth", SearchConfig.max_depth)
    if raw["depth"] > max_depth:
        raise Refused("depth", f"at most the config's max_depth ({max_depth})", raw["depth"])
    for name in ("execution", "check"):
        for side in ("visible", "hidden"):
            verdict = (raw.get(name) or {}).get(side)
            if verdict and verdict["failed"] > verdict["tests"]:
                raise Refused(
                    f"{name}.{side}.failed", f"at most tests ({verdict['tests']})", verdict["failed"]
                )


def _check_value(value: Any, kind: Any, path: str, rule: Rule | None) -> None:
    """``value`` (parsed JSON) against the annotated type ``kind``; raise :class:`Refused` at the first misfit."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return
        [inner] = [a for a in args if a is not type(None)]
        try:
            _check_value(value, inner, path, rule)
        except Refused as exc:
            if exc.path == path and type(None) in args:  # the value itself, not one inside it
                exc.what += " or null"
            raise
        return
    if origin in (list, tuple) or kind is list:
        if not isinstance(value, list):
            raise Refused(path, "a list", value)
        for i, item in enumerate(value if args else ()):  # a bare list: its items are checked one by one
            _check_value(item, args[0], f"{path}[{i}]", rule)
        return
    if origin is dict:
        if not isinstance(value, dict):
            raise Refused(path, "an object", value)
        for key, item in value.items():
            _check_value(item, args[1], f"{path}.{key}", rule)
        return
    if kind is Any:
        _check_nesting(value, path)
        return
    if dataclasses.is_dataclass(kind):
        _check_record(value, kind, path)
        return
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        if value not in {e.value for e in kind}:
            raise Refused(path, one_of(*(e.value for e in kind)).what, value)
        return
    if not _of_type(value, kind):
        raise Refused(path, rule.what if rule else NOUNS[kind], value)
    if rule is not None and not rule.ok(value):
        raise Refused(path, rule.what, value)


def _check_record(value: Any, kind: type, path: str) -> None:
    if not isinstance(value, dict):
        raise Refused(path, "an object", value)
    fields = {f.name: f for f in dataclasses.fields(kind)}
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise Refused(_join(path, unknown[0]), "", got=f"is not a field of {_record_name(kind)}")
    hints, rules = _hints(kind), RULES.get(kind, {})
    for name, f in fields.items():
        sub = _join(path, name)
        if name not in value:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise Refused(sub, "", got="is missing")
            continue
        _check_value(value[name], hints[name], sub, rules.get(name))


def _check_nesting(value: Any, path: str) -> None:
    todo = [(value, 1)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, dict | list):
            if depth > MAX_NESTING:
                raise Refused(path, "", got=f"is nested more than {MAX_NESTING} levels deep")
            todo.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
        elif isinstance(item, float) and not math.isfinite(item):
            raise Refused(path, "", got=f"holds {shown(item)}, which is not a finite number")


NOUNS = {int: "an integer", float: "a finite number", str: "a string", bool: "true or false"}


def _of_type(value: Any, kind: type) -> bool:
    if kind is bool or isinstance(value, bool):
        return kind is bool and isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and abs(value) <= MAX_INT
    if kind is float:
        return isinstance(value, int | float) and math.isfinite(value)
    return isinstance(value, kind)


def _is_count(raw: Any, key: str) -> bool:
    return isinstance(raw, dict) and _of_type(raw.get(key), int) and raw[key] >= 0


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(kind: type) -> dict[str, Any]:
    if kind not in _HINTS:
        _HINTS[kind] = typing.get_type_hints(kind)
    return _HINTS[kind]


def _record_name(kind: type) -> str:
    return {Node: "a node", Event: "an event", Problem: "a problem"}.get(kind, f"a {kind.__name__}")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def shown(value: Any) -> str:
    """A value as the message quotes it: JSON, short; containers by their kind."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def _error(where: str, exc: Refused) -> TreeFormatError:
    field = f'"{exc.path}"' if exc.path else "it"
    verb = f"must be {exc.what}, {exc.got}" if exc.what else exc.got
    return TreeFormatError(f"damaged search tree: {where + ': ' if where else ''}{field} {verb}")
