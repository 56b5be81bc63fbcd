"""The paper-table bench runs the split and settings issue 16 declared before any run, and nothing else."""

from __future__ import annotations

from pathlib import Path

from core.experiments.spec import PRESETS, ExperimentSpec

SPEC = Path(__file__).resolve().parents[1] / "bench" / "paper_table.json"


def test_the_declared_paper_table_spec():
    spec = ExperimentSpec.from_file(SPEC)
    assert spec.train_ids() == tuple(f"HumanEval/{i}" for i in range(82))
    assert spec.eval_ids() == tuple(f"HumanEval/{i}" for i in range(82, 164))
    assert not spec.overlap() and not spec.force_overlap
    assert (spec.samples, spec.k, spec.model) == (10, 10, "embedded")
    # each method filtered and unfiltered
    kinds = {(m.kind, m.filter) for m in spec.methods}
    assert kinds == {("cot", "none"), ("cot", "tests"), ("sra-mcts", "none"), ("sra-mcts", "tests")}


def test_the_studios_paper_style_preset_is_the_benchs_run():
    spec = ExperimentSpec.from_file(SPEC)
    assert ExperimentSpec.from_dict({**PRESETS["paper-style"], "name": spec.name}).digest() == spec.digest()


def test_the_search_speed_bench_runs_its_declared_searches():
    import importlib.util
    import sys

    path = Path(__file__).resolve().parents[1] / "bench" / "search_speed.py"
    module_spec = importlib.util.spec_from_file_location("search_speed", path)
    bench = importlib.util.module_from_spec(module_spec)
    sys.modules["search_speed"] = bench  # its dataclasses look their module up
    module_spec.loader.exec_module(bench)
    assert bench.PROBLEMS == ("HumanEval/10", "HumanEval/23") and bench.ITERATIONS == 4
    assert bench.ENGINES == {"in-process": "transformers", "vllm": "vllm-server"}
