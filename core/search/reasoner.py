"""The LLM side of SRA-MCTS: how steps are proposed, reflected on, scored and turned into code.

The search algorithm (``core/search/mcts.py``) never talks to a model; it asks a
``Reasoner``. Every method makes at most one batched backend call (the ``_many`` forms carry a wave's
paths in that one call; none when given nothing) and returns
records that keep the exact prompt and raw reply. Each call's seed derives from
the tree's call counter, so a search is reproducible from its config seed.

Example::

    reasoner = Reasoner(backend, tree.config, tree.problem, tree.usage)
    record, steps = reasoner.propose([], analysis="", n=3)   # one call, three samples
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.config import SearchConfig
from core.llm import MAX_TOP_LOGPROBS, ChatMessage, GenerationRequest, GenerationResult, LLMBackend
from core.problems.problem import Problem
from core.prompts import (
    COT_PLAN,
    COT_PREFILL,
    DIRECT_CODE,
    DIRECT_CODE_PREFILL,
    DIRECT_FEEDBACK,
    EXECUTION_FEEDBACK,
    TEST_INPUTS,
    VERIFY_CODE,
    VERIFY_PREFILL,
    format_steps,
)
from core.search.answer_choice import MAX_INPUTS, parse_inputs
from core.search.code_extract import extract_code
from core.search.parsing import normalize_step, parse_critic_score, parse_reflection, step_key
from core.search.score_distribution import score_distribution
from core.search.yes_probability import p_yes
from core.tree.records import CodeRecord, CriticRecord, DroppedStep, ExpansionRecord, ReflectionRecord, Usage
from core.worked_examples import EXAMPLES, PROBLEM

NO_STEPS = "(no steps yet)"
SEED_STRIDE = 7919  # a prime: requests of one call get seeds no later call repeats soon
NO_ANALYSIS = "(none)"


@dataclass(frozen=True)
class Proposal:
    """What one expansion asks for: ``n`` next steps after ``steps``, guided by ``analysis``."""

    steps: Sequence[str]
    analysis: str
    n: int
    siblings: Sequence[str] = ()
    iteration: int = 0
    feedback: str = ""  # a visible test the path's code failed (execution feedback), "" when none


class Reasoner:
    def __init__(self, backend: LLMBackend, config: SearchConfig, problem: Problem, usage: Usage) -> None:
        self.backend = backend
        self.config = config
        self.problem = problem
        self.usage = usage

    # --- one backend call each -------------------------------------------------
    def reflect(self, steps: Sequence[str]) -> ReflectionRecord:
        [record] = self.reflect_many([steps])
        return record

    def reflect_many(
        self, paths: Sequence[Sequence[str]], feedback: Sequence[str] | None = None
    ) -> list[ReflectionRecord]:
        """ "<end>" or an analysis for each path, in one batched call; ``feedback`` is each path's failed test."""
        if not paths:
            return []
        cfg = self.config
        prefill = cfg.prompts.reflect_prefill
        requests = self._batch(
            "reflect",
            paths,
            cfg.reflection_max_tokens,
            stop=cfg.reflection_stop,
            prefill=prefill,
            feedback=feedback,
        )
        records = []
        for res in self._call(requests):
            raw = prefill + res.completions[0].text
            verdict = parse_reflection(raw)
            records.append(
                ReflectionRecord(
                    prompt=res.prompt_text,
                    raw=raw,
                    is_end=verdict.is_end,
                    analysis=verdict.analysis,
                    parsed=verdict.parsed,
                    note=verdict.note,
                    tokens=res.completion_tokens,
                    latency_s=res.latency_s,
                )
            )
        return records

    def propose(
        self, steps: Sequence[str], analysis: str, n: int, siblings: Sequence[str] = (), iteration: int = 0
    ) -> tuple[ExpansionRecord, list[str]]:
        """Sample ``n`` next steps in one call; drop unusable ones and repeats.

        Returns the record (its ``kept`` list is filled by the caller once the
        children have ids) and the usable steps in sample order.
        """
        [out] = self.propose_many([Proposal(steps, analysis, n, siblings, iteration)])
        return out

    def propose_many(self, asks: Sequence[Proposal]) -> list[tuple[ExpansionRecord, list[str]]]:
        """:meth:`propose` for several paths (a wave's expansions), in one batched call."""
        if not asks:
            return []
        cfg = self.config
        prefills = [cfg.prompts.propose_prefill.format(step_number=len(a.steps) + 1) for a in asks]
        requests = [
            self._request(
                self._render(
                    "propose",
                    a.steps,
                    feedback=a.feedback,
                    analysis=a.analysis or NO_ANALYSIS,
                    step_number=len(a.steps) + 1,
                ),
                "propose",
                cfg.step_max_tokens,
                n=a.n,
                temperature=cfg.temperature,
                stop=cfg.step_stop,
                prefill=prefill,
                index=i,
            )
            for i, (a, prefill) in enumerate(zip(asks, prefills, strict=True))
        ]
        instructions = self._instructions()
        return [
            self._proposal(a, res, prefill, instructions)
            for a, res, prefill in zip(asks, self._call(requests), prefills, strict=True)
        ]

    @staticmethod
    def _proposal(
        ask: Proposal, res: GenerationResult, prefill: str, instructions: str
    ) -> tuple[ExpansionRecord, list[str]]:
        raws = [prefill + c.text for c in res.completions]
        seen = {step_key(s) for s in ask.steps}
        known_siblings = {step_key(s) for s in ask.siblings}
        kept: list[str] = []
        dropped: list[DroppedStep] = []
        for raw in raws:
            step = normalize_step(raw)
            key = step_key(step) if step else ""
            if not step or not key:
                dropped.append(DroppedStep(raw, "unusable", "empty, code, or too short to be a step"))
            elif key in seen:
                dropped.append(DroppedStep(raw, "in_path", "already a step of this path"))
            elif key in instructions:  # small models often echo the instruction back
                dropped.append(DroppedStep(raw, "echo", "repeats the proposal prompt's instructions"))
            elif key in known_siblings or key in {step_key(s) for s in kept}:
                dropped.append(DroppedStep(raw, "duplicate", "the same as a sibling step"))
            else:
                kept.append(step)
        record = ExpansionRecord(
            iteration=ask.iteration,
            prompt=res.prompt_text,
            raws=raws,
            kept=[],
            dropped=dropped,
            tokens=res.completion_tokens,
            latency_s=res.latency_s,
        )
        return record, kept

    def critique(self, paths: Sequence[Sequence[str]]) -> list[CriticRecord]:
        """Score every path in one batched call."""
        if not paths:
            return []
        cfg = self.config
        prefill = cfg.prompts.critic_prefill
        want_distribution = cfg.critic_value == "distribution"
        requests = self._batch(
            "critic",
            paths,
            cfg.critic_max_tokens,
            temperature=cfg.critic_temperature,
            stop=cfg.critic_stop,
            prefill=prefill,
            top_logprobs=MAX_TOP_LOGPROBS if want_distribution else 0,
        )
        records = []
        for res in self._call(requests):
            completion = res.completions[0]
            raw = prefill + completion.text
            parsed = parse_critic_score(raw)
            value = parsed.normalized if parsed.normalized is not None else cfg.unparsed_value
            dist = score_distribution(completion.logprobs) if want_distribution else None
            self.usage.critic_replies += 1
            self.usage.critic_parsed += int(parsed.parsed)
            self.usage.critic_distributions += int(dist is not None)
            note = parsed.note
            if want_distribution and dist is None:
                why = (
                    "the backend gave no log-probabilities"
                    if completion.logprobs is None
                    else "no score token"
                )
                note = "; ".join(filter(None, [note, f"text score used: {why}"]))
            records.append(
                CriticRecord(
                    prompt=res.prompt_text,
                    raw=raw,
                    score=parsed.score,
                    parsed=parsed.parsed,
                    method=parsed.method,
                    note=note,
                    value=dist.expected / 10 if dist is not None else value,
                    tokens=res.completion_tokens,
                    latency_s=res.latency_s,
                    distribution=list(dist.probs) if dist is not None else None,
                    expected=dist.expected if dist is not None else None,
                    approximate=dist.approximate if dist is not None else False,
                    source="distribution" if dist is not None else "text",
                )
            )
        return records

    def plan(self, max_steps: int, temperature: float = 0.0) -> tuple[ExpansionRecord, list[str]]:
        """A whole plan from one greedy call (the one-shot CoT baseline): its usable lines, in order.

        Each line is one step, cleaned as a proposal is (its number, code and repeats dropped).
        """
        prompt = COT_PLAN.format(problem=self.problem.prompt.strip(), max_steps=max_steps)
        budget = PLAN_TOKENS_PER_STEP * max_steps  # short lines; a model that rambles is cut here
        req = self._request(
            prompt, "propose", budget, temperature=temperature, stop=("```",), prefill=COT_PREFILL
        )
        [res] = self._call([req])
        raw = COT_PREFILL + res.completions[0].text
        kept: list[str] = []
        dropped: list[DroppedStep] = []
        for line in _numbered_lines(raw):
            step = normalize_step(line)
            key = step_key(step) if step else ""
            if not step or not key:
                dropped.append(DroppedStep(line, "unusable", "empty, code, or too short to be a step"))
            elif key in {step_key(k) for k in kept}:
                dropped.append(DroppedStep(line, "in_path", "already a step of this path"))
            elif len(kept) < max_steps:
                kept.append(step)
        record = ExpansionRecord(0, res.prompt_text, [raw], [], dropped, res.completion_tokens, res.latency_s)
        return record, kept

    def to_code(self, steps: Sequence[str]) -> CodeRecord:
        [record] = self.to_code_many([steps])
        return record

    def to_code_many(self, paths: Sequence[Sequence[str]]) -> list[CodeRecord]:
        """Each path's reasoning turned into code, in one batched call."""
        if not paths:
            return []
        entry = self.problem.entry_point or "solution"
        cfg = self.config
        prefill = cfg.prompts.code_prefill
        requests = self._batch(
            "code", paths, cfg.code_max_tokens, stop=cfg.code_stop, prefill=prefill, entry_point=entry
        )
        return [self._code_record(res, prefill) for res in self._call(requests)]

    def direct_code(self) -> CodeRecord:
        """Code straight from the problem, no reasoning: the greedy program every grounded search starts from."""
        cfg = self.config
        prompt = DIRECT_CODE.format(
            problem=self.problem.prompt.strip(), entry_point=self.problem.entry_point or "solution"
        )
        req = self._request(
            prompt, "code", cfg.code_max_tokens, stop=cfg.code_stop, prefill=DIRECT_CODE_PREFILL
        )
        [res] = self._call([req])
        return self._code_record(res, DIRECT_CODE_PREFILL)

    def test_inputs(self, n: int = MAX_INPUTS) -> tuple[list[str], str]:
        """(calls, raw reply): new inputs for the entry point that may tell candidates apart (one call)."""
        entry = self.problem.entry_point or "solution"
        prompt = TEST_INPUTS.format(problem=self.problem.prompt.strip(), n=n, entry_point=entry)
        req = self._request(prompt, "inputs", 40 * n, stop=("\n\n\n",), prefill="")
        [res] = self._call([req])
        raw = res.completions[0].text
        return parse_inputs(raw, entry, limit=n), raw

    def p_yes_many(self, codes: Sequence[str]) -> list[float | None]:
        """P(yes) to "is this program correct?" for each program (one batched call; None where unreadable)."""
        if not codes:
            return []
        problem = self.problem.prompt.strip()
        requests = [
            self._request(
                VERIFY_CODE.format(problem=problem, code=code.strip()),
                "verify",
                1,
                prefill=VERIFY_PREFILL,
                top_logprobs=MAX_TOP_LOGPROBS,
                index=i,
            )
            for i, code in enumerate(codes)
        ]
        return [p_yes(res.completions[0].logprobs) for res in self._call(requests)]

    def _code_record(self, res: GenerationResult, prefill: str) -> CodeRecord:
        completion = res.completions[0]
        # A stop string is cut from the reply; put a closing fence back so the block reads as complete.
        closing = "\n```" if completion.finish_reason == "stop" and "```" in prefill + completion.text else ""
        raw = prefill + completion.text + closing
        found = extract_code(raw, self.problem.entry_point, self.problem.prompt)
        truncated = found.truncated or completion.finish_reason == "length"
        return CodeRecord(
            prompt=res.prompt_text,
            raw=raw,
            code=found.code,
            source=found.source,
            truncated=truncated,
            note=found.note,
            tokens=res.completion_tokens,
            latency_s=res.latency_s,
        )

    # --- plumbing ------------------------------------------------------------------
    def _example(self, role: str) -> tuple[ChatMessage, ...]:
        """The role's worked example as an earlier user/assistant turn, when the config asks for them."""
        if not self.config.worked_examples or role not in EXAMPLES:
            return ()
        values, reply = EXAMPLES[role]
        steps = format_steps(values.get("steps", []), empty=NO_STEPS)  # type: ignore[arg-type]
        extra = {k: v for k, v in values.items() if k != "steps"}
        if role == "code":
            extra["entry_point"] = "second_largest"
        prompt = self.config.prompts.render(role, problem=PROBLEM, steps=steps, **extra)
        return ChatMessage("user", prompt), ChatMessage("assistant", reply)

    def _instructions(self) -> str:
        """The key of the proposal prompt's own words (the template, without problem, steps or hint)."""
        blank = self.config.prompts.render("propose", problem="", steps="", analysis="", step_number="")
        shown = " ".join(m.content for m in self._example("propose"))  # a worked example is instructions too
        return step_key(f"{self.config.prompts.system} {blank} {shown}")

    def _batch(
        self,
        role: str,
        paths: Sequence[Sequence[str]],
        max_tokens: int,
        *,
        temperature: float = 0.0,
        stop: tuple[str, ...] = (),
        prefill: str = "",
        top_logprobs: int = 0,
        feedback: Sequence[str] | None = None,
        **extra: object,
    ) -> list[GenerationRequest]:
        """One request of ``role`` for each path, in order (``extra`` fills the template's other fields;
        ``feedback``, one per path, goes under its steps)."""
        return [
            self._request(
                self._render(role, steps, feedback=feedback[i] if feedback else "", **extra),
                role,
                max_tokens,
                temperature=temperature,
                stop=stop,
                prefill=prefill,
                top_logprobs=top_logprobs,
                index=i,
            )
            for i, steps in enumerate(paths)
        ]

    def _render(self, role: str, steps: Sequence[str], feedback: str = "", **extra: object) -> str:
        """The role's prompt; a path's failed test (execution feedback) goes under its steps."""
        shown = format_steps(steps, empty=NO_STEPS)
        if feedback:
            template = EXECUTION_FEEDBACK if steps else DIRECT_FEEDBACK  # no steps: the direct program's
            shown += "\n\n" + template.format(failure=feedback)
        return self.config.prompts.render(role, problem=self.problem.prompt.strip(), steps=shown, **extra)

    def _request(
        self,
        prompt: str,
        tag: str,
        max_tokens: int,
        *,
        n: int = 1,
        temperature: float = 0.0,
        stop: tuple[str, ...] = (),
        prefill: str = "",
        top_logprobs: int = 0,
        index: int = 0,
    ) -> GenerationRequest:
        """One request; ``index`` (its place in a batched call) varies the seed, so engines that seed
        each request apart (vLLM) do not repeat one sample stream across a call's requests."""
        messages = (
            ChatMessage("system", self.config.prompts.system),
            *self._example(tag),
            ChatMessage("user", prompt),
        )
        return GenerationRequest(
            messages=messages,
            n=n,
            temperature=temperature,
            top_p=self.config.top_p if temperature > 0 else 1.0,
            max_tokens=max_tokens,
            stop=stop,
            seed=(self.config.seed * 1_000_003 + self.usage.calls + SEED_STRIDE * index) % (2**31),
            tag=tag,
            prefill=prefill,
            top_logprobs=top_logprobs,
        )

    def _call(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        results = self.backend.generate(requests)
        if len(results) != len(requests):
            raise RuntimeError(f"backend returned {len(results)} results for {len(requests)} requests")
        u = self.usage
        u.calls += 1
        u.llm_seconds += results[0].latency_s if results else 0.0
        for req, res in zip(requests, results, strict=True):
            u.prompt_tokens += res.prompt_tokens
            u.completion_tokens += res.completion_tokens
            u.by_role[req.tag] = u.by_role.get(req.tag, 0) + 1
        return results


PLAN_TOKENS_PER_STEP = 24


def _numbered_lines(text: str) -> list[str]:
    """The plan's lines; a line that does not start a new number continues the step before it."""
    lines: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        starts = stripped[:1].isdigit() or stripped[:1] in "-*•"
        if lines and not starts:
            lines[-1] += " " + stripped
        else:
            lines.append(stripped)
    return lines
