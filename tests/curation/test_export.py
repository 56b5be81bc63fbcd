"""Exports of curated paths: every format's shape, determinism, edits, provenance, validation, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.export import run_export
from cli.search import UsageError
from core.curation.candidates import Decision, candidate_paths, path_of
from core.curation.exports import export_dataset, validate_export
from core.tree.files import save_tree_file
from core.tree.queries import best_node
from tests.scripted import ScriptedBackend

WHEN = "2026-01-02T03:04:05+00:00"
EDIT_STEPS = ["Return a plus b.", "Nothing else is needed."]
EDIT_CODE = "def add(a: int, b: int) -> int:\n    return a + b\n"


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def search(make_search):
    s = make_search(ScriptedBackend(), max_depth=2, max_iterations=8, end_gate=1.0)
    s.run()
    for p in candidate_paths(s.tree, "run-a"):
        s.write_code(p.node_id)
    return s


@pytest.fixture
def decisions(search):
    best, second, third, *_ = candidate_paths(search.tree, "run-a")
    return [
        Decision(best, "accept", annotator="ada", created_at=WHEN),
        Decision(
            second, "accept", edited_steps=EDIT_STEPS, edited_code=EDIT_CODE, annotator="bob", created_at=WHEN
        ),
        Decision(third, "reject", comment="wrong", annotator="ada", created_at=WHEN),
    ]


@pytest.fixture
def out(decisions, search, tmp_path):
    out = tmp_path / "export"
    export_dataset(decisions, out, filters={}, trees={"run-a": search.tree})
    return out


def test_all_files_are_written_and_validate(out):
    names = {p.name for p in out.iterdir()}
    assert names == {
        "sft.jsonl",
        "alpaca.jsonl",
        "reference.jsonl",
        "dpo.jsonl",
        "prm.jsonl",
        "hf_dataset",
        "README.md",
    }
    assert validate_export(out) == []
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left behind


def test_sft_loads_with_datasets_and_the_saved_folder_too(out, tmp_path):
    import datasets

    ds = datasets.load_dataset(
        "json", data_files=str(out / "sft.jsonl"), split="train", cache_dir=str(tmp_path / "cache")
    )
    assert ds.num_rows == 2
    roles = [m["role"] for m in ds[0]["messages"]]
    assert roles == ["user", "assistant"]
    saved = datasets.load_from_disk(str(out / "hf_dataset"))
    assert saved.num_rows == 2 and saved[0]["messages"] == ds[0]["messages"]


def test_sft_assistant_is_numbered_steps_then_python_block(out, search):
    best = best_node(search.tree)
    [first] = [r for r in read_jsonl(out / "sft.jsonl") if r["meta"]["node_id"] == best.id]
    user, assistant = first["messages"]
    assert user["content"] == search.tree.problem.prompt
    steps = search.tree.steps(best.id)
    assert assistant["content"].startswith(f"1. {steps[0]}\n2. {steps[1]}\n\n```python\ndef solution():")
    assert assistant["content"].endswith("\n```")


def test_alpaca_and_reference_shapes_are_exact(out):
    for r in read_jsonl(out / "alpaca.jsonl"):
        assert set(r) == {"instruction", "input", "output", "meta"}
        assert all(isinstance(r[k], str) for k in ("instruction", "input", "output"))
    refs = read_jsonl(out / "reference.jsonl")
    assert len(refs) == 2
    assert all(set(r) == {"question", "solution"} and isinstance(r["solution"], str) for r in refs)


def test_dpo_pairs_an_accept_with_the_rejected_path(out, decisions):
    pairs = read_jsonl(out / "dpo.jsonl")
    assert len(pairs) == 2  # two accepts, each against the one rejected path of the problem
    for p in pairs:
        assert all(isinstance(p[k], str) and p[k] for k in ("prompt", "chosen", "rejected"))
        assert p["chosen"] != p["rejected"] and p["meta"]["negative"] == "rejected"
        assert p["meta"]["rejected"]["node_id"] == decisions[2].path.node_id


def test_dpo_falls_back_to_weaker_siblings_without_a_rejection(decisions, search, tmp_path):
    accepted = decisions[:1]
    export_dataset(accepted, tmp_path / "x", ["dpo"], {"dpo_margin": 0.1}, trees={"run-a": search.tree})
    pairs = read_jsonl(tmp_path / "x" / "dpo.jsonl")
    assert len(pairs) == 1 and pairs[0]["meta"]["negative"] == "sibling"
    assert pairs[0]["meta"]["rejected"]["value"] <= accepted[0].path.value - 0.1
    export_dataset(accepted, tmp_path / "y", ["dpo"], {"dpo_margin": 0.1})  # no tree: no siblings
    assert read_jsonl(tmp_path / "y" / "dpo.jsonl") == []


def test_prm_labels_are_values_in_unit_interval_one_per_prefix(out):
    records = read_jsonl(out / "prm.jsonl")
    assert records
    assert all(0.0 <= r["value"] <= 1.0 and isinstance(r["steps"], list) for r in records)
    keys = [(r["meta"]["problem_id"], tuple(r["steps"])) for r in records]
    assert len(keys) == len(set(keys))
    assert not any(EDIT_STEPS[0] in r["steps"] for r in records)  # the search never judged the edit


def test_exports_are_byte_for_byte_deterministic(decisions, search, tmp_path):
    for name in ("one", "two"):
        export_dataset(list(reversed(decisions)) if name == "two" else decisions, tmp_path / name, filters={})

    def files(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    assert files(tmp_path / "one") == files(tmp_path / "two")


def test_edits_replace_the_original_in_every_text_format(out, decisions):
    original = decisions[1].path
    edited = [r for r in read_jsonl(out / "sft.jsonl") if r["meta"]["node_id"] == original.node_id]
    assert len(edited) == 1 and edited[0]["meta"]["edited"] is True
    text = edited[0]["messages"][-1]["content"]
    assert "1. Return a plus b.\n2. Nothing else is needed." in text and "return a + b" in text
    assert original.steps[-1] not in text and "def solution" not in text
    solutions = [r["solution"] for r in read_jsonl(out / "reference.jsonl")]
    assert sum("return a + b" in s for s in solutions) == 1


def test_meta_names_annotator_model_seed_config_and_node(out, search):
    metas = [r["meta"] for r in read_jsonl(out / "sft.jsonl")]
    assert sorted(m["annotator"] for m in metas) == ["ada", "bob"]
    m = next(m for m in metas if m["annotator"] == "ada")
    assert m["model"] == "scripted-v1" and m["seed"] == search.tree.config.seed
    assert m["config_hash"] == search.tree.config.digest() and m["run_id"] == "run-a"
    assert m["decided_at"] == WHEN
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "ada" in card and "bob" in card and "scripted-v1" in card and "custom/toy" in card


def test_filters_drop_paths_and_unknown_filters_are_refused(decisions, tmp_path):
    summary = export_dataset(decisions, tmp_path / "f", ["sft"], {"min_value": 10.0})
    assert summary.counts == {"sft": 0} and summary.dropped == 2
    with pytest.raises(ValueError, match="unknown export filters"):
        export_dataset(decisions, tmp_path / "g", ["sft"], {"min_vale": 1})
    with pytest.raises(ValueError, match="unknown export formats"):
        export_dataset(decisions, tmp_path / "g", ["csv"])


def test_skipped_and_superseded_decisions_are_not_exported(decisions, tmp_path):
    later = Decision(decisions[0].path, "skip", annotator="ada", created_at="2026-02-01T00:00:00+00:00")
    summary = export_dataset([*decisions, later], tmp_path / "s", ["sft"])
    assert summary.counts == {"sft": 1}


def test_validate_export_catches_corruption(out):
    sft = out / "sft.jsonl"
    sft.write_text(sft.read_text(encoding="utf-8") + "{not json\n", encoding="utf-8")
    ref = out / "reference.jsonl"
    first = read_jsonl(ref)[0] | {"extra": 1}
    ref.write_text(json.dumps(first) + "\n", encoding="utf-8")
    problems = validate_export(out)
    assert any("sft.jsonl line 3: not JSON" in p for p in problems)
    assert any("sft.jsonl: 3 records, the card says 2" in p for p in problems)
    assert any("reference.jsonl line 1" in p for p in problems)
    (out / "README.md").unlink()
    assert validate_export(out)[0].startswith("README.md: cannot read the card")


def test_run_export_from_saved_trees(search, tmp_path, capsys):
    tree_file = tmp_path / "add-run.json"
    save_tree_file(search.tree, tree_file)
    out = tmp_path / "cli"
    assert run_export([str(tree_file)], str(out)) == 0
    metas = [r["meta"] for r in read_jsonl(out / "sft.jsonl")]
    assert [(m["run_id"], m["annotator"]) for m in metas] == [("add-run", "cli")]
    assert metas[0]["node_id"] == best_node(search.tree).id
    assert validate_export(out) == []
    assert "exported 1 accepted paths" in capsys.readouterr().out
    run_export([str(tree_file)], str(tmp_path / "all"), accept="terminal", formats=["sft"])
    terminal = [n for n in search.tree.nodes.values() if n.terminal]
    assert len(read_jsonl(tmp_path / "all" / "sft.jsonl")) == len(terminal)


def test_run_export_bad_input_is_a_one_line_usage_error(tmp_path):
    with pytest.raises(UsageError, match="nope.json") as err:
        run_export([str(tmp_path / "nope.json")], str(tmp_path / "o"))
    assert "\n" not in str(err.value)
    with pytest.raises(UsageError, match="--accept"):
        run_export([], str(tmp_path / "o"), accept="all")
    with pytest.raises(UsageError, match="unknown export format"):
        run_export([], str(tmp_path / "o"), formats=["csv"])
    with pytest.raises(UsageError, match="no tree files"):
        run_export([], str(tmp_path / "o"))


def test_path_of_a_node_without_code_exports_steps_only(search, tmp_path):
    node = next(n for n in search.tree.nodes.values() if n.depth == 1)
    d = Decision(path_of(search.tree, node.id, "r"), "accept", created_at=WHEN)
    export_dataset([d], tmp_path / "n", ["reference"])
    (solution,) = [r["solution"] for r in read_jsonl(tmp_path / "n" / "reference.jsonl")]
    assert solution == f"1. {node.step}"


def test_an_empty_export_is_valid_and_clears_an_old_datasets_folder(decisions, tmp_path):
    out = tmp_path / "e"
    export_dataset(decisions, out)
    assert (out / "hf_dataset").is_dir()
    summary = export_dataset([], out)
    assert set(summary.counts.values()) == {0} and not (out / "hf_dataset").exists()
    assert validate_export(out) == []


def test_launch_export_subcommand_writes_a_valid_export(tmp_path, make_search):
    import subprocess
    import sys
    from pathlib import Path

    from core.curation.exports import validate_export

    search = make_search()
    search.run(2)
    search.write_code(search.best_node().id)
    tree_file = tmp_path / "run1.json"
    tree_file.write_text(search.tree.to_json(), encoding="utf-8")
    root = Path(__file__).resolve().parents[2]
    out = tmp_path / "export"
    result = subprocess.run(
        [
            sys.executable,
            "launch.py",
            "export",
            str(tree_file),
            "--out",
            str(out),
            "--formats",
            "sft,reference",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert (out / "sft.jsonl").exists() and (out / "reference.jsonl").exists()
    assert validate_export(out) == []
