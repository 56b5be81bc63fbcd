"""A backend failure mid-iteration pauses the search: the iteration is undone, and the next step resumes."""

from __future__ import annotations

import json

import pytest

from core.llm import BackendError, BackendUnavailable
from core.search.mcts import SearchPaused
from core.tree.events import EventKind
from tests.scripted import ScriptedBackend

UNREACHABLE = BackendUnavailable("model server http://127.0.0.1:1/v1 unreachable (Connection refused)")


class FailOnCall(ScriptedBackend):
    """Raises ``error`` (by default: unreachable) on the listed (0-based) generate calls, else answers."""

    def __init__(self, fail_on: set[int], error: BackendError = UNREACHABLE) -> None:
        super().__init__()
        self.fail_on, self.count, self.error = fail_on, 0, error

    def generate(self, requests):
        self.count += 1
        if self.count - 1 in self.fail_on:
            raise self.error
        return super().generate(requests)


def nodes_and_values(search) -> str:
    return json.dumps(search.tree.to_dict()["nodes"], sort_keys=True)


@pytest.mark.parametrize("width", [1, 4])
@pytest.mark.parametrize("phase", ["reflect", "propose", "critique", "rollout"])
def test_a_failure_in_any_phase_undoes_the_iteration(make_search, phase, width):
    # calls per wave after the first: reflect, propose, critique, rollout-propose, rollout-critique
    offset = {"reflect": 0, "propose": 1, "critique": 2, "rollout": 3}[phase]
    knobs = {"reflection": True, "rollout": True, "max_iterations": 10, "width": width}
    warmup = make_search(FailOnCall(set()), **knobs)
    warmup.run(2)
    calls_for_two = warmup.backend.count
    search = make_search(FailOnCall({calls_for_two + offset}), **knobs)
    search.run(2)
    before, events_before = nodes_and_values(search), len(search.tree.events)
    with pytest.raises(SearchPaused, match="iteration 3.*unreachable"):
        search.step()
    assert nodes_and_values(search) == before  # no node lost, none half made
    assert search.tree.iteration == 2 and not search.finished
    assert [e.kind for e in search.tree.events[events_before:]] == [EventKind.PAUSED]
    assert "unreachable" in search.paused
    search.step()  # resumes: the same iteration, now complete
    kinds = [e.kind for e in search.tree.events[events_before:]]
    assert kinds[:3] == [EventKind.PAUSED, EventKind.RESUMED, EventKind.SELECTED]
    wave = [e.node for e in search.tree.events[events_before:] if e.kind is EventKind.SELECTED]
    assert search.tree.iteration == 2 + len(wave) and not search.paused
    assert len(wave) == 1 if width == 1 else len(wave) > 1
    steps = {(n["id"], n["step"]) for n in json.loads(before)}
    assert steps < {(n["id"], n["step"]) for n in json.loads(nodes_and_values(search))}
    search.tree.validate()


def test_an_error_that_waiting_cannot_fix_is_raised_as_it_is_not_a_pause(make_search):
    too_long = BackendError("the prompt (length 9000 tokens) is longer than the maximum model length of 8192")
    search = make_search(FailOnCall({2}, too_long), reflection=False, rollout=False, max_iterations=10)
    search.step()
    before, events_before = nodes_and_values(search), len(search.tree.events)
    with pytest.raises(BackendError, match="longer than the maximum") as caught:
        search.step()
    assert not isinstance(caught.value, SearchPaused) and not search.paused
    assert nodes_and_values(search) == before and len(search.tree.events) == events_before
