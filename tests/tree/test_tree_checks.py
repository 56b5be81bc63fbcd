"""Tree files are checked for values, not only for shape: one bad field, one line naming the node and the field.

A sound file (a real search: reflection, rollout, code run on the visible tests, steering)
is damaged one field at a time; each must be refused with the line given here, which names
the node (or event) and the field. And every tree the search makes must still load.
"""

from __future__ import annotations

import copy
import json

import pytest

from core.config import SearchConfig
from core.problems.problem import get_problem
from core.search.mcts import Search
from core.tree.files import load_tree_file, parse_tree, save_tree_file
from core.tree.nodes import TreeFormatError
from core.tree.replay import tree_at
from tests.scripted import ScriptedBackend


@pytest.fixture(scope="module")
def sound() -> dict:
    """A tree file's document, and the id of a node that has every record (critic, code, run, ...)."""
    config = SearchConfig(reflection=True, rollout=True, exec_weight=0.5, end_gate=1.0, max_iterations=4)
    search = Search.start(get_problem("HumanEval/0"), config, ScriptedBackend())
    search.run()
    search.add_step(
        0, "Compare every pair of numbers and return True when two are closer than the threshold."
    )
    doc = json.loads(search.tree.to_json())
    full = next(
        n for n in doc["nodes"] if all(n[k] for k in ("critic", "expansion", "ucb", "rollout", "execution"))
    )
    assert full["children"] and full["history"] and full["execution"]["visible"]
    return {"doc": doc, "id": full["id"]}


def node(doc: dict, node_id: int) -> dict:
    return next(n for n in doc["nodes"] if n["id"] == node_id)


def nested(levels: int) -> dict:
    value: dict = {}
    for _ in range(levels):
        value = {"x": value}
    return value


def set_path(target: dict, path: str, value) -> None:
    *heads, last = path.split(".")
    for key in heads:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value


# (what is damaged, where: "node" (the full node), "root", "event 1" or "top", path, new value, the line after
# "damaged search tree: "; {id} is the damaged node's id)
CASES = [
    ("negative visits", "node", "visits", -3, 'node {id}: "visits" must be a non-negative integer, got -3'),
    ("string visits", "node", "visits", "3", 'node {id}: "visits" must be a non-negative integer, got "3"'),
    (
        "boolean visits",
        "node",
        "visits",
        True,
        'node {id}: "visits" must be a non-negative integer, got true',
    ),
    (
        "fractional visits",
        "node",
        "visits",
        2.5,
        'node {id}: "visits" must be a non-negative integer, got 2.5',
    ),
    (
        "huge visits",
        "node",
        "visits",
        10**20,
        'node {id}: "visits" must be a non-negative integer, got 100000000000000000000',
    ),
    (
        "NaN value",
        "node",
        "value",
        float("nan"),
        'node {id}: "value" must be a finite number in [0, 1], got NaN',
    ),
    ("value 7.5", "node", "value", 7.5, 'node {id}: "value" must be a finite number in [0, 1], got 7.5'),
    (
        "infinite value",
        "node",
        "value",
        float("inf"),
        'node {id}: "value" must be a finite number in [0, 1], got Infinity',
    ),
    ("non-string step", "node", "step", 42, 'node {id}: "step" must be a string, got 42'),
    ("string flag", "node", "pruned", "yes", 'node {id}: "pruned" must be true or false, got "yes"'),
    (
        "bad origin",
        "node",
        "origin",
        "robot",
        'node {id}: "origin" must be one of "root", "policy", "human", got "robot"',
    ),
    (
        "a second root",
        "node",
        "origin",
        "root",
        'node {id}: "origin" must be "policy" or "human" (only node 0 is the root), got "root"',
    ),
    (
        "bad terminal reason",
        "node",
        "terminal_reason",
        "bored",
        'node {id}: "terminal_reason" must be one of "", "reflection", "end_gate", "max_depth", "no_new_steps",'
        ' "refuted", "one_shot", got "bored"',
    ),
    (
        "negative iteration",
        "node",
        "created_iteration",
        -1,
        'node {id}: "created_iteration" must be a non-negative integer, got -1',
    ),
    (
        "parent not a number",
        "node",
        "parent",
        "0",
        'node {id}: "parent" must be a non-negative integer or null, got "0"',
    ),
    (
        "parent missing from the tree",
        "node",
        "parent",
        999,
        "node 0 lists child {id}, whose parent is 999",
    ),
    (
        "child that is not an int",
        "node",
        "children.0",
        "x",
        'node {id}: "children[0]" must be a non-negative integer, got "x"',
    ),
    ("children not a list", "node", "children", 4, 'node {id}: "children" must be a list, got 4'),
    ("depth mismatch", "node", "depth", 3, r"node {id} is at depth 3, its parent at 0"),
    (
        "depth past max_depth",
        "node",
        "depth",
        9,
        'node {id}: "depth" must be at most the config\'s max_depth (8), got 9',
    ),
    ("unknown field", "node", "secret", 1, 'node {id}: "secret" is not a field of a node'),
    ("missing field", "node", "step", None, 'node {id}: "step" is missing'),
    (
        "critic score 11",
        "node",
        "critic.score",
        11,
        'node {id}: "critic.score" must be a finite number in [0, 10] or null, got 11',
    ),
    (
        "critic latency infinite",
        "node",
        "critic.latency_s",
        float("inf"),
        'node {id}: "critic.latency_s" must be a non-negative finite number, got Infinity',
    ),
    (
        "distribution of strings",
        "node",
        "critic.distribution",
        ["a"],
        'node {id}: "critic.distribution[0]" must be a finite number in [0, 1], got "a"',
    ),
    (
        "bad critic source",
        "node",
        "critic.source",
        "oracle",
        'node {id}: "critic.source" must be one of "text", "distribution", got "oracle"',
    ),
    (
        "history visits",
        "node",
        "history.0.visits",
        -1,
        'node {id}: "history[0].visits" must be a non-negative integer, got -1',
    ),
    (
        "dropped step reason",
        "node",
        "expansion.dropped",
        [{"raw": "x", "reason": "bogus", "note": ""}],
        'node {id}: "expansion.dropped[0].reason" must be one of "unusable", "in_path", "echo", "duplicate",'
        ' got "bogus"',
    ),
    (
        "raws with a number",
        "node",
        "expansion.raws",
        ["fine", 3],
        'node {id}: "expansion.raws[1]" must be a string, got 3',
    ),
    (
        "rollout weight",
        "node",
        "rollout.weight",
        -0.5,
        'node {id}: "rollout.weight" must be a finite number in [0, 1], got -0.5',
    ),
    (
        "ucb total NaN",
        "node",
        "ucb.total",
        float("nan"),
        'node {id}: "ucb.total" must be a non-negative finite number, got NaN',
    ),
    (
        "pass rate 1.5",
        "node",
        "execution.visible.pass_rate",
        1.5,
        'node {id}: "execution.visible.pass_rate" must be a finite number in [0, 1], got 1.5',
    ),
    (
        "more failures than tests",
        "node",
        "execution.visible.failed",
        99,
        'node {id}: "execution.visible.failed" must be at most tests (',
    ),
    (
        "bad error kind",
        "node",
        "execution.visible.error_kind",
        "gremlins",
        'node {id}: "execution.visible.error_kind" must be one of "syntax", "runtime", "timeout", "memory",',
    ),
    (
        "record not an object",
        "node",
        "code",
        "print(1)",
        'node {id}: "code" must be an object or null, got "print(1)"',
    ),
    (
        "unknown record field",
        "node",
        "code.run_me",
        True,
        'node {id}: "code.run_me" is not a field of a CodeRecord',
    ),
    ("root not the root", "root", "origin", "policy", 'node 0: "origin" must be "root", got "policy"'),
    (
        "bad event kind",
        "event 1",
        "kind",
        "exploded",
        'event 1: "kind" must be one of "selected", "reflected", "expanded",',
    ),
    (
        "event out of place",
        "event 1",
        "seq",
        7,
        'event 1: "seq" must be 1 (its place in the event log), got 7',
    ),
    (
        "event node a string",
        "event 1",
        "node",
        "3",
        'event 1: "node" must be a non-negative integer or null, got "3"',
    ),
    ("event data a list", "event 1", "data", [1], 'event 1: "data" must be an object, got a list'),
    ("huge nesting", "event 1", "data", nested(200), 'event 1: "data.x" is nested more than 32 levels deep'),
    (
        "NaN in event data",
        "event 1",
        "data",
        {"v": float("nan")},
        'event 1: "data.v" holds NaN, which is not a finite number',
    ),
    (
        "negative iteration count",
        "top",
        "iteration",
        -1,
        '"iteration" must be a non-negative integer, got -1',
    ),
    (
        "stop reason",
        "top",
        "stopped",
        "bored",
        '"stopped" must be one of "", "direct_passed", "end_gate", "exhausted",',
    ),
    ("usage calls", "top", "usage.calls", -5, '"usage.calls" must be a non-negative integer, got -5'),
    (
        "usage by role",
        "top",
        "usage.by_role",
        {"critic": "many"},
        '"usage.by_role.critic" must be a non-negative integer, got "many"',
    ),
    ("model not strings", "top", "model", {"backend": 3}, '"model.backend" must be a string, got 3'),
    (
        "problem source",
        "top",
        "problem.source",
        "evil",
        '"problem.source" must be one of "humaneval", "custom", got "evil"',
    ),
    (
        "problem tests",
        "top",
        "problem.visible_tests",
        [1],
        '"problem.visible_tests[0]" must be a string, got 1',
    ),
    ("config", "top", "config.k", 0, '"config" is not a valid config: k must be between 1 and 16, got 0'),
    ("unknown top-level field", "top", "notes", "hi", '"notes" is not a field of a search tree'),
    ("node not an object", "top", "nodes.1", "a string", 'nodes[1]: it must be an object, got "a string"'),
    ("node id a string", "node", "id", "7", 'nodes[{index}]: "id" must be a non-negative integer, got "7"'),
]


def damaged(sound: dict, where: str, path: str, value) -> tuple[dict, dict]:
    doc = copy.deepcopy(sound["doc"])
    target = {
        "node": lambda: node(doc, sound["id"]),
        "root": lambda: node(doc, 0),
        "event 1": lambda: doc["events"][1],
        "top": lambda: doc,
    }[where]()
    if value is None:
        del target[path]
    else:
        set_path(target, path, value)
    return doc, target


@pytest.mark.parametrize(("how", "where", "path", "value", "line"), CASES, ids=[c[0] for c in CASES])
def test_one_bad_value_is_one_line_naming_the_node_and_the_field(
    sound, tmp_path, how, where, path, value, line
):
    doc, _ = damaged(sound, where, path, value)
    index = next(i for i, n in enumerate(sound["doc"]["nodes"]) if n["id"] == sound["id"])
    expected = "damaged search tree: " + line.format(id=sound["id"], index=index)
    file = tmp_path / "damaged.json"
    file.write_text(json.dumps(doc), encoding="utf-8")  # NaN and Infinity as Python's json writes them
    with pytest.raises(TreeFormatError) as caught:
        load_tree_file(file)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(expected), f"{message!r}\ndoes not start with\n{expected!r}"


def test_the_sound_file_loads(sound, tmp_path):
    file = tmp_path / "sound.json"
    file.write_text(json.dumps(sound["doc"]), encoding="utf-8")
    assert json.loads(load_tree_file(file).to_json()) == sound["doc"]


def test_a_value_that_looks_like_its_neighbour_is_still_accepted(sound):
    """Integers where numbers are expected (a hand edit's 1 for 1.0), and null where null is allowed."""
    doc = copy.deepcopy(sound["doc"])
    target = node(doc, sound["id"])
    target["value"], target["critic"]["score"], target["original_step"] = 1, None, None
    tree = parse_tree(json.dumps(doc).encode())
    assert tree.nodes[sound["id"]].value == 1


CONFIGS = {
    "paper": {"exec_weight": 0.0},
    "no reflection, no rollout": {"reflection": False, "rollout": False},
    "grounded": {"exec_weight": 0.5},
    "leaky": {"exec_weight": 0.5, "exec_hidden_in_reward": True},
    "end gate": {"end_gate": 0.5, "end_gate_min_depth": 1},
    "deep and narrow": {"k": 1, "max_depth": 3},
    "distribution critic": {"critic_value": "distribution"},
    "sequential": {"width": 1},
    "wide": {"width": 8, "max_iterations": 12},
}


@pytest.mark.parametrize("name", CONFIGS)
def test_every_tree_the_search_makes_loads(name, tmp_path):
    """The checks refuse nothing the search writes: every iteration, steering, replays, several seeds."""
    grounded = CONFIGS[name].get("exec_weight", 0) > 0  # runs code in the sandbox: slower, so fewer
    for seed in range(1 if grounded else 3):
        config = SearchConfig(**{"max_iterations": 4 if grounded else 6, "seed": seed, **CONFIGS[name]})
        search = Search.start(get_problem(f"HumanEval/{seed}"), config, ScriptedBackend())
        trees = []
        while not search.finished:
            search.step()
            trees.append(copy.deepcopy(search.tree))
        live = [n for n in search.tree.nodes.values() if n.parent is not None and not n.terminal]
        if live:
            search.prune(live[0].id)
            search.unprune(live[0].id)
            search.edit(live[-1].id, "Sort the numbers first, then compare neighbours.")
            if live[-1].depth < config.max_depth:
                search.add_step(live[-1].id, "Return the answer.")
        open_children = [c for c in search.tree.root.children if not search.tree.nodes[c].terminal]
        if open_children:
            search.force(open_children[0])
        trees.append(search.tree)
        trees += [tree_at(search.tree, i) for i in range(search.tree.iteration + 1)]
        for i, tree in enumerate(trees):
            path = save_tree_file(tree, tmp_path / f"{name}-{seed}-{i}.json")
            assert load_tree_file(path).to_json() == tree.to_json()


def test_a_long_value_is_clipped_in_the_line(sound):
    doc = copy.deepcopy(sound["doc"])
    node(doc, sound["id"])["origin"] = "x" * 5000
    with pytest.raises(TreeFormatError) as caught:
        parse_tree(json.dumps(doc).encode())
    assert (
        str(caught.value).endswith('got "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...')
        and len(str(caught.value)) < 200
    )
