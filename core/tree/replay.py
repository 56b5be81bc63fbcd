"""Rebuild a tree as it stood right after a given iteration, from what the tree itself stores.

Why: the UI's time slider shows how the search grew and how steering changed
it, without re-running any LLM call. Everything comes from three stores that
the engine already keeps: each node's ``created_iteration``, its backprop
``history`` and the event log (each event stamped with its iteration).

Example::

    search.run(5)
    early = tree_at(search.tree, 2)          # a deep copy: the live tree is untouched
    early.iteration, len(early.nodes)        # (2, nodes that existed after iteration 2)
    iterations(search.tree)                  # 5, the slider's maximum

Exact: structure, step texts, Q and visits, the pruned/forced/stale/terminal/expanded
flags, critic score/parsed/value, and the parse rate. Steering done after
iteration k is stamped k, so it is part of ``tree_at(tree, k)``.

Not kept by the engine, so approximated here:

- A record later replaced (a critic record replaced by an edit, a reflection,
  expansion or code record replaced by a later call) becomes a placeholder
  built from its event: scores and flags are right, but prompt and raw reply
  are empty and ``note`` says so. Expansion placeholders lose the dropped steps.
- UCB terms are kept only for a node's latest selection: a node whose latest
  record is after k gets ``ucb=None``.
- ``usage`` keeps only the critic counts (so the parse rate is exact); calls,
  tokens and seconds are zero before the last iteration, since they are not
  stored per iteration.
- ``config`` is the latest one (``extend_budget`` changes it without an event),
  and ``stopped`` is inferred from STOPPED events and what reopens a search.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from core.tree.events import Event, EventKind
from core.tree.nodes import Node, Tree
from core.tree.records import CodeRecord, CriticRecord, ExpansionRecord, ReflectionRecord, Usage
from core.tree.stops import REOPENED_BY_FORCE

NOT_KEPT = "not kept: replaced by a later call (iteration {})"


def iterations(tree: Tree) -> int:
    """The last completed iteration: the maximum of a replay slider (its minimum is 0)."""
    return tree.iteration


def tree_at(tree: Tree, iteration: int) -> Tree:
    """A deep copy of ``tree`` as it stood right after ``iteration`` (0: before the first one)."""
    last = iterations(tree)
    if isinstance(iteration, bool) or not isinstance(iteration, int):
        raise ValueError(f"iteration must be an integer, got {iteration!r}")
    if not 0 <= iteration <= last:
        raise ValueError(f"iteration {iteration} is out of range: this tree has iterations 0..{last}")
    events = [e for e in tree.events if e.iteration <= iteration]
    later = [e for e in tree.events if e.iteration > iteration]
    keep = [n for n in tree.nodes.values() if n.created_iteration <= iteration or n.id == 0]
    out = Tree(
        problem=tree.problem,  # frozen
        config=tree.config,  # frozen
        model=dict(tree.model),
        nodes={n.id: Node.from_dict(n.to_dict()) for n in keep},  # exact, and faster than deepcopy
        events=[Event(e.seq, e.iteration, e.kind, e.node, copy.deepcopy(e.data)) for e in events],
        iteration=iteration,
        next_id=max(n.id for n in keep) + 1,
        usage=copy.deepcopy(tree.usage),
        stopped=tree.stopped,
    )
    for node in out.nodes.values():
        node.children = [c for c in node.children if c in out.nodes]
    now, after, steering = _by_node(out.events), _by_node(later), _steering_scores(out.events)
    for node in out.nodes.values():
        _rewind_records(node, iteration, now.get(node.id, []), after.get(node.id, []))
        _rewind_stats(node, iteration, now.get(node.id, []), steering)
    stopped = _replay_flags(out)
    if iteration < last:
        out.stopped = stopped
        out.usage = _usage(out, iteration)
    # A wave logs its iterations' events interleaved (all selections, then all reflections, ...), so the
    # events up to a mid-wave iteration need not be a prefix of the log: number them as a log of their own.
    for seq, event in enumerate(out.events):
        event.seq = seq
    return out


def _by_node(events: list[Event]) -> dict[int, list[Event]]:
    out: dict[int, list[Event]] = {}
    for e in events:
        if e.node is not None:
            out.setdefault(e.node, []).append(e)
    return out


def _steering_scores(events: list[Event]) -> set[int]:
    """Seqs of the EVALUATED and EXECUTED events made by steering.

    Steering scores a node (EVALUATED, then in a grounded search CODE and EXECUTED for the same node)
    and then logs its EDITED or ADDED; the search's own scoring is never followed by those.
    """
    out: set[int] = set()
    pending: list[Event] = []
    for e in events:
        if e.kind is EventKind.EVALUATED:
            pending = [e]
        elif pending and e.node == pending[0].node and e.kind in (EventKind.CODE, EventKind.EXECUTED):
            pending.append(e)
        else:
            if pending and e.kind in (EventKind.EDITED, EventKind.ADDED) and e.node == pending[0].node:
                out.update(x.seq for x in pending)
            pending = []
    return out


@dataclass(frozen=True)
class _Mark:
    """A change of a node's value, ordered as it happened within its iteration stamp."""

    key: tuple[int, int, int]  # (iteration, phase, position)
    value: float


def _rewind_stats(node: Node, iteration: int, events: list[Event], steering: set[int]) -> None:
    """Q and visits: the last value change at or before ``iteration``.

    Within one stamp the search evaluates (phase 0), rolls out (1), then backs up
    (2); steering stamped with the same number comes after all of it (3). Backprop
    history has no event, so these phases order it against the events.
    """
    marks = [_Mark((h.iteration, 2, i), h.value) for i, h in enumerate(node.history)]
    for e in events:
        if e.kind is EventKind.EVALUATED:
            marks.append(_Mark((e.iteration, 3 if e.seq in steering else 0, e.seq), e.data["value"]))
        elif e.kind is EventKind.EXECUTED and e.data.get("applied", True):
            # grounding sets V to the reward right after the critic, before any rollout
            marks.append(_Mark((e.iteration, 3 if e.seq in steering else 0, e.seq), e.data["reward"]))
        elif e.kind is EventKind.ROLLOUT:
            marks.append(_Mark((e.iteration, 1, e.seq), e.data["after"]))
    node.history = [h for h in node.history if h.iteration <= iteration]
    node.visits = node.history[-1].visits if node.history else 0
    kept = [m for m in marks if m.key[0] <= iteration]
    node.value = max(kept, key=lambda m: m.key).value if kept else 0.0


def _rewind_records(node: Node, iteration: int, events: list[Event], later: list[Event]) -> None:
    """Keep a record if no later call replaced it; else a placeholder from its event (or None).

    ``events`` and ``later``: this node's events up to ``iteration`` and after it.
    """

    def mine(kind: EventKind, log: list[Event]) -> list[Event]:
        return [e for e in log if e.kind is kind]

    for attr, kind, stub in (
        ("critic", EventKind.EVALUATED, _critic_stub),
        ("reflection", EventKind.REFLECTED, _reflection_stub),
        ("code", EventKind.CODE, _code_stub),
    ):
        before, after = mine(kind, events), mine(kind, later)
        if getattr(node, attr) is not None and (not before or after):
            setattr(node, attr, stub(before[-1], after[0].iteration) if before else None)
    if node.expansion is not None and node.expansion.iteration > iteration:
        before = mine(EventKind.EXPANDED, events)
        node.expansion = _expansion_stub(before[-1]) if before else None
    for attr, by_hand in (("execution", False), ("check", True)):
        record = getattr(node, attr)
        runs = [e for e in mine(EventKind.EXECUTED, events) if e.data.get("check", False) == by_hand]
        later_runs = [e for e in mine(EventKind.EXECUTED, later) if e.data.get("check", False) == by_hand]
        if record is not None and (not runs or later_runs):
            setattr(node, attr, None)  # run after this iteration, or replaced since: not kept
    if node.rollout is not None and node.rollout.iteration > iteration:
        node.rollout = None  # a node is rolled out at most once: in the iteration that made it
    if node.ucb is not None and node.ucb.iteration > iteration:
        node.ucb = None


def _replay_flags(tree: Tree) -> str:
    """Set each node's flags and step text by replaying the kept events; return ``stopped``."""
    nodes = tree.nodes
    for node in nodes.values():  # start from each node as it was made, then apply the log
        if node.original_step is not None:
            node.step = node.original_step
        node.original_step = None
        node.pruned = node.forced = node.stale = node.terminal = node.expanded = False
        node.terminal_reason = ""
    stopped = ""
    for e in tree.events:
        node = nodes.get(e.node) if e.node is not None else None
        kind = e.kind
        if kind is EventKind.SELECTED and node is not None:
            node.forced, stopped = False, ""
        elif kind is EventKind.EXPANDED and node is not None:
            node.expanded = True
        elif kind is EventKind.TERMINAL and node is not None:
            node.terminal, node.terminal_reason = True, e.data.get("reason", "")
        elif kind is EventKind.PRUNED and node is not None:
            node.pruned, node.forced = True, False
        elif kind is EventKind.UNPRUNED and node is not None:
            node.pruned = False
        elif kind is EventKind.FORCED and node is not None:
            for other in nodes.values():
                other.forced = False
            node.forced = True
            stopped = "" if stopped in REOPENED_BY_FORCE else stopped
        elif kind is EventKind.EDITED and node is not None:
            if node.original_step is None:
                node.original_step = e.data["old_step"]
            node.step = e.data["new_step"]
            node.expanded = node.terminal = False
            node.terminal_reason = ""
            for sid in e.data.get("stale", []):
                if sid in nodes:
                    nodes[sid].stale, nodes[sid].forced = True, False
        elif kind is EventKind.ADDED:
            parent = nodes.get(e.data.get("parent"))
            if parent is not None:
                parent.terminal, parent.terminal_reason = False, ""
            stopped = "" if stopped == "exhausted" else stopped
        elif kind is EventKind.STOPPED:
            stopped = e.data.get("reason", "stopped")
    return stopped


def _usage(tree: Tree, iteration: int) -> Usage:
    """Critic reply counts up to ``iteration``: node evaluations plus rollout candidates."""
    usage = Usage()
    for e in tree.events:
        if e.kind is EventKind.EVALUATED:
            usage.critic_replies += 1
            usage.critic_parsed += int(bool(e.data.get("parsed")))
    for node in tree.nodes.values():
        if node.rollout is not None and node.rollout.iteration <= iteration:
            usage.critic_replies += len(node.rollout.candidates)
            usage.critic_parsed += sum(c.critic.parsed for c in node.rollout.candidates)
    return usage


def _critic_stub(e: Event, replaced_at: int) -> CriticRecord:
    parsed = bool(e.data.get("parsed"))
    method = "(not kept)" if parsed else "unparsed"
    score, value = e.data.get("score"), e.data["value"]
    return CriticRecord("", "", score, parsed, method, NOT_KEPT.format(replaced_at), value, 0, 0.0)


def _reflection_stub(e: Event, replaced_at: int) -> ReflectionRecord:
    is_end, parsed = bool(e.data.get("is_end")), bool(e.data.get("parsed"))
    return ReflectionRecord("", "", is_end, "", parsed, NOT_KEPT.format(replaced_at), 0, 0.0)


def _expansion_stub(e: Event) -> ExpansionRecord:
    return ExpansionRecord(e.iteration, "", [], list(e.data.get("children", [])), [], 0, 0.0)


def _code_stub(e: Event, replaced_at: int) -> CodeRecord:
    source, truncated = e.data.get("source", ""), bool(e.data.get("truncated"))
    return CodeRecord("", "", "", source, truncated, NOT_KEPT.format(replaced_at), 0, 0.0)
