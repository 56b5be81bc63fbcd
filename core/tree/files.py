"""Load and save search-tree files safely: size-capped, strictly checked, written atomically.

Why: a tree file may come from anywhere (an upload, an old run, a hand edit).
Loading refuses, with one clear line in a :class:`~core.tree.nodes.TreeFormatError`
(a ``ValueError``), anything that is too big (checked before it is read),
not UTF-8, not JSON, not of this tree schema, structurally damaged, or holding a
value out of its type or range (:mod:`core.tree.checks`: ``node 7: "visits" must be a
non-negative integer, got -3``). Saving
writes a temp file next to the target and renames it over, so a crash never
leaves half a tree behind.

Example::

    save_tree_file(search.tree, "runs/add.json")
    tree = load_tree_file("runs/add.json")           # the same tree; saving it again gives the same bytes
    load_tree_file("notes.json")                     # TreeFormatError: not a search tree of schema ...
"""

from __future__ import annotations

import json
from pathlib import Path

from core.atomic import write_atomic
from core.tree.checks import check_document
from core.tree.nodes import SCHEMA, Tree, TreeFormatError

MB = 1024 * 1024
DEFAULT_MAX_BYTES = 50 * MB


def _mb(n: int) -> str:
    return f"{n / MB:.1f}".removesuffix(".0") + " MB"


def _fail(msg: str) -> TreeFormatError:
    return TreeFormatError(" ".join(str(msg).split()))  # always one line


def read_capped(path: Path, max_bytes: int) -> bytes:
    """The file's bytes, refused from its size alone when it is over ``max_bytes``."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise _fail(f"file is {size / MB:.1f} MB; the limit is {_mb(max_bytes)}")
        with path.open("rb") as f:
            data = f.read(max_bytes + 1)  # a file that grew (or lied about its size) is still capped
    except OSError as exc:
        raise _fail(f"cannot read {path}: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:
        raise _fail(f"file is over the limit of {_mb(max_bytes)}")
    return data


def parse_tree(data: bytes) -> Tree:
    """Bytes of a tree file to a checked :class:`Tree`."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(f"not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start}") from exc
    try:
        doc = json.loads(text.removeprefix("\ufeff"))
    except json.JSONDecodeError as exc:
        raise _fail(f"not valid JSON: {exc.msg} at line {exc.lineno}") from exc
    except RecursionError as exc:
        raise _fail("not valid JSON: nested too deeply") from exc
    if not isinstance(doc, dict):
        raise _fail(f"not a search tree of schema {SCHEMA!r} (found a JSON {type(doc).__name__})")
    if doc.get("schema") != SCHEMA:
        raise _fail(f"not a search tree of schema {SCHEMA!r} (found {doc.get('schema')!r})")
    check_document(doc)  # every value of its type and range: the shape is checked below
    try:
        tree = Tree.from_dict(doc)
        if len(tree.nodes) != len(doc["nodes"]):
            raise _fail("damaged search tree: some node ids repeat")
        tree.validate()
    except TreeFormatError as exc:
        raise _fail(str(exc)) from exc
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise _fail(f"damaged search tree: {type(exc).__name__}: {exc}") from exc
    return tree


def load_tree_file(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> Tree:
    """Read a tree file; any problem is a one-line :class:`TreeFormatError`."""
    return parse_tree(read_capped(Path(path), max_bytes))


def save_tree_file(tree: Tree, path: str | Path) -> Path:
    """Write ``tree`` atomically (temp file in the same folder, fsync, ``os.replace``)."""
    tree.validate()  # never write a tree that could not be loaded back
    return write_atomic(path, tree.to_json())


def distrust_code(tree: Tree) -> Tree:
    """Mark every node's code as uploaded, whatever the file said: it is shown, never executed.

    For trees from a client (the studio's upload). The search treats uploaded code as absent
    and writes the path's code afresh with the model before any test runs.
    """
    for node in tree.nodes.values():
        if node.code is not None:
            node.code.uploaded = True
    return tree
