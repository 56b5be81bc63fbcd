"""Batch generation: records, manifest and trees; resume after reruns, crashes and outages; the CLI."""

from __future__ import annotations

import io
import json
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

import launch
from cli import generate as generate_cli
from cli.generate import ProgressBar, clock, render
from core.generation.run import GenerateProgress, GenerateSpec, generate
from core.llm import BackendUnavailable, GenerationRequest, GenerationResult, ModelNotAvailable
from core.problems.problem import get_problem
from core.problems.sources import load_problems
from core.store.runs import Store
from core.training.data import read_dataset
from core.tree.events import EventKind
from tests.scripted import ScriptedBackend

THREE = "HumanEval/0-2"


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "studio.db")


def spec(tmp_path: Path, problems: str = THREE, **changes) -> GenerateSpec:
    settings = {
        "concurrency": 2,
        "preset": "quick demo",
        "iterations": 2,
        "check": False,
        "backoff_s": 0.001,
        "max_backoff_s": 0.004,
        **changes,
    }
    out = settings.pop("out", tmp_path / "out")
    return GenerateSpec(problems, out, **settings)


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


@dataclass
class FlakyBackend(ScriptedBackend):
    """Raises BackendUnavailable on its first ``failures`` calls (-1: always)."""

    failures: int = 0

    def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        if self.failures:
            self.failures -= 1
            raise BackendUnavailable("server down (503)")
        return super().generate(requests)


# --- the batch ---------------------------------------------------------------------------
def test_three_problems_give_three_records_manifest_lines_and_trees_and_a_rerun_skips_them(tmp_path, store):
    reports: list[GenerateProgress] = []
    summary = generate(spec(tmp_path), ScriptedBackend(), store, progress=reports.append)
    out = tmp_path / "out"
    records, manifest = lines(out / "sft.jsonl"), lines(out / "done.jsonl")
    assert (summary.done, summary.skipped, summary.failed, summary.interrupted) == (3, 0, {}, False)
    assert sorted(m["problem_id"] for m in manifest) == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
    assert [(r["meta"]["problem_id"], r["meta"]["run_id"]) for r in records] == [
        (m["problem_id"], m["run_id"]) for m in manifest
    ]
    record = records[0]
    assert record["messages"][0] == {
        "role": "user",
        "content": get_problem(record["meta"]["problem_id"]).prompt,
    }
    assert "def solution" in record["messages"][1]["content"]
    assert record["meta"]["model"] == "scripted-v1" and record["meta"]["annotator"] == "generate"
    assert record["meta"]["config_hash"] and record["meta"]["seed"] == 0
    assert all(m["nodes"] > 1 and m["completion_tokens"] > 0 and m["stopped"] for m in manifest)
    runs = store.list_runs(owner="generate")
    assert sorted(r.id for r in runs) == sorted(m["run_id"] for m in manifest)
    assert store.load_tree(manifest[0]["run_id"]).problem.id == manifest[0]["problem_id"]
    assert len(read_dataset(str(out)).rows) == 3  # finetune takes the folder as it is
    assert [r.problem_id for r in reports][0] == "" and len(reports) == 4
    assert (
        reports[-1].done == 3
        and reports[-1].outcome == "ok"
        and summary.nodes == sum(m["nodes"] for m in manifest)
    )
    spec_json = json.loads((out / "spec.json").read_text())
    assert spec_json["model_id"] == "scripted-v1" and spec_json["config"]["max_iterations"] == 2

    before = files(out)
    again = generate(spec(tmp_path), ScriptedBackend(), store)
    assert (again.done, again.skipped, again.records_in_all, again.warnings) == (0, 3, 3, [])
    assert files(out) == before and len(store.list_runs(owner="generate")) == 3


def test_the_check_reports_visible_and_hidden_verdicts_without_filtering(tmp_path, store):
    class Solver(ScriptedBackend):
        def _answer(self, req):
            if req.tag == "code":
                p = get_problem("HumanEval/2")
                self.code = f"```python\n{p.prompt.strip()}\n{p.canonical_solution}"
            return super()._answer(req)

    summary = generate(spec(tmp_path, "HumanEval/2-3", check=True), Solver(), store)
    manifest = {m["problem_id"]: m for m in lines(tmp_path / "out" / "done.jsonl")}
    assert summary.done == 2
    assert manifest["HumanEval/2"]["visible_pass_rate"] == 1.0 and manifest["HumanEval/2"]["hidden_passed"]
    assert manifest["HumanEval/3"]["hidden_passed"] is False  # wrong code is still a record
    records = {r["meta"]["problem_id"]: r["meta"] for r in lines(tmp_path / "out" / "sft.jsonl")}
    assert (
        records["HumanEval/2"]["hidden_passed"] is True and records["HumanEval/3"]["hidden_passed"] is False
    )


def test_a_backend_outage_pauses_the_search_which_resumes_and_completes(tmp_path, store):
    backend = FlakyBackend(failures=3)
    summary = generate(spec(tmp_path, "HumanEval/0-0", concurrency=1), backend, store)
    [line] = lines(tmp_path / "out" / "done.jsonl")
    assert summary.done == 1 and not summary.failed and line["pauses"] == 3
    kinds = [e.kind for e in store.load_tree(line["run_id"]).events]
    assert kinds.count(EventKind.PAUSED) == 3 and EventKind.RESUMED in kinds


def test_a_backend_that_keeps_failing_fails_the_problem_and_a_rerun_retries_it(tmp_path, store):
    failing = spec(tmp_path, "HumanEval/0-1", max_pause_s=0.02)
    summary = generate(failing, FlakyBackend(failures=-1), store)
    assert summary.done == 0 and sorted(summary.failed) == ["HumanEval/0", "HumanEval/1"]
    assert "server down (503)" in summary.failed["HumanEval/0"]
    assert lines(tmp_path / "out" / "done.jsonl") == [] and not store.list_runs(owner="generate")
    again = generate(failing, ScriptedBackend(), store)
    assert (again.done, again.skipped, again.failed) == (2, 0, {})


def test_a_missing_model_fails_at_once_without_waiting(tmp_path, store):
    class Gone(ScriptedBackend):
        def generate(self, requests):
            raise ModelNotAvailable("the server does not serve model 'x'")

    summary = generate(spec(tmp_path, "HumanEval/0-0", max_pause_s=3600, backoff_s=60), Gone(), store)
    assert summary.failed == {"HumanEval/0": "the server does not serve model 'x'"}


def test_a_torn_last_manifest_line_is_ignored_and_repaired(tmp_path, store):
    generate(spec(tmp_path, "HumanEval/0-1"), ScriptedBackend(), store)
    out = tmp_path / "out"
    before = files(out)
    with (out / "done.jsonl").open("a") as fh:
        fh.write('{"problem_id": "HumanEval/2", "ru')
    again = generate(spec(tmp_path, "HumanEval/0-1"), ScriptedBackend(), store)
    assert (again.done, again.skipped) == (0, 2) and files(out) == before


def test_a_record_written_just_before_a_crash_is_not_duplicated(tmp_path, store):
    generate(spec(tmp_path), ScriptedBackend(), store)
    out = tmp_path / "out"
    manifest = (out / "done.jsonl").read_text().splitlines(keepends=True)
    (out / "done.jsonl").write_text("".join(manifest[:-1]))  # the crash came before the last manifest line
    lost = json.loads(manifest[-1])["problem_id"]
    again = generate(spec(tmp_path), ScriptedBackend(), store)
    records, lines_now = lines(out / "sft.jsonl"), lines(out / "done.jsonl")
    assert (again.done, again.skipped) == (1, 2) and any("dropped records" in w for w in again.warnings)
    assert sorted(r["meta"]["problem_id"] for r in records) == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
    assert [(r["meta"]["problem_id"], r["meta"]["run_id"]) for r in records] == [
        (m["problem_id"], m["run_id"]) for m in lines_now
    ]
    assert lines_now[-1]["problem_id"] == lost


def test_a_damaged_manifest_line_before_the_last_is_an_error_naming_it(tmp_path, store):
    generate(spec(tmp_path, "HumanEval/0-1"), ScriptedBackend(), store)
    path = tmp_path / "out" / "done.jsonl"
    path.write_text("not json\n" + path.read_text())
    with pytest.raises(ValueError, match=r"done.jsonl line 1 is not valid JSON"):
        generate(spec(tmp_path, "HumanEval/0-1"), ScriptedBackend(), store)


def test_a_rerun_with_other_settings_warns_but_proceeds(tmp_path, store):
    generate(spec(tmp_path, "HumanEval/0-0"), ScriptedBackend(), store)
    warned: list[str] = []
    again = generate(spec(tmp_path, "HumanEval/0-1", seed=5), ScriptedBackend(), store, warn=warned.append)
    assert again.done == 1 and len(warned) == 1 and "seed 0 -> 5" in warned[0] and "problems" in warned[0]


def test_a_stop_lets_finished_problems_be_written_and_a_rerun_continues(tmp_path, store):
    stop = threading.Event()

    def progress(p: GenerateProgress) -> None:
        if p.done == 1:
            stop.set()

    summary = generate(spec(tmp_path, concurrency=1), ScriptedBackend(), store, progress=progress, stop=stop)
    assert summary.interrupted and summary.done == 1 and summary.records_in_all == 1
    again = generate(spec(tmp_path, concurrency=1), ScriptedBackend(), store)
    assert (again.done, again.skipped, again.interrupted) == (2, 1, False)


def test_limit_takes_the_first_problems(tmp_path, store):
    summary = generate(spec(tmp_path, limit=1), ScriptedBackend(), store)
    assert summary.total == 1 and [m["problem_id"] for m in lines(tmp_path / "out" / "done.jsonl")] == [
        "HumanEval/0"
    ]


# --- problem sources ---------------------------------------------------------------------
def test_problem_sources():
    assert len(load_problems("humaneval")) == 164
    assert [p.id for p in load_problems("HumanEval/0-2")] == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
    assert len(load_problems("first-40")) == 40
    with pytest.raises(ValueError, match="unknown problem source 'nope'"):
        load_problems("nope")


def test_a_jsonl_source(tmp_path):
    path = tmp_path / "mine.jsonl"
    rows = [
        {"id": "inc", "prompt": "def inc(x):\n    '''Add one.'''\n", "tests": ["assert inc(1) == 2"]},
        {"prompt": "def dec(x):\n    '''Take one.'''\n"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    inc, dec = load_problems(str(path))
    assert (inc.id, inc.entry_point, inc.visible_tests) == ("inc", "inc", ("assert inc(1) == 2",))
    assert dec.id.startswith("custom/") and dec.entry_point == "dec" and dec.visible_tests == ()


@pytest.mark.parametrize(
    ("second", "expected"),
    [
        ("{not json", "line 2 is not valid JSON"),
        ('{"id": "a"}', "line 2: 'prompt' must be a non-empty string"),
        ('{"prompt": "def f(): ...", "test": []}', "line 2: unknown field(s) test"),
        ('{"prompt": "def f(): ...", "tests": ["f()"]}', "line 2: test line 1 is not an assert"),
        ('{"id": "a", "prompt": "def g(): ..."}', "line 2: problem id 'a' was used already on line 1"),
        ("[1]", "line 2 must be a JSON object"),
    ],
)
def test_a_bad_jsonl_line_is_one_error_naming_file_and_line(tmp_path, second, expected):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"id": "a", "prompt": "def f(): ..."}) + "\n" + second + "\n")
    with pytest.raises(ValueError) as info:
        load_problems(str(path))
    assert str(path) in str(info.value) and expected in str(info.value)


def test_spec_validation(tmp_path):
    with pytest.raises(ValueError, match="unknown preset"):
        GenerateSpec(THREE, tmp_path, preset="nope")
    with pytest.raises(ValueError, match="max_iterations must be between"):
        GenerateSpec(THREE, tmp_path, iterations=0)
    with pytest.raises(ValueError, match="concurrency must be"):
        GenerateSpec(THREE, tmp_path, concurrency=0)


# --- progress and CLI --------------------------------------------------------------------
def test_the_progress_line():
    p = GenerateProgress(5, 8, 0, 0, 31, 1400, 10.0, "HumanEval/4", "ok")
    assert render(p, 10) == "[######....] 5/8 62%  3.1 nodes/s  140.0 tok/s  ETA 0:06  HumanEval/4 ok"
    assert clock(None) == "?" and clock(42) == "0:42" and clock(3723) == "1:02:03"
    tty = io.StringIO()
    bar = ProgressBar(tty, tty=True)
    bar(p)
    bar.close()
    assert tty.getvalue().startswith("\r[") and tty.getvalue().endswith("\n")


def parse(*argv: str):
    return launch.build_parser().parse_args(["generate", *argv])


def test_cli_runs_prints_progress_and_a_summary_and_a_rerun_skips(tmp_path, monkeypatch):
    monkeypatch.setenv("SRA_STUDIO_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(generate_cli, "load", lambda args, concurrency, err: ScriptedBackend())
    argv = ["--problems", "HumanEval/0-1", "--out", str(tmp_path / "out"), "--preset", "quick demo"]
    out, err = io.StringIO(), io.StringIO()
    assert generate_cli.run(parse(*argv, "--iterations", "2", "--no-check"), out, err) == 0
    assert "2 problems: 0 done before" in err.getvalue() and "2/2 100%" in err.getvalue()
    assert "done 2, skipped 0 (done before), failed 0" in out.getvalue()
    out = io.StringIO()
    assert generate_cli.run(parse(*argv, "--iterations", "2", "--no-check"), out, io.StringIO()) == 0
    assert "done 0, skipped 2" in out.getvalue()
    assert len(Store().list_runs(owner="generate")) == 2


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--problems", "nope"], "unknown problem source 'nope'"),
        (["--problems", "BAD"], "line 1 is not valid JSON"),
        (["--problems", "first-3", "--base-url", "http://x"], "apply only to --backend openai"),
        (["--problems", "first-3", "--preset", "nope"], "unknown preset 'nope'"),
        (["--problems", "first-3", "--iterations", "0"], "max_iterations must be between"),
        (["--problems", "first-3", "--concurrency", "0"], "concurrency must be"),
        (["--problems", "first-3", "--backend", "nope"], "invalid choice: 'nope'"),
        (["--problems", "first-3", "--backend", "openai"], "cannot reach http://127.0.0.1:9/v1"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, argv, expected):
    def unreachable(kind, model, **options):
        raise BackendUnavailable("cannot reach http://127.0.0.1:9/v1")

    monkeypatch.setattr("core.backends.load_backend", unreachable)
    monkeypatch.setenv("SRA_STUDIO_DATA", str(tmp_path))  # main() sets it: restore it afterwards
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n")
    argv = [str(bad) if a == "BAD" else a for a in argv]
    with pytest.raises(SystemExit) as info:
        raise SystemExit(
            launch.main(["--data-dir", str(tmp_path), "generate", *argv, "--out", str(tmp_path / "o")])
        )
    errors = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert info.value.code == 2 and len(errors) == 1 and expected in errors[0], errors


# --- the answer and reused trees -------------------------------------------------------
INC = '{"id": "custom/inc", "prompt": "def inc(x: int) -> int:\\n    \\"\\"\\"Add one.\\n    >>> inc(1)\\n    2\\n    \\"\\"\\"\\n", "entry_point": "inc", "tests": ["assert inc(1) == 2"]}\n'
RIGHT_INC = "```python\ndef inc(x: int) -> int:\n    return x + 1"


def test_a_grounded_search_whose_direct_program_passes_gives_a_code_only_record(tmp_path, store):
    source = tmp_path / "inc.jsonl"
    source.write_text(INC)
    backend = ScriptedBackend(code=RIGHT_INC)
    summary = generate(spec(tmp_path, str(source), preset="repairs what fails", check=True), backend, store)
    out = tmp_path / "out"
    [record], [manifest] = lines(out / "sft.jsonl"), lines(out / "done.jsonl")
    assert summary.done == 1 and manifest["direct"] is True and manifest["node_id"] == 0
    assert record["messages"][-1]["content"] == "```python\n" + RIGHT_INC.split("\n", 1)[1] + "\n```"
    assert record["meta"]["visible_pass_rate"] == 1.0
    assert not backend.calls_with("propose")  # the search ended on the direct program


def test_an_ungrounded_search_never_answers_with_the_root(tmp_path, store):
    source = tmp_path / "inc.jsonl"
    source.write_text(INC)
    generate(spec(tmp_path, str(source)), ScriptedBackend(code=RIGHT_INC), store)
    [manifest] = lines(tmp_path / "out" / "done.jsonl")
    assert manifest["direct"] is False and manifest["node_id"] > 0


class NoCalls(ScriptedBackend):
    def generate(self, requests):
        raise AssertionError("a reused tree needs no model call")


def test_a_tree_made_elsewhere_with_the_same_config_and_model_is_reused_not_searched_again(tmp_path):
    bench = Store(tmp_path / "bench.db")
    first = generate(spec(tmp_path, "HumanEval/0-1"), ScriptedBackend(), bench)
    assert first.done == 2
    made = {m["problem_id"]: m for m in lines(tmp_path / "out" / "done.jsonl")}
    again = spec(tmp_path, "HumanEval/0-1", out=tmp_path / "again", reuse=tmp_path / "bench.db")
    summary = generate(again, NoCalls(), Store(tmp_path / "studio.db"))
    assert summary.done == 2 and not summary.failed
    reused = {m["problem_id"]: m for m in lines(tmp_path / "again" / "done.jsonl")}
    assert {p: m["reused"] for p, m in reused.items()} == {p: m["run_id"] for p, m in made.items()}
    records = [r["messages"][-1]["content"] for r in lines(tmp_path / "out" / "sft.jsonl")]
    assert [r["messages"][-1]["content"] for r in lines(tmp_path / "again" / "sft.jsonl")] == records


def test_a_tree_with_another_config_or_model_is_not_reused(tmp_path):
    bench = Store(tmp_path / "bench.db")
    generate(spec(tmp_path, "HumanEval/0-0"), ScriptedBackend(), bench)
    for out, changes, backend in (
        ("other-config", {"iterations": 3}, ScriptedBackend()),
        ("other-model", {}, ScriptedBackend(model_id="scripted-v2")),
    ):
        again = spec(tmp_path, "HumanEval/0-0", out=tmp_path / out, reuse=tmp_path / "bench.db", **changes)
        generate(again, backend, Store(tmp_path / "studio.db"))
        [manifest] = lines(tmp_path / out / "done.jsonl")
        assert "reused" not in manifest and backend.calls


def test_search_overrides_reach_the_config_and_the_settings(tmp_path):
    s = spec(tmp_path, search={"code_max_tokens": 384})
    assert s.config().code_max_tokens == 384
    assert s.settings(ScriptedBackend())["search"] == {"code_max_tokens": 384}
    for bad, message in (
        ({"search": {"seed": 1}}, "seed"),
        ({"search": {"nope": 1}}, "nope"),
        ({"reuse": tmp_path / "missing.db"}, "no runs database"),
    ):
        with pytest.raises(ValueError, match=message):
            spec(tmp_path, **bad)
