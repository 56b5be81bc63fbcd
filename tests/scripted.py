"""A deterministic scripted LLM: a test double for the engine tests (never the product's default).

Steps it proposes carry the score the critic will give them, written as
"(score N)", so that tests can hand-compute values. Each proposal call can be
scripted; otherwise it invents steps from the request's seed.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from core.llm import Completion, GenerationRequest, GenerationResult

SCORE_IN_STEP = re.compile(r"\(score (\d+)\)")


def render(req: GenerationRequest) -> str:
    return "\n".join(f"<{m.role}>\n{m.content}" for m in req.messages)


def last_step(prompt: str) -> str:
    lines = [ln for ln in prompt.splitlines() if re.match(r"^\d+\. ", ln)]
    return lines[-1] if lines else ""


@dataclass
class ScriptedBackend:
    """``proposals``: lists of step texts, one list per proposal call, used in order.

    ``reflections``: replies to reflection calls in order (default: an analysis).
    ``critic``: maps the path's last step to the critic's reply.
    ``code_for``: maps the path's last step to the code reply (else ``code`` for every path).
    ``inputs``: the reply to a request for new test inputs.
    """

    proposals: list[list[str]] = field(default_factory=list)
    reflections: list[str] = field(default_factory=list)
    critic: Callable[[str], str] | None = None
    code: str = "```python\ndef solution():\n    return 1"  # the closing fence is the stop string
    code_for: Callable[[str], str] | None = None
    inputs: str = ""
    name: str = "scripted"
    model_id: str = "scripted-v1"
    calls: list[list[GenerationRequest]] = field(default_factory=list)
    delay_s: float = 0.0  # seconds each call takes, to watch progress while a call is in flight

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        self.calls.append(list(requests))
        if self.delay_s:
            time.sleep(self.delay_s)
        return [self._answer(req) for req in requests]

    def calls_with(self, tag: str) -> list[list[GenerationRequest]]:
        return [c for c in self.calls if c and c[0].tag == tag]

    def _answer(self, req: GenerationRequest) -> GenerationResult:
        prompt = render(req)
        rng = random.Random(req.seed)
        if req.tag == "propose":
            script = self.proposals.pop(0) if self.proposals else None
            texts = [
                script[i]
                if script and i < len(script)
                else f"Check case {rng.randint(0, 999)} (score {rng.randint(1, 8)})"
                for i in range(req.n)
            ]
        elif req.tag == "reflect":
            texts = [self.reflections.pop(0) if self.reflections else "Analysis: handle the next case."]
        elif req.tag == "critic":
            step = last_step(prompt)
            if self.critic is not None:
                texts = [self.critic(step)]
            else:
                m = SCORE_IN_STEP.search(step)
                texts = [f"Score: {m.group(1)}" if m else "I cannot tell."]
        elif req.tag == "code":
            code = self.code_for(last_step(prompt)) if self.code_for is not None else self.code
            texts = [code] * req.n  # n samples, as a real backend gives
        elif req.tag == "inputs":
            texts = [self.inputs]
        else:
            texts = ["ok"]
        # Like a real model, continue the prefill: the reply's start is what was prefilled.
        texts = [
            t[len(req.prefill) :] if t.startswith(req.prefill) else f" {t}" if req.prefill else t
            for t in texts
        ]
        completions = tuple(Completion(t, "stop", len(t.split())) for t in texts)
        return GenerationResult(completions, prompt + req.prefill, len(prompt.split()), 0.001)
