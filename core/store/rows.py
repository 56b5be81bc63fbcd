"""How the store writes a node's row cheaply: a change signature, and JSON that re-encodes only what is new.

An autosave runs after every iteration, and at 2,000 nodes its cost is not the
SQL but the Python: finding the ~20 nodes that changed among all of them, and
encoding those as JSON. The nodes on the selected path change every time, and
each carries its backprop history, which grows by one entry per visit: the
root's holds one entry per iteration. History is append-only, so
:class:`NodeEncoder` keeps the text of each node's history and encodes only the
entries added since; everything else is encoded afresh. The text is exactly what
``dumps(node.to_dict())`` parses to (key order aside), so ``Node.from_dict`` reads
it back unchanged.

Example::

    encoder, saved = NodeEncoder(), {}
    ...                                                   # an iteration
    changed, saved = changed_nodes(tree.nodes.values(), saved)
    rows = [encoder.dumps(("run1", n.id), n) for n in changed]   # only new history entries are encoded
"""

from __future__ import annotations

import dataclasses
import json
import operator
from collections.abc import Iterable
from typing import Any

from core.tree.nodes import Node


def dumps(obj: Any) -> str:
    """Compact JSON; dataclasses (records) become their fields, in order, as ``to_plain`` makes them."""
    return json.dumps(obj, default=_fields, ensure_ascii=False, separators=(",", ":"))


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _fields(obj: Any) -> dict[str, Any]:
    """json's hook for what it cannot encode: a dataclass's fields (its C encoder does the nesting)."""
    cls = type(obj)
    names = _FIELD_NAMES.get(cls)
    if names is None:
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"{cls.__name__} is not JSON serializable")
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return {name: getattr(obj, name) for name in names}


_LISTS = tuple(f.name for f in dataclasses.fields(Node) if f.default_factory is list)
_SCALARS = operator.attrgetter(*(f.name for f in dataclasses.fields(Node) if f.name not in _LISTS))
_LIST_VALUES = operator.attrgetter(*_LISTS)  # children and history: two names, so it returns a tuple
_HEAD = tuple(f.name for f in dataclasses.fields(Node) if f.name != "history")


def signature(node: Node) -> tuple:
    """What decides whether a node must be rewritten: its fields, with copies of its lists.

    Records (critic, ucb, ...) are replaced by the search, never changed in place,
    so holding the record objects is enough; comparing is cheap (identity first).
    """
    return (_SCALARS(node), *map(list, _LIST_VALUES(node)))


def changed_nodes(nodes: Iterable[Node], saved: dict[int, tuple]) -> tuple[list[Node], dict[int, tuple]]:
    """The nodes that differ from their ``saved`` signatures, and every node's signature once they are written.

    Every save runs this over every node, so a node is compared through a view of its
    live fields (attrgetter, in C) and copied into a new signature only when it changed.
    """
    changed, after = [], {}
    for node in nodes:
        old = saved.get(node.id)
        if old is not None and old == (_SCALARS(node), *_LIST_VALUES(node)):
            after[node.id] = old
        else:
            after[node.id] = signature(node)
            changed.append(node)
    return changed, after


class NodeEncoder:
    """Node JSON that keeps each node's encoded history and appends to it (a memo: any text it holds is right)."""

    def __init__(self) -> None:
        self._history: dict[tuple[str, int], tuple[tuple, str]] = {}  # -> (entries, their JSON array)

    def dumps(self, key: tuple[str, int], node: Node) -> str:
        entries = tuple(node.history)
        known, text = self._history.get(key, ((), "[]"))
        if entries[: len(known)] != known:  # rewritten, not appended to (e.g. a re-scored subtree)
            known, text = (), "[]"
        if len(entries) > len(known):
            added = dumps(entries[len(known) :])
            text = added if not known else f"{text[:-1]},{added[1:]}"
        self._history[key] = (entries, text)
        head = dumps({name: getattr(node, name) for name in _HEAD})
        return f'{head[:-1]},"history":{text}}}'
