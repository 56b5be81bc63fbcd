"""Evaluation: pass@k, splits, specs, greedy and MCTS runs judged in the real sandbox, storage, CLI."""

from __future__ import annotations

import io
import itertools
import re
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from core.evaluation.passk import mean_pass_at_k, pass_at_k
from core.evaluation.report import chart_points, eval_rows, problem_rows
from core.evaluation.run import evaluate
from core.evaluation.spec import EvalSpec
from core.evaluation.tables import EvalTables
from core.llm import Completion, GenerationRequest, GenerationResult
from core.problems.problem import UnknownProblem, get_problem
from core.problems.sources import split
from core.store.runs import Store
from tests.scripted import ScriptedBackend, render

ROOT = Path(__file__).resolve().parents[2]
PROBLEMS = ("HumanEval/0", "HumanEval/2", "HumanEval/4", "HumanEval/7")


@dataclass
class CodeBackend(ScriptedBackend):
    """Code replies that pass the hidden tests for the first ``solves[id]`` samples of a problem.

    A passing reply is the prompt plus the canonical body; a failing one returns None.
    The problem is found by the ``def <entry point>(`` in the prompt.
    """

    solves: dict[str, int] = field(default_factory=dict)
    problems: tuple[str, ...] = PROBLEMS

    def _answer(self, req: GenerationRequest) -> GenerationResult:
        if req.tag != "code":
            return super()._answer(req)
        prompt = render(req)
        p = next(get_problem(i) for i in self.problems if f"def {get_problem(i).entry_point}(" in prompt)
        good = p.prompt.strip() + "\n" + p.canonical_solution
        bad = f"def {p.entry_point}(*args):\n    return None\n"
        texts = [good if i < self.solves.get(p.id, 0) else bad for i in range(req.n)]
        completions = tuple(Completion(t, "stop", 10 + i) for i, t in enumerate(texts))
        return GenerationResult(completions, prompt + req.prefill, 50, 0.01)


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "studio.db")


# --- pass@k ------------------------------------------------------------------------------
def brute_force(n: int, c: int, k: int) -> float:
    draws = list(itertools.combinations([True] * c + [False] * (n - c), k))
    return sum(any(d) for d in draws) / len(draws)


@pytest.mark.parametrize(("n", "c", "k"), [(1, 0, 1), (1, 1, 1), (5, 2, 1), (5, 2, 3), (6, 1, 5), (6, 0, 6)])
def test_pass_at_k_is_the_chance_that_one_of_k_draws_passes(n, c, k):
    assert pass_at_k(n, c, k) == pytest.approx(brute_force(n, c, k))


def test_pass_at_k_values_and_bad_input():
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(10, 3, 5) == pytest.approx(1 - 21 / 252)
    assert pass_at_k(10, 8, 5) == 1.0
    assert mean_pass_at_k([(1, 1), (1, 0), (2, 1)], 1) == pytest.approx((1 + 0 + 0.5) / 3)
    assert mean_pass_at_k([], 1) is None
    for bad in ((3, 1, 4), (3, 4, 1), (0, 0, 1), (3, 1, 0)):
        with pytest.raises(ValueError):
            pass_at_k(*bad)


# --- splits and specs --------------------------------------------------------------------
def test_named_splits():
    first = split("first-40")
    assert first == tuple(f"HumanEval/{i}" for i in range(40))
    assert split("HumanEval/0-39") == split("0-39") == first
    assert split("first-3") == ("HumanEval/0", "HumanEval/1", "HumanEval/2")
    assert split("last-1") == ("HumanEval/163",) and len(split("all")) == 164
    for bad in ("first-0", "first-999", "10-2", "0-164", "train", ""):
        with pytest.raises(ValueError):
            split(bad)


def test_spec_normalises_ids_and_refuses_bad_settings():
    assert EvalSpec(("7", "HumanEval/2")).problems == ("HumanEval/7", "HumanEval/2")
    assert EvalSpec(("0",), samples=5, temperature=0.8, k=(5, 1, 1)).k == (1, 5)
    with pytest.raises(UnknownProblem):
        EvalSpec(("HumanEval/999",))
    cases = [
        ({"problems": ()}, "no problems"),
        ({"problems": ("0", "HumanEval/0")}, "listed twice"),
        ({"k": (5,)}, "needs at least 5 samples"),
        ({"samples": 3, "k": (1, 3)}, "temperature > 0"),
        ({"mode": "beam"}, "mode must be"),
        ({"search": {"max_iterations": 2}}, "only to mode 'mcts'"),
        ({"mode": "mcts", "search": {"kk": 2}}, "unknown config field"),
        ({"mode": "mcts", "search": {"preset": "nope"}}, "unknown preset"),
        ({"max_tokens": 0}, "max_tokens"),
    ]
    for changes, message in cases:
        with pytest.raises(ValueError, match=message):
            EvalSpec(**{"problems": ("0",), **changes})
    spec = EvalSpec(("0",), mode="mcts", search={"preset": "quick demo", "max_iterations": 2}, seed=3)
    assert spec.search_config(1).seed == 4 and spec.search_config(0).k == 2
    assert spec.search_config(0).code_max_tokens == spec.max_tokens
    assert EvalSpec.from_dict(spec.to_dict()) == spec


# --- greedy ------------------------------------------------------------------------------
def test_greedy_batches_problems_and_judges_on_hidden_tests(store):
    backend = CodeBackend(solves={"HumanEval/0": 1, "HumanEval/4": 1})
    seen = []
    result = evaluate(
        EvalSpec(PROBLEMS, batch=3), backend, store=store, progress=lambda i, n, r: seen.append((i, n))
    )
    assert [len(call) for call in backend.calls] == [3, 1]  # two batched calls for four problems
    assert [r.passed for r in result.results] == [1, 0, 1, 0]
    assert result.pass_at == {1: 0.5} and result.status == "finished"
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    bad = result.results[1]
    assert bad.codes[0].startswith("def truncate_number(*args)") and not bad.verdicts[0].passed
    assert "assert" in bad.verdicts[0].first_failure
    req = backend.calls[0][0]
    assert req.temperature == 0 and req.prefill == "```python\n" and "truncate_number" not in str(req)


def test_training_overlap_is_flagged_and_left_out_of_unseen(store):
    backend = CodeBackend(solves={"HumanEval/0": 1, "HumanEval/4": 1})
    result = evaluate(
        EvalSpec(PROBLEMS), backend, training_problems=["0", "custom/abc", "HumanEval/999"], store=store
    )
    assert [r.in_training_data for r in result.results] == [True, False, False, False]
    assert result.pass_at[1] == 0.5 and result.pass_at_unseen[1] == pytest.approx(1 / 3)
    [row] = EvalTables(store).evals()
    assert row.pass_at_unseen == {1: pytest.approx(1 / 3)}
    assert [r.in_training_data for r in EvalTables(store).eval_results(row.id)] == [True, False, False, False]


def test_sampling_gives_unbiased_pass_at_k():
    backend = CodeBackend(solves={"HumanEval/0": 2, "HumanEval/2": 0})
    spec = EvalSpec(PROBLEMS[:2], samples=4, temperature=0.8, k=(1, 2, 4))
    result = evaluate(spec, backend)
    assert [(r.passed, r.samples, len(r.codes)) for r in result.results] == [(2, 4, 4), (0, 4, 4)]
    assert backend.calls[0][0].n == 4 and backend.calls[0][0].temperature == 0.8
    assert result.pass_at == {1: 0.25, 2: pytest.approx((1 - 1 / 6) / 2), 4: 0.5}


# --- storage -----------------------------------------------------------------------------
def test_results_are_stored_per_problem_and_round_trip(store):
    backend = CodeBackend(solves={"HumanEval/2": 1})
    stored_counts = []

    def progress(i: int, n: int, r) -> None:
        stored_counts.append(len(EvalTables(store).eval_results(EvalTables(store).evals()[0].id)))

    result = evaluate(EvalSpec(PROBLEMS, batch=2), backend, store=store, progress=progress)
    assert stored_counts == [1, 2, 3, 4]  # written before progress is told
    [row] = EvalTables(Store(store.path)).evals()
    assert (row.id, row.status, row.done, row.problems, row.mode) == (
        result.eval_id,
        "finished",
        4,
        4,
        "greedy",
    )
    assert row.spec == result.spec.to_dict() and row.model_id == "scripted-v1" and row.adapter is None
    assert EvalSpec.from_dict(row.spec) == result.spec
    assert EvalTables(Store(store.path)).eval_results(row.id) == result.results
    assert eval_rows([row])[0][5] == "pass@1 25.0%"
    assert chart_points([row]) == [
        {"label": f"scripted-v1 · greedy · #{row.id}", "eval_id": row.id, "k": 1, "all": 0.25, "unseen": 0.25}
    ]
    assert [r[0] for r in problem_rows(result.results)] == list(PROBLEMS)


def test_stop_keeps_what_finished(store):
    stop = threading.Event()
    result = evaluate(
        EvalSpec(PROBLEMS, batch=1), CodeBackend(), store=store, stop=stop, progress=lambda *_: stop.set()
    )
    assert result.status == "stopped" and len(result.results) == 1
    [row] = EvalTables(store).evals()
    assert (row.status, row.done, row.problems) == ("stopped", 1, 4)


def test_a_killed_evaluation_resumes_from_its_last_whole_batch_with_the_same_seeds(store):
    spec = EvalSpec(PROBLEMS, batch=2, samples=2, temperature=0.8, k=(1, 2))
    whole = CodeBackend(solves={"HumanEval/0": 1, "HumanEval/7": 2})
    expected = evaluate(spec, whole)

    class Killed(Exception):
        pass

    def kill_after_three(i, n, r):  # mid-batch: problem 3 of batch 2 is saved, problem 4 is not
        if i == 3:
            raise Killed

    made = []
    with pytest.raises(Killed):
        evaluate(
            spec,
            CodeBackend(solves=whole.solves),
            store=store,
            progress=kill_after_three,
            created=made.append,
        )
    [eval_id] = made
    assert EvalTables(store).evals()[0].done == 3

    again = CodeBackend(solves=whole.solves)
    result = evaluate(spec, again, store=store, resume=eval_id)
    assert result.eval_id == eval_id and result.status == "finished"
    assert [len(call) for call in again.calls] == [2]  # the half-saved batch only; batch 1 is kept
    assert again.calls[0][0].seed == whole.calls[1][0].seed  # the seed of a run that never stopped
    assert [(r.problem_id, r.passed) for r in result.results] == [
        (r.problem_id, r.passed) for r in expected.results
    ]
    assert result.pass_at == expected.pass_at
    assert EvalTables(store).eval_results(eval_id) == result.results
    with pytest.raises(ValueError, match="finished"):
        evaluate(spec, CodeBackend(), store=store, resume=eval_id)
    with pytest.raises(ValueError, match="other settings"):
        evaluate(EvalSpec(PROBLEMS, batch=2), CodeBackend(), store=store, resume=eval_id)


def test_a_failing_backend_marks_the_eval_failed(store):
    class Broken(CodeBackend):
        def generate(self, requests):
            raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError):
        evaluate(EvalSpec(PROBLEMS), Broken(), store=store)
    assert EvalTables(store).evals()[0].status == "failed"


def test_the_backend_must_carry_the_specs_adapter():
    backend = CodeBackend()
    with pytest.raises(ValueError, match="adapter 'v1'"):
        evaluate(EvalSpec(PROBLEMS, adapter="v1"), backend)
    backend.adapter = "v1"
    assert evaluate(EvalSpec(PROBLEMS[:1], adapter="v1"), backend).adapter == "v1"


# --- mcts --------------------------------------------------------------------------------
def test_mcts_searches_writes_code_from_the_best_path_and_stores_the_tree(store):
    backend = CodeBackend(solves={"HumanEval/0": 1})
    spec = EvalSpec(PROBLEMS[:2], mode="mcts", search={"preset": "quick demo", "max_iterations": 2})
    result = evaluate(spec, backend, store=store)
    assert [r.passed for r in result.results] == [1, 0] and result.pass_at == {1: 0.5}
    assert backend.calls_with("propose") and len(backend.calls_with("code")) == 2
    first = result.results[0]
    tree = store.load_tree(first.run_id)
    assert first.run_ids == [first.run_id] and tree.problem.id == "HumanEval/0"
    assert tree.iteration == 2 and tree.config.k == 2 and not tree.config.rollout
    assert any(n.code is not None and n.code.code == first.codes[0] for n in tree.nodes.values())
    assert EvalTables(store).eval_results(result.eval_id)[0].run_id == first.run_id


# --- CLI ---------------------------------------------------------------------------------
def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, "launch.py", "--data-dir", str(tmp_path / "data"), "evaluate", *args]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--split", "first-x"], "unknown split 'first-x'"),
        (["--problems", "0,HumanEval/999"], "unknown problem 'HumanEval/999'"),
        (["--split", "first-3", "--k", "1,5"], "pass@5 needs at least 5 samples"),
        (["--split", "first-3", "--samples", "5", "--k", "1,5"], "temperature > 0"),
        (["--split", "first-3", "--k", "one"], "--k must be comma-separated integers"),
        (["--split", "first-3", "--iterations", "3"], "only to --mode mcts"),
        (["--split", "first-3", "--mode", "mcts", "--iterations", "0"], "max_iterations must be"),
        (["--split", "first-3", "--problems", "0"], "either --split or --problems"),
        ([], "no problems given"),
        (["--split", "first-3", "--adapter", "no-such-adapter"], "no adapter 'no-such-adapter'"),
        (["--split", "first-3", "--mode", "beam"], "invalid choice: 'beam'"),
        (["--split", "first-3", "--model", "/no/such/model-dir"], "/no/such/model-dir"),
    ],
)
def test_cli_bad_input_prints_one_line_and_exits_2(tmp_path, args, expected):
    result = run_cli(tmp_path, *args)
    err_lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len(err_lines) == 1 and expected in err_lines[0], result.stderr


def test_cli_prints_progress_and_a_summary_and_stores_the_result(tmp_path, monkeypatch):
    from cli import evaluate as evaluate_cli

    monkeypatch.setenv("SRA_STUDIO_DATA", str(tmp_path))
    monkeypatch.setattr(evaluate_cli, "load", lambda args, err: CodeBackend(solves={"HumanEval/2": 1}))
    out, err = io.StringIO(), io.StringIO()
    args = evaluate_cli.EvalArgs(problems="0,2")
    result = evaluate_cli.run_evaluate(args, out=out, err=err)
    progress = [ln for ln in err.getvalue().splitlines() if ln.startswith("[")]
    assert len(progress) == 2 and "HumanEval/2" in progress[1] and "PASS 1/1" in progress[1]
    text = out.getvalue()
    assert re.search(r"pass@1\s+50\.0%\s+50\.0%", text), text
    assert "Passed (1): HumanEval/2" in text and f"evaluation #{result.eval_id}" in text
    assert EvalTables(Store(tmp_path / "studio.db")).evals()[0].id == result.eval_id


def test_cli_adapter_flags_the_problems_it_was_trained_on(tmp_path, monkeypatch):
    from cli import evaluate as evaluate_cli
    from core.backends.adapters import AdapterInfo, write_meta

    monkeypatch.setenv("SRA_STUDIO_DATA", str(tmp_path))
    folder = tmp_path / "adapters" / "v1-lora"
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text('{"peft_type": "LORA"}')
    info = AdapterInfo(
        "v1-lora",
        folder,
        "qwen2.5-coder-0.5b",
        "sft.jsonl",
        "ab" * 32,
        2,
        ["HumanEval/2"],
        {},
        0.0,
        None,
        "finished",
    )
    write_meta(folder, info)
    loaded = []

    def load(args, err):
        loaded.append(args.adapter)
        backend = CodeBackend(solves={"HumanEval/0": 1, "HumanEval/2": 1})
        backend.adapter = "v1-lora"
        return backend

    monkeypatch.setattr(evaluate_cli, "load", load)
    out, err = io.StringIO(), io.StringIO()
    result = evaluate_cli.run_evaluate(
        evaluate_cli.EvalArgs(problems="0,2,4", adapter="v1-lora"), out=out, err=err
    )
    assert loaded == ["v1-lora"] and result.adapter == "v1-lora"
    assert [r.in_training_data for r in result.results] == [False, True, False]
    assert result.pass_at[1] == pytest.approx(2 / 3) and result.pass_at_unseen[1] == 0.5
    assert "1 of them in the adapter's training data" in err.getvalue()
    assert re.search(r"pass@1\s+66\.7%\s+50\.0%", out.getvalue()) and "[in training data]" in out.getvalue()
    [row] = EvalTables(Store(tmp_path / "studio.db")).evals()
    assert row.adapter == "v1-lora" and row.spec["adapter"] == "v1-lora"
    with pytest.raises(evaluate_cli.UsageError, match="trained on 'qwen2.5-coder-0.5b'"):
        evaluate_cli.run_evaluate(evaluate_cli.EvalArgs(problems="0", adapter="v1-lora", model="gpt2"))
