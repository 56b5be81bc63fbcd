"""A seeded stand-in LLM for benchmarks of the engine's own costs (storage, drawing), never a product default.

It answers each role in the shape a real model does (a numbered step, "Score: N", a code fence),
with text drawn from the request's seed, so trees grown with it carry every record a real search
writes while no model is loaded and no time goes to inference.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from core.llm import Completion, GenerationRequest, GenerationResult


class SyntheticBackend:
    name = "synthetic"
    model_id = "synthetic-v1"

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        return [self._answer(req) for req in requests]

    def _answer(self, req: GenerationRequest) -> GenerationResult:
        rng = random.Random(req.seed)
        replies = {
            "propose": lambda: f" Check case {rng.randint(0, 9999)} of the input.",
            "reflect": lambda: "Analysis: handle the next case.",
            "critic": lambda: f" {rng.randint(1, 8)}",
            "code": lambda: "def solution():\n    return 1",
        }
        texts = [replies.get(req.tag, lambda: "ok")() for _ in range(req.n)]
        prompt = "\n".join(m.content for m in req.messages)
        completions = tuple(Completion(t, "stop", len(t.split())) for t in texts)
        return GenerationResult(completions, prompt + req.prefill, len(prompt.split()), 0.001)
