"""The curation queue over a real SQLite store of scripted runs: listing, sorting, filters, decisions, export."""

from __future__ import annotations

import json
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from core.config import SearchConfig
from core.curation.accepted import check_name, decisions_for_export, export_accepted, exports_dir, trees_for
from core.curation.candidates import candidate_paths
from core.curation.exports import export_dataset
from core.curation.queue import (
    CandidateCache,
    CurationError,
    QueueFilter,
    build_queue,
    check_edit,
    counts,
    decide,
    neighbour,
    parse_steps,
)
from core.prompts import format_steps
from core.search.mcts import Search
from core.store.runs import Store
from tests.scripted import ScriptedBackend

GOOD = "```python\ndef add(a: int, b: int) -> int:\n    return a + b"
BAD = "```python\ndef add(a: int, b: int) -> int:\n    return a - b"
FORMATS = ["sft", "alpaca", "reference", "dpo", "prm"]


def grow(problem, seed: int, code: str) -> Search:
    cfg = SearchConfig(
        reflection=False, rollout=False, max_depth=2, max_iterations=8, end_gate=1.0, seed=seed
    )
    s = Search.start(problem, cfg, ScriptedBackend(code=code))
    s.run()
    s.execute(candidate_paths(s.tree, "x")[0].node_id)  # the best path gets code and a visible verdict
    return s


@pytest.fixture
def store(tmp_path, problem) -> Store:
    store = Store(tmp_path / "studio.db")
    other = replace(problem, id="custom/other")
    for run_id, p, seed, code in (
        ("run-a", problem, 0, GOOD),
        ("run-b", problem, 1, BAD),
        ("run-c", other, 2, GOOD),
    ):
        store.save_tree(run_id, grow(p, seed, code).tree)
    return store


def paths_by_key(store: Store) -> dict[str, object]:
    out = {}
    for run in store.list_runs():
        for p in candidate_paths(store.load_tree(run.id), run.id):
            out[f"{run.id}#{p.node_id}"] = p
    return out


def test_queue_lists_best_and_finished_paths_of_every_run(store):
    expected = paths_by_key(store)
    assert len(expected) >= 9, "each scripted run leaves several finished paths"
    items = build_queue(store)
    assert {i.key for i in items} == set(expected)
    assert {i.path.run_id for i in items} == {"run-a", "run-b", "run-c"}
    assert all(i.status == "pending" and i.annotation is None for i in items)
    assert counts(items) == {"pending": len(expected), "accepted": 0, "rejected": 0}
    assert all(i.path.steps == expected[i.key].steps for i in items)


def test_sorting_by_value_critic_and_visible_tests(store):
    by_value = build_queue(store, sort="value")
    assert [i.path.value for i in by_value] == sorted((i.path.value for i in by_value), reverse=True)
    by_critic = build_queue(store, sort="critic")
    scores = [i.path.critic_score for i in by_critic]
    known = [s for s in scores if s is not None]
    assert known == sorted(known, reverse=True) and scores[: len(known)] == known
    by_visible = build_queue(store, sort="visible")
    rates = [i.path.visible.pass_rate if i.path.visible else None for i in by_visible]
    assert rates[:3] == [1.0, 1.0, 0.0] and set(rates[3:]) == {None}  # run-b's code subtracts
    with pytest.raises(CurationError, match="sort by"):
        build_queue(store, sort="length")


def test_filters(store):
    assert {i.path.run_id for i in build_queue(store, QueueFilter(problem="custom/other"))} == {"run-c"}
    assert build_queue(store, QueueFilter(model="no-such-model")) == []
    assert len(build_queue(store, QueueFilter(model="scripted-v1"))) == len(build_queue(store))
    assert len(build_queue(store, QueueFilter(run_status="finished"))) == len(build_queue(store))
    assert build_queue(store, QueueFilter(run_status="running")) == []
    high = build_queue(store, QueueFilter(min_value=0.4))
    assert high and all(i.path.value >= 0.4 for i in high)
    step = build_queue(store)[0].path.steps[-1]
    found = build_queue(store, QueueFilter(text=step.upper()))
    assert found and all(any(step in s for s in i.path.steps) for i in found)


def test_decisions_move_paths_between_queues(store):
    items = build_queue(store)
    first, second, third = items[0], items[1], items[2]
    decide(store, first, "accept", annotator="ada")
    decide(store, second, "reject", annotator="bob", comment="circular")
    decide(store, third, "skip", annotator="ada")
    after = {i.key: i for i in build_queue(store)}
    assert after[first.key].status == "accepted" and after[second.key].status == "rejected"
    assert after[third.key].status == "pending" and after[third.key].skipped
    assert counts(list(after.values())) == {"pending": len(items) - 2, "accepted": 1, "rejected": 1}
    pending = [i.key for i in build_queue(store) if i.status == "pending"]
    assert pending[-1] == third.key, "a skipped path goes to the end of the pending queue"
    decide(store, after[first.key], "reject", annotator="ada")  # the latest decision wins
    assert {i.key: i for i in build_queue(store)}[first.key].status == "rejected"


def test_a_decision_records_who_when_the_edit_and_the_provenance(store):
    item = build_queue(store)[0]
    steps = [*item.path.steps[:-1], "Return a plus b directly."]
    before = time.time()
    decide(store, item, "accept", annotator=" ada ", comment="fixed the last step", edited_steps=steps)
    (a,) = store.annotations()
    assert a.annotator == "ada" and before - 1 <= a.created_at <= time.time() + 1
    assert a.comment == "fixed the last step" and a.decision == "accept"
    assert a.edited == {"steps": steps, "code": None}
    assert a.path[-1] == item.path.node_id and len(a.path) == len(item.path.steps)
    tree = store.load_tree(item.path.run_id)
    assert {k: a.provenance[k] for k in ("model", "adapter", "seed", "config_hash")} == {
        "model": "scripted-v1",
        "adapter": None,
        "seed": tree.config.seed,
        "config_hash": tree.config.digest(),
    }
    assert a.provenance["path"]["steps"] == item.path.steps  # the original is kept, frozen
    again = {i.key: i for i in build_queue(store)}[item.key]
    assert again.steps == steps and again.path.steps == item.path.steps


def test_the_judged_path_survives_later_changes_to_the_tree(store):
    item = build_queue(store)[0]
    decide(store, item, "accept", annotator="ada")
    tree = store.load_tree(item.path.run_id)
    tree.nodes[item.path.node_id].pruned = True  # the path is no longer a candidate
    tree.nodes[item.path.node_id].step = "something else"
    store.save_tree(item.path.run_id, tree)
    still = {i.key: i for i in build_queue(store)}[item.key]
    assert still.status == "accepted" and still.path.steps == item.path.steps
    (d,) = decisions_for_export(store)
    assert d.path.steps == item.path.steps


def test_export_holds_exactly_the_accepted_paths_with_edits_and_annotators(store, tmp_path):
    items = build_queue(store)
    edited = [*items[1].path.steps[:-1], "Add the two numbers and return the sum."]
    decide(store, items[0], "accept", annotator="ada")
    decide(
        store,
        items[1],
        "accept",
        annotator="bob",
        edited_steps=edited,
        edited_code="def add(a, b):\n    return b + a\n",
    )
    decide(store, items[2], "reject", annotator="cy")
    decide(store, items[3], "skip", annotator="cy")
    decisions = decisions_for_export(store)
    assert sorted(d.decision for d in decisions) == ["accept", "accept", "reject", "skip"]
    summary = export_dataset(decisions, tmp_path / "out", FORMATS, {}, trees=trees_for(store, decisions))
    assert summary.counts["sft"] == 2
    sft = [json.loads(x) for x in (tmp_path / "out" / "sft.jsonl").read_text().splitlines()]
    by_node = {(r["meta"]["run_id"], r["meta"]["node_id"]): r for r in sft}
    assert set(by_node) == {(i.path.run_id, i.path.node_id) for i in items[:2]}
    bob = by_node[(items[1].path.run_id, items[1].path.node_id)]
    assert bob["meta"]["annotator"] == "bob" and bob["meta"]["edited"] is True
    assert "Add the two numbers and return the sum." in bob["messages"][-1]["content"]
    assert "return b + a" in bob["messages"][-1]["content"]
    assert by_node[(items[0].path.run_id, items[0].path.node_id)]["meta"]["annotator"] == "ada"


def test_export_accepted_writes_validates_records_and_zips(store):
    items = build_queue(store)
    decide(store, items[0], "accept", annotator="ada")
    decide(store, items[1], "reject", annotator="ada")
    result = export_accepted(store, "v1", FORMATS, {"min_value": 0.0})
    out = exports_dir(store) / "v1"
    assert result.problems == [] and result.summary.counts["sft"] == 1 and result.summary.dropped == 0
    (row,) = store.datasets()
    assert row.id == result.dataset_id and row.path == str(out) and row.counts["sft"] == 1
    names = set(zipfile.ZipFile(result.zip_path).namelist())
    assert {"v1/sft.jsonl", "v1/README.md", "v1/dpo.jsonl"} <= names
    again = export_accepted(store, "v2", FORMATS, {"min_value": 0.0})  # deterministic: same bytes
    for f in ("sft.jsonl", "dpo.jsonl", "prm.jsonl"):
        assert (out / f).read_bytes() == (exports_dir(store) / "v2" / f).read_bytes()
    assert Path(again.zip_path).read_bytes() != b""
    strict = export_accepted(store, "v3", ["sft"], {"min_value": 2.0})
    assert strict.summary.counts == {"sft": 0} and strict.summary.dropped == 1
    with pytest.raises(CurationError, match="exists already"):
        export_accepted(store, "v1", FORMATS)
    with pytest.raises(CurationError, match="at least one export format"):
        export_accepted(store, "v4", [])
    with pytest.raises(CurationError, match="unknown export filters"):
        export_accepted(store, "v5", ["sft"], {"bogus": 1})


def test_export_needs_an_accepted_path(store):
    with pytest.raises(CurationError, match="nothing is accepted"):
        export_accepted(store, "v1", FORMATS)
    assert not (exports_dir(store) / "v1").exists()


@pytest.mark.parametrize("name", ["", "  ", "a/b", "..", "../up", "a\\b", ".hidden", "x" * 101])
def test_bad_export_names_are_refused(name):
    with pytest.raises(CurationError):
        check_name(name)


def test_good_export_names():
    assert check_name(" curated v1.2_final-3 ") == "curated v1.2_final-3"


def test_bad_edits_are_clear_errors_and_unchanged_edits_are_none(store):
    item = build_queue(store)[0]
    path = item.path
    assert check_edit(path, list(path.steps), path.code + "\n") is None
    assert check_edit(path, [f"  {s} " for s in path.steps], None) is None
    with pytest.raises(CurationError, match="at least one step"):
        check_edit(path, [], None)
    with pytest.raises(CurationError, match="step 2 is empty"):
        check_edit(path, [path.steps[0], "  ", "More."], None)
    with pytest.raises(CurationError, match="code is empty"):
        check_edit(path, None, "   ")
    with pytest.raises(CurationError, match="annotator"):
        decide(store, item, "accept", annotator="  ")
    with pytest.raises(CurationError, match="decision"):
        decide(store, item, "maybe", annotator="ada")
    with pytest.raises(CurationError, match="empty"):
        decide(store, item, "accept", annotator="ada", edited_steps=["ok", ""])
    assert store.annotations() == [], "a refused decision writes nothing"


def test_steps_text_round_trips_and_numbers_are_optional():
    steps = ["Sort the list.", "2. is a fine start", "Compare neighbours."]
    assert parse_steps(format_steps(steps)) == steps
    assert parse_steps("\n  Sort.\n2) Compare.\n3.\n") == ["Sort.", "Compare.", ""]
    assert parse_steps(" \n") == []


def test_neighbour_moves_and_clamps():
    keys = ["a", "b", "c"]
    assert neighbour(keys, "b", 1) == "c" and neighbour(keys, "c", 1) == "c"
    assert neighbour(keys, "a", -1) == "a" and neighbour(keys, "gone", 1) == "a"
    assert neighbour([], "a", 1) is None


def test_candidates_are_loaded_once_per_saved_version(store, monkeypatch):
    cache = CandidateCache()
    build_queue(store, cache=cache)
    loads = []
    real = store.load_tree
    monkeypatch.setattr(store, "load_tree", lambda rid: loads.append(rid) or real(rid))
    build_queue(store, cache=cache)
    assert loads == []
    store.save_tree("run-a", real("run-a"))
    build_queue(store, cache=cache)
    assert loads == ["run-a"]


def test_a_decision_on_a_path_decided_meanwhile_is_refused(store):
    item = build_queue(store)[0]
    decide(store, item, "accept", annotator="ada", seen=0)
    with pytest.raises(CurationError, match="just decided"):
        decide(store, {i.key: i for i in build_queue(store)}[item.key], "reject", annotator="bob", seen=0)
    fresh = {i.key: i for i in build_queue(store)}[item.key]
    decide(store, fresh, "reject", annotator="bob", seen=fresh.annotation.id)
    assert [a.decision for a in store.annotations()] == ["accept", "reject"]


def test_an_uploaded_copy_of_a_run_is_not_a_second_candidate(store):
    before = build_queue(store)
    store.save_tree("up0123456789", store.load_tree("run-a"))  # the same tree, uploaded again
    after = build_queue(store)
    assert len(after) == len(before)
    assert not any(i.path.run_id == "up0123456789" for i in after)  # the original stays the candidate
