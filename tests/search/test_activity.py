"""The search says which phase it is in while it runs (the studio's live progress line reads it)."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.search.activity import Activity
from tests.scripted import ScriptedBackend
from tests.search.test_truthful_search import grounded


@dataclass
class Watching(ScriptedBackend):
    """Notes the search's activity at every model call, as a reader in another thread would see it."""

    search: object = None
    seen: list[tuple[str, str | None]] = field(default_factory=list)

    def generate(self, requests):
        activity = getattr(self.search, "activity", None)
        self.seen.append((requests[0].tag, activity.phase if activity else None))
        return super().generate(requests)


def test_each_model_call_happens_under_the_phase_that_names_it():
    backend = Watching()
    search = grounded(backend, reflection=True, rollout=True)
    backend.search = search
    for _ in range(3):
        search.step()
        assert search.activity is None  # between iterations nothing runs
    want = {"propose": "propose", "critic": "critic", "reflect": "reflect", "code": "code"}
    seen = set(backend.seen)
    for tag, phase in seen:
        if tag == "propose" and phase == "rollout":
            continue  # the rollout proposes too, under its own phase
        if tag == "critic" and phase == "rollout":
            continue
        assert phase == want[tag], (tag, phase)
    assert {p for _, p in seen} >= {"propose", "critic", "code", "rollout"}


def test_checking_a_node_by_hand_shows_code_then_ends_idle():
    backend = Watching()
    search = grounded(backend)
    backend.search = search
    search.step()
    child = search.tree.root.children[0]
    search.execute(child)
    assert ("code", "code") in backend.seen[-1:] and search.activity is None


def test_an_activity_reads_as_a_line():
    line = Activity("propose", 3, 4, since=10.0).describe(now=12.5)
    assert line == "iteration 3 · proposing next steps at node #4 · 2.5 s"
