"""Tree files: bad input is refused with one clear line; a good file round-trips byte for byte."""

from __future__ import annotations

import json

import pytest

from core.tree.files import load_tree_file, save_tree_file
from core.tree.nodes import TreeFormatError
from tests.scripted import ScriptedBackend


@pytest.fixture
def tree(make_search):
    search = make_search(ScriptedBackend(), reflection=True, rollout=True, end_gate=1.0)
    search.run(4)
    search.prune(search.tree.root.children[0])
    return search.tree


def refused(path, pattern: str) -> str:
    with pytest.raises(TreeFormatError, match=pattern) as info:
        load_tree_file(path)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_round_trip_is_byte_exact(tree, tmp_path):
    first = save_tree_file(tree, tmp_path / "t.json")
    again = load_tree_file(first)
    second = save_tree_file(again, tmp_path / "u.json")
    assert first.read_bytes() == second.read_bytes() == tree.to_json().encode("utf-8")
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]  # no temp file left behind


def test_save_replaces_an_existing_file_atomically(tree, tmp_path):
    path = tmp_path / "t.json"
    path.write_text("old")
    save_tree_file(tree, path)
    assert load_tree_file(path).to_json() == tree.to_json()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.json"]


def test_malformed_json(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"schema": "sra-tree/1",\n "nodes": [1, 2,,]}')
    refused(path, r"^not valid JSON: .* at line 2$")


@pytest.mark.parametrize(
    ("doc", "found"),
    [({"schema": "other/1"}, "found 'other/1'"), ([1, 2, 3], "found a JSON list"), ({}, "found None")],
)
def test_another_schema(tmp_path, doc, found):
    path = tmp_path / "other.json"
    path.write_text(json.dumps(doc))
    message = refused(path, r"^not a search tree of schema 'sra-tree/1'")
    assert found in message


def test_non_utf8(tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes('{"schema": "café"}'.encode("latin-1"))
    refused(path, r"^not UTF-8 text: byte 0xe9 at offset 15$")


def test_over_the_size_limit_is_refused_before_reading(tmp_path, monkeypatch):
    path = tmp_path / "huge.json"
    with path.open("wb") as f:
        f.truncate(51 * 1024 * 1024)  # sparse: instant to make
    opened = []
    monkeypatch.setattr(type(path), "open", lambda *a, **k: opened.append(a) or pytest.fail("read"))
    refused(path, r"^file is 51\.0 MB; the limit is 50 MB$")
    assert not opened
    monkeypatch.undo()
    with pytest.raises(TreeFormatError, match=r"limit is 0\.5 MB"):
        load_tree_file(path, max_bytes=512 * 1024)


def test_missing_file(tmp_path):
    refused(tmp_path / "nope.json", r"^cannot read .*nope\.json: No such file or directory$")


def damage(tree, how: str) -> dict:
    doc = tree.to_dict()
    nodes = {n["id"]: n for n in doc["nodes"]}
    some = next(n for n in doc["nodes"] if n["children"] and n["id"] != 0)
    if how == "missing key":
        del doc["usage"]
    elif how == "missing child":
        some["children"].append(999)
    elif how == "parent mismatch":
        nodes[some["children"][0]]["parent"] = 0
    elif how == "depth":
        nodes[some["children"][0]]["depth"] += 1
    elif how == "orphan":
        child = nodes[some["children"][0]]
        some["children"].remove(child["id"])
        child["parent"] = None
    elif how == "repeated id":
        doc["nodes"].append(dict(some))
    elif how == "no root":
        doc["nodes"] = [n for n in doc["nodes"] if n["id"] != 0]
    elif how == "bad node":
        doc["nodes"][1] = "a string"
    return doc


@pytest.mark.parametrize(
    ("how", "pattern"),
    [
        ("missing key", r'"usage" is missing'),
        ("missing child", r"lists child 999, which does not exist"),
        ("parent mismatch", r"whose parent is 0|which does not list it"),
        ("depth", r"is at depth \d+, its parent at \d+"),
        ("orphan", r"has no parent but is not the root"),
        ("repeated id", r"node ids repeat"),
        ("no root", r"no root node"),
        ("bad node", r'nodes\[1\]: it must be an object, got "a string"'),
    ],
)
def test_damaged_tree(tree, tmp_path, how, pattern):
    path = tmp_path / "damaged.json"
    path.write_text(json.dumps(damage(tree, how)))
    message = refused(path, pattern)
    assert message.startswith("damaged search tree: ")


def test_validate_accepts_live_trees(tree):
    tree.validate()


def test_a_client_file_cannot_vouch_for_its_own_code(make_search, tmp_path):
    from core.tree.files import distrust_code

    search = make_search(ScriptedBackend(), exec_weight=0.5, end_gate=1.0)
    search.run(1)
    doc = json.loads(search.tree.to_json())
    for node in doc["nodes"]:
        if node["code"]:
            node["code"]["uploaded"] = False  # the file says "trust me"
    path = tmp_path / "t.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    tree = distrust_code(load_tree_file(path))
    coded = [n for n in tree.nodes.values() if n.code is not None]
    assert coded and all(n.code.uploaded for n in coded)
