"""Merge the requests of concurrent searches into one backend call.

An in-process engine (transformers, ``vllm.LLM``) runs one call at a time; searches in
threads would take turns and each call would carry only one search's k rows. Here the
first caller to arrive becomes the leader: it waits ``window_s`` for others, takes every
request queued by then (up to ``max_requests``), makes one call of them all and hands
each caller its own results. A failure reaches every caller of that call.

Example::

    shared = CoalescingBackend(load_backend("vllm", "embedded"))
    # 8 threads, each: Search.start(problem, config, shared).run()
    shared.stats.calls, shared.stats.requests        # fewer calls, more requests per call
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from core.llm import GenerationRequest, GenerationResult, LLMBackend


@dataclass
class _Pending:
    requests: Sequence[GenerationRequest]
    done: threading.Event = field(default_factory=threading.Event)
    results: list[GenerationResult] | None = None
    error: BaseException | None = None


@dataclass
class CoalescingStats:
    calls: int = 0
    requests: int = 0
    callers: int = 0  # generate() calls served


class CoalescingBackend:
    def __init__(self, inner: LLMBackend, *, window_s: float = 0.01, max_requests: int = 256) -> None:
        self.inner = inner
        self.name = inner.name
        self.model_id = inner.model_id
        self.adapter = getattr(inner, "adapter", None)
        self.window_s, self.max_requests = window_s, max_requests
        self.stats = CoalescingStats()
        self._queue: list[_Pending] = []
        self._cond = threading.Condition()
        self._leading = False

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        if not requests:
            return []
        mine = _Pending(requests)
        with self._cond:
            self._queue.append(mine)
            self._cond.notify_all()
        while not mine.done.is_set():
            with self._cond:
                lead = not self._leading and not mine.done.is_set() and mine in self._queue
                if lead:
                    self._leading = True
            if lead:
                try:
                    self._lead()
                finally:
                    with self._cond:
                        self._leading = False
                        self._cond.notify_all()
            else:
                with self._cond:
                    self._cond.wait_for(lambda: mine.done.is_set() or not self._leading, timeout=1.0)
        if mine.error is not None:
            raise mine.error
        assert mine.results is not None
        return mine.results

    def _lead(self) -> None:
        time.sleep(self.window_s)  # let the other searches' calls arrive
        with self._cond:
            batch, size = [], 0
            while self._queue and (not batch or size + len(self._queue[0].requests) <= self.max_requests):
                pending = self._queue.pop(0)
                batch.append(pending)
                size += len(pending.requests)
        flat = [r for p in batch for r in p.requests]
        try:
            results = self.inner.generate(flat)
        except BaseException as exc:  # every caller of this call sees the failure, then it propagates
            for p in batch:
                p.error = exc
                p.done.set()
            return
        self.stats.calls += 1
        self.stats.requests += len(flat)
        self.stats.callers += len(batch)
        at = 0
        for p in batch:
            p.results = results[at : at + len(p.requests)]
            at += len(p.requests)
            p.done.set()
