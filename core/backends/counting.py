"""A backend wrapper that counts calls, requests, tokens and seconds, per request tag.

Benchmarks and real-model tests wrap a backend in it to see what a search costs.

Example::

    counted = CountingBackend(load_backend("transformers", "embedded"))
    Search.start(problem, config, counted).run()
    counted.stats.calls, counted.stats.by_tag["critic"]
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from core.llm import GenerationRequest, GenerationResult, LLMBackend


@dataclass
class CallStats:
    """Running totals for backend calls, kept by wrappers such as :class:`CountingBackend`."""

    calls: int = 0
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    by_tag: dict[str, int] = field(default_factory=dict)


class CountingBackend:
    """Wraps a backend and counts calls, tokens and time spent inside it."""

    def __init__(self, inner: LLMBackend) -> None:
        self.inner = inner
        self.name = inner.name
        self.model_id = inner.model_id
        self.adapter = getattr(inner, "adapter", None)
        self.stats = CallStats()

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        start = time.perf_counter()
        results = self.inner.generate(requests)
        self.stats.seconds += time.perf_counter() - start
        self.stats.calls += 1
        self.stats.requests += len(requests)
        for req, res in zip(requests, results, strict=True):
            self.stats.prompt_tokens += res.prompt_tokens
            self.stats.completion_tokens += res.completion_tokens
            self.stats.by_tag[req.tag] = self.stats.by_tag.get(req.tag, 0) + 1
        return results
