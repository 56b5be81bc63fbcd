"""The History table says what a run is doing now and who made it, in words a person reads."""

from __future__ import annotations

from types import SimpleNamespace

from core.search.activity import Activity
from ui.context import owner_label, owner_of
from ui.history_tab import status_cell


def test_a_run_not_stopped_is_running_only_while_an_iteration_is_in_flight():
    idle = SimpleNamespace(search=SimpleNamespace(activity=None))
    busy = SimpleNamespace(search=SimpleNamespace(activity=Activity("propose", 2)))
    assert status_cell("running", busy) == "running now"
    assert status_cell("running", idle) == "idle · open"
    assert status_cell("running", None).startswith("idle")
    assert status_cell("max_iterations", None) == "max_iterations"


def test_an_anonymous_owner_reads_as_anonymous_and_a_login_as_its_name():
    anon = owner_of(SimpleNamespace(username=None, session_hash="x7f3k2"))
    assert anon == "session:x7f3k2" and owner_label(anon) == "anonymous"
    alice = owner_of(SimpleNamespace(username="alice", session_hash="x7f3k2"))
    assert alice == "alice" and owner_label(alice) == "alice"
