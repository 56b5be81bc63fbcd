"""The paper-table bench runs the split and settings issue 16 declared before any run, and nothing else."""

from __future__ import annotations

from pathlib import Path

from core.experiments.spec import PRESETS, ExperimentSpec

BENCH = Path(__file__).resolve().parents[1] / "bench"
SPEC = BENCH / "paper_table.json"  # issue 29: the table at 0.5B
SPEC_135M = BENCH / "paper_table_135m.json"  # issue 16: the finished table at 135M, kept beside it


def test_the_declared_paper_table_spec():
    spec = ExperimentSpec.from_file(SPEC)
    assert spec.train_ids() == tuple(f"HumanEval/{i}" for i in range(82))
    assert spec.eval_ids() == tuple(f"HumanEval/{i}" for i in range(82, 164))
    assert not spec.overlap() and not spec.force_overlap
    assert (spec.samples, spec.k, spec.temperature, spec.model) == (10, 10, 0.8, "qwen2.5-coder-0.5b")
    assert spec.finetune_preset == "CPU 0.5B" and spec.reuse_trees == "bench/results/search_quality.db"
    # CoT, the paper's search and the best search of issue 28, each filtered and unfiltered
    kinds = {(m.kind, m.preset if m.kind == "sra-mcts" else "", m.filter) for m in spec.methods}
    assert kinds == {
        (kind, preset, f)
        for kind, preset in (("cot", ""), ("sra-mcts", "paper defaults"), ("sra-mcts", "repairs what fails"))
        for f in ("none", "tests")
    }


def test_the_searched_data_are_the_search_quality_benchs_trees():
    """Reuse needs the same config digest: the experiment's data config is the bench's search config."""
    from core.evaluation.spec import EvalSpec
    from core.generation.spec import GenerateSpec

    bench = load_bench("search_quality")
    spec = ExperimentSpec.from_file(SPEC)
    for m in (m for m in spec.methods if m.kind == "sra-mcts"):
        made = GenerateSpec(spec.train, "unused", preset=m.preset, iterations=m.iterations, search=m.search)
        method = next(name for name, s in bench.SEARCHES.items() if s == {"preset": m.preset})
        searched = EvalSpec(
            ("HumanEval/0",),
            model="embedded",
            mode="mcts",
            max_tokens=384,
            search={**bench.SEARCHES[method], "max_iterations": 4},
        )
        assert made.config().digest() == searched.search_config(0).digest(), m.key


def test_the_135m_table_is_kept_with_its_spec_and_the_studios_paper_style_preset():
    spec = ExperimentSpec.from_file(SPEC_135M)
    assert spec.digest() == "fa2648357e6a"  # the digest its finished state carries
    state = BENCH / "results" / "paper-experiment-135m" / "experiments" / "paper-table" / "state.json"
    assert '"digest": "fa2648357e6a"' in state.read_text()
    assert ExperimentSpec.from_dict({**PRESETS["paper-style"], "name": spec.name}).digest() == spec.digest()


def load_bench(name: str):
    import importlib.util
    import sys

    path = Path(__file__).resolve().parents[1] / "bench" / f"{name}.py"
    module_spec = importlib.util.spec_from_file_location(name, path)
    bench = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = bench  # its dataclasses look their module up
    module_spec.loader.exec_module(bench)
    return bench


def test_the_search_speed_bench_runs_its_declared_searches():
    bench = load_bench("search_speed")
    assert bench.PROBLEMS == ("HumanEval/10", "HumanEval/23") and bench.ITERATIONS == 4
    assert bench.ENGINES == {"in-process": "transformers", "vllm": "vllm-server"}


def test_the_search_quality_bench_runs_the_declared_problems_and_methods():
    bench = load_bench("search_quality")
    assert bench.DECLARED == "HumanEval/0-81"  # issue 28, declared before any run
    assert bench.METHODS == ("greedy", "repair", "best_of_n", "paper") and bench.BUDGET_FROM == "repair"


def test_best_of_n_starts_from_greedy_stays_in_budget_and_chooses_by_running():
    from argparse import Namespace

    from core.problems.problem import get_problem
    from tests.scripted import ScriptedBackend

    bench = load_bench("search_quality")
    problem = get_problem("HumanEval/53")  # add(x, y); its docstring examples are the visible tests
    assert problem.visible_tests
    args = Namespace(model="scripted", max_tokens=64, seed=0)
    wrong = ScriptedBackend(code="```python\ndef add(x: int, y: int):\n    return x - y")
    row = bench.run_best_of_n(problem, wrong, 40, args, "k")
    greedy_call, *sampled = wrong.calls_with("code")
    assert greedy_call[0].temperature == 0.0 and greedy_call[0].n == 1  # the greedy program first
    assert sampled and all(c[0].temperature > 0 for c in sampled)
    assert row.tokens >= 40 and not row.passed and row.visible_passed is False

    right = ScriptedBackend(code="```python\ndef add(x: int, y: int):\n    return x + y", inputs="add(3, 4)")
    row = bench.run_best_of_n(problem, right, 10_000, args, "k")
    assert row.passed and row.samples == 1  # the greedy program passed the examples: nothing more drawn


def test_best_of_n_picks_the_passing_program_most_others_agree_with_on_new_inputs():
    from argparse import Namespace
    from dataclasses import replace

    from core.llm import Completion
    from core.problems.problem import get_problem
    from tests.scripted import ScriptedBackend

    head = "```python\ndef add(x: int, y: int):\n    return "
    wrong, odd, right_a, right_b = "x - y", "x + y if x < 100 else 0", "x + y", "y + x"

    class Drafts(ScriptedBackend):
        """Greedy draws a wrong program; the sampled call draws one odd and two agreeing passing ones."""

        def _answer(self, req):
            res = super()._answer(req)
            if req.tag != "code":
                return res
            bodies = [wrong] if req.temperature == 0 else [odd, right_a, right_b, wrong][: req.n]
            prefix = req.prefill
            return replace(
                res, completions=tuple(Completion((head + b)[len(prefix) :], "stop", 9) for b in bodies)
            )

    bench = load_bench("search_quality")
    backend = Drafts(inputs="add(200, 1)\nadd(0, 0)")
    row = bench.run_best_of_n(
        get_problem("HumanEval/53"), backend, 10_000, Namespace(model="s", max_tokens=64, seed=0), "k"
    )
    assert backend.calls_with("inputs")  # three programs passed the examples: the model wrote new calls
    assert row.visible_passed and row.passed  # the two that agree on add(200, 1) outvote the odd one


def test_the_search_quality_table_carries_the_verifier_study_when_it_has_run(tmp_path):
    bench = load_bench("search_quality")
    study = tmp_path / "verifier_study.md"
    assert "not measured yet" in "\n".join(bench.verifier_section(study))
    study.write_text("# its own title\n\n| signal | nodes with it | AUROC |\n| p_yes | 12 | 0.700 |\n")
    section = "\n".join(bench.verifier_section(study))
    assert "| p_yes | 12 | 0.700 |" in section and "its own title" not in section
