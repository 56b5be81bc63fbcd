from __future__ import annotations

import pytest

from core.config import SearchConfig
from core.problems import Problem
from core.search import Search
from tests.scripted import ScriptedBackend


@pytest.fixture
def problem() -> Problem:
    return Problem(
        id="custom/toy",
        prompt='def add(a: int, b: int) -> int:\n    """Return the sum of a and b.\n    >>> add(1, 2)\n    3\n    """\n',
        entry_point="add",
        visible_tests=("assert add(1, 2) == 3",),
        hidden_test=None,
        canonical_solution=None,
        source="custom",
    )


@pytest.fixture
def make_search(problem):
    def make(backend: ScriptedBackend | None = None, **config) -> Search:
        cfg = SearchConfig(**{"reflection": False, "rollout": False, **config})
        return Search.start(problem, cfg, backend or ScriptedBackend())

    return make
