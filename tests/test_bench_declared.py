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
