"""Why a search stopped, and which stops are final: the one place that knows.

A budget stop ("max_iterations", "time_budget", "stopped by user") ends only the current budget: more
iterations go on from there. A final stop ("end_gate": the answer was found; "direct_passed": the
direct program passed every visible test, with ``accept_direct`` on; "exhausted": nothing is left to
expand) holds until the user steers (forcing a node, or adding a step, reopens the search).

Example::

    is_final("end_gate")        # True: Search.resume(n) refuses; Steering.force reopens
    is_final("max_iterations")  # False: Search.resume(n) runs n more
"""

from __future__ import annotations

BUDGET_STOPS = frozenset({"max_iterations", "time_budget", "stopped by user"})
FINAL_STOPS = frozenset(
    {"end_gate", "direct_passed", "exhausted", "one_shot"}
)  # one_shot: a CoT plan (core/search/one_shot.py)
REOPENED_BY_FORCE = FINAL_STOPS  # a forced node is new work, whatever ended the search
REOPENED_BY_ADD = frozenset({"exhausted"})  # a human step is new work; it does not undo a found answer


def is_final(stopped: str) -> bool:
    return stopped in FINAL_STOPS
