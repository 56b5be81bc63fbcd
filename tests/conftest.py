from __future__ import annotations

import os
import tempfile

import pytest

from core.config import SearchConfig
from core.problems.problem import Problem
from core.search.mcts import Search
from tests.scripted import ScriptedBackend

# Tests of mechanics run the tiny catalogue model (fast, any CPU); tests that need a model that can
# code name the default (`core.backends.catalogue.DEFAULT_KEY`) and are marked slow.
TINY = "smollm2-135m"


def pytest_configure(config) -> None:
    """No test writes to the user's studio database, exports or adapters: point the data dir at a temp folder.

    Subprocesses (the studio, the CLI, training workers) inherit it. A test that needs its own folder sets
    SRA_STUDIO_DATA itself.
    """
    os.environ["SRA_STUDIO_DATA"] = tempfile.mkdtemp(prefix="sra-studio-test-data-")


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
