"""An evaluation says what it works on while it runs: the batch, the problem, the search's phase."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.evaluation.run import evaluate
from core.evaluation.solvers import Doing
from core.evaluation.spec import EvalSpec
from tests.scripted import ScriptedBackend


@dataclass
class Reading(ScriptedBackend):
    doing: Doing | None = None
    lines: list[str] = field(default_factory=list)

    def generate(self, requests):
        self.lines.append(self.doing.describe())
        return super().generate(requests)


def test_greedy_names_its_batch():
    backend = Reading(doing=Doing())
    evaluate(EvalSpec(("HumanEval/0", "HumanEval/1")), backend, doing=backend.doing)
    assert backend.lines[0].startswith("writing code for HumanEval/0 … HumanEval/1 (2 problems, one batch)")
    assert backend.doing.text.startswith("running the hidden tests of HumanEval/0 … HumanEval/1")


def test_mcts_names_its_problem_and_the_searchs_phase():
    backend = Reading(doing=Doing())
    spec = EvalSpec(("HumanEval/3",), mode="mcts", search={"preset": "quick demo", "max_iterations": 1})
    evaluate(spec, backend, doing=backend.doing)
    assert any(line.startswith("HumanEval/3 · iteration 1 · proposing next steps") for line in backend.lines)
    assert any("HumanEval/3: code for the answer" in line for line in backend.lines)
