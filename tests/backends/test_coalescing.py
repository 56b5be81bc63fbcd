"""Concurrent searches share one in-process backend, and their requests travel in merged calls."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from core.backends.coalescing import CoalescingBackend
from core.config import SearchConfig
from core.llm import BackendUnavailable, ChatMessage, GenerationRequest
from core.search.mcts import Search
from tests.scripted import ScriptedBackend


class SlowScripted(ScriptedBackend):
    """A scripted model whose calls take time, like a real engine, and that records each call's size."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []
        self._busy = threading.Lock()

    def generate(self, requests):
        with self._busy:  # one call at a time, as an in-process engine runs
            self.sizes.append(len(requests))
            time.sleep(0.02)
            return super().generate(requests)


def test_searches_in_threads_share_calls_and_get_their_own_results(problem):
    inner = SlowScripted()
    shared = CoalescingBackend(inner, window_s=0.01)
    config = SearchConfig(reflection=False, rollout=False, max_iterations=4, end_gate_min_depth=64)
    alone = Search.start(problem, config, ScriptedBackend())
    alone.run()

    def one(seed: int) -> Search:
        search = Search.start(problem, config, shared)
        search.run()
        return search

    with ThreadPoolExecutor(6) as pool:
        searches = list(pool.map(one, range(6)))
    assert all(s.tree.to_dict()["nodes"] == alone.tree.to_dict()["nodes"] for s in searches)
    assert shared.stats.callers == sum(s.tree.usage.calls for s in searches)
    assert shared.stats.calls == len(inner.sizes) < shared.stats.callers  # merged
    assert max(inner.sizes) > 3  # several searches' k requests in one call


def test_a_failed_call_reaches_each_of_its_callers(problem):
    class Down(ScriptedBackend):
        def generate(self, requests):
            time.sleep(0.02)
            raise BackendUnavailable("server gone")

    shared = CoalescingBackend(Down(), window_s=0.01)
    request = GenerationRequest((ChatMessage("user", "hi"),))

    def call(_):
        with pytest.raises(BackendUnavailable, match="server gone"):
            shared.generate([request])
        return True

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(call, range(4)))
    assert shared.generate([]) == []
