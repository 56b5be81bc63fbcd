"""The narrow protocol every LLM backend implements.

A backend takes a batch of requests in one call and returns one result per
request, in order. Each request may ask for ``n`` samples of the same prompt;
backends should share the prompt's encoding across those samples.

Example::

    backend = load_backend("transformers")            # the embedded model
    [res] = backend.generate([GenerationRequest(
        messages=(ChatMessage("user", "Say hi"),), n=3, temperature=0.7, seed=1)])
    [c.text for c in res.completions]                  # three samples
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


class BackendError(RuntimeError):
    """A backend failed in a way the user should be told about (not a bug)."""


class EngineUnavailable(BackendError):
    """The fast engine (a local vLLM server) could not start: one line with the cause and the fix."""


def first_line(exc: BaseException) -> str:
    """An exception's first line, for a one-line message (its type's name when it says nothing)."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class ModelNotAvailable(BackendError):
    """The requested weights are not on this machine (or the server does not serve that model)."""


class BackendUnavailable(BackendError):
    """The model server could not be reached, or kept failing after the retries: worth trying again later."""


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True)
class GenerationRequest:
    """One prompt, sampled ``n`` times with the same settings.

    ``tag`` names the role of the call (``"propose"``, ``"critic"`` ...). Real
    backends ignore it; it feeds per-role accounting and scripted test doubles.
    ``temperature == 0`` means greedy decoding. ``prefill`` starts the assistant's
    reply (e.g. ``"Score:"``): the model continues it, and completions exclude it.
    Small models follow a format far more reliably this way. ``top_logprobs > 0`` asks
    for the log-probability of each generated token and of the ``top_logprobs`` most
    likely tokens at its position (the critic reads its score distribution from them);
    a backend that cannot give them leaves ``Completion.logprobs`` as None.
    """

    messages: tuple[ChatMessage, ...]
    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int | None = None
    tag: str = ""
    prefill: str = ""
    top_logprobs: int = 0

    def __post_init__(self) -> None:
        if not self.messages:
            raise ValueError("GenerationRequest.messages must not be empty")
        if self.n < 1:
            raise ValueError(f"GenerationRequest.n must be >= 1, got {self.n}")
        if self.temperature < 0:
            raise ValueError(f"GenerationRequest.temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"GenerationRequest.top_p must be in (0, 1], got {self.top_p}")
        if self.max_tokens < 1:
            raise ValueError(f"GenerationRequest.max_tokens must be >= 1, got {self.max_tokens}")
        if not 0 <= self.top_logprobs <= MAX_TOP_LOGPROBS:
            raise ValueError(
                f"GenerationRequest.top_logprobs must be from 0 to {MAX_TOP_LOGPROBS}, got {self.top_logprobs}"
            )


MAX_TOP_LOGPROBS = 20  # what OpenAI-compatible servers accept


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token: its text, its natural-log probability, and the likeliest tokens at its position.

    ``top`` holds (token text, logprob) pairs, most likely first; the generated token is among
    them only when it was one of the likeliest (sampling may pick a rarer one).
    """

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


def covering_logprobs(entries: Sequence[TokenLogprob], text: str) -> tuple[TokenLogprob, ...]:
    """The entries up to the one in which ``text`` ends: the tokens of a stop string cut from it are dropped.

    A token that straddles the cut stays whole, so the tokens' texts joined start with ``text`` (and
    equal it when nothing was cut). Lengths are counted on each token's own text: exact when every
    token decodes to whole characters. Shared by the in-process backends.
    """
    kept, length = [], 0
    for entry in entries:
        if length >= len(text):
            break
        kept.append(entry)
        length += len(entry.token)
    return tuple(kept)


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str  # "stop" (EOS or a stop string) | "length" (hit max_tokens)
    completion_tokens: int
    # One entry per generated token of ``text`` (a stop string cut from the text is not in it);
    # None unless the request asked for top_logprobs and the backend can give them.
    logprobs: tuple[TokenLogprob, ...] | None = None


@dataclass(frozen=True)
class GenerationResult:
    """The ``n`` completions of one request, with what it cost.

    ``prompt_text`` is the exact string the model saw (after the chat template,
    with the request's prefill at its end),
    so that the UI can show the full prompt. ``latency_s`` is the wall time of
    the whole batched call the request was part of.
    """

    completions: tuple[Completion, ...]
    prompt_text: str
    prompt_tokens: int
    latency_s: float

    @property
    def completion_tokens(self) -> int:
        return sum(c.completion_tokens for c in self.completions)


@runtime_checkable
class LLMBackend(Protocol):
    """What the search needs from a model. Implementations live in ``core/backends/``."""

    name: str  # backend kind, e.g. "transformers"
    model_id: str  # what was loaded, e.g. "embedded:Qwen2.5-Coder-0.5B-Instruct"
    # Backends may also carry ``adapter: str | None``, the name of a LoRA adapter on top of the model.

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """Run every request in one batched call; results keep the requests' order."""
        ...
