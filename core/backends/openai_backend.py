"""OpenAI-compatible HTTP backend: vLLM's server, SGLang, llama.cpp's server, Ollama, hosted APIs.

Each request is one chat-completions call with ``n`` samples; the requests of one
``generate`` go out in parallel on a pool shared by every caller of the backend, so
``concurrency`` bounds the requests in flight however many searches share it, and the
server's continuous batching does the rest. The ``openai`` client retries connection
errors, 408/409/429 and 5xx with exponential backoff; what still fails becomes a
:class:`~core.llm.BackendUnavailable` (try again later) or a
:class:`~core.llm.BackendError` carrying the server's own message.

A request's ``prefill`` (the start of the assistant's reply) is sent as a final
assistant message. ``prefill="continue"`` (the default) adds vLLM/SGLang's
``continue_final_message`` so that the model continues it; ``"assistant"`` sends the
message alone (servers that continue a trailing assistant turn by themselves);
``"none"`` drops it, for APIs that refuse both.

A request's ``top_logprobs`` asks for ``logprobs``/``top_logprobs``; a server that answers 400
about them gets the request again without, and from then on none (their completions carry
``logprobs=None``).

Example::

    backend = OpenAIBackend("", base_url="http://127.0.0.1:8000/v1")   # the server's only model
    backend = OpenAIBackend("gpt-4o-mini", base_url="https://api.openai.com/v1", prefill="none")
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import openai
from openai.types.chat import ChatCompletion
from openai.types.chat.chat_completion import Choice

from core.llm import (
    BackendError,
    BackendUnavailable,
    ChatMessage,
    Completion,
    GenerationRequest,
    GenerationResult,
    ModelNotAvailable,
    TokenLogprob,
)

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
PREFILL_MODES = ("continue", "assistant", "none")


class OpenAIBackend:
    """A model behind an OpenAI-compatible ``/v1`` endpoint; thread-safe, shared by many searches."""

    name = "openai"

    def __init__(
        self,
        model: str = "",
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        max_retries: int = 3,
        concurrency: int = 16,
        prefill: str = "continue",
        adapter: str | None = None,
    ) -> None:
        if prefill not in PREFILL_MODES:
            raise ValueError(f"prefill must be one of {', '.join(PREFILL_MODES)}, got {prefill!r}")
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if adapter:
            raise ValueError(
                "the openai backend takes no adapter: serve it (vLLM: --enable-lora --lora-modules NAME=PATH) "
                "and pass its NAME as the model"
            )
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.prefill = prefill
        self.concurrency = concurrency
        self.adapter: str | None = None
        self.client = openai.OpenAI(
            base_url=self.base_url,
            api_key=api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY",
            timeout=timeout_s,
            max_retries=max_retries,
        )
        self.model = self._check_model(model)
        self.model_id = f"openai:{self.model}@{self.base_url}"
        self.logprobs_supported = True  # False once the server refused them
        self._logprobs_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="openai-backend")

    def _check_model(self, model: str) -> str:
        """The model name to send; fails early, and clearly, when the server is down or does not serve it."""
        try:
            served = [m.id for m in self.client.models.list()]
        except openai.APIError as exc:
            raise self._error(exc) from None
        wanted = (model or "").strip()
        if wanted in ("", "embedded"):
            if len(served) != 1:
                raise ModelNotAvailable(
                    f"{self.base_url} serves {len(served)} models ({', '.join(served[:8]) or 'none'}): "
                    "name one with --model"
                )
            return served[0]
        if served and wanted not in served:
            raise ModelNotAvailable(
                f"{self.base_url} does not serve model '{wanted}'; it serves: {', '.join(served[:8])}"
            )
        return wanted

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        if not requests:
            return []
        start = time.perf_counter()
        futures = [self._pool.submit(self._one, r) for r in requests]
        parts = [f.result() for f in futures]  # the first failure propagates, in request order
        latency = time.perf_counter() - start
        return [GenerationResult(c, p, t, latency) for c, p, t in parts]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()

    def _one(self, request: GenerationRequest) -> tuple[tuple[Completion, ...], str, int]:
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        extra: dict = {}
        if request.prefill and self.prefill != "none":
            messages.append({"role": "assistant", "content": request.prefill})
            if self.prefill == "continue":
                extra = {"continue_final_message": True, "add_generation_prompt": False}
        reply = self._create(request, messages, extra)
        choices = sorted(reply.choices, key=lambda c: c.index)
        texts = [_strip_prefill(c.message.content or "", request.prefill) for c in choices]
        usage = reply.usage
        cut = [c.finish_reason == "length" for c in choices]
        tokens = _split_tokens(usage.completion_tokens if usage else 0, texts, cut, request.max_tokens)
        completions = tuple(
            Completion(
                text,
                "length" if c.finish_reason == "length" else "stop",
                n,
                _logprobs(c, text, request.top_logprobs),
            )
            for c, text, n in zip(choices, texts, tokens, strict=True)
        )
        if request.temperature == 0 and len(completions) == 1:
            completions *= request.n  # greedy: the n samples are copies of the one answer
        return completions, render(request.messages, request.prefill), usage.prompt_tokens if usage else 0

    def _create(self, request: GenerationRequest, messages: list[dict], extra: dict) -> ChatCompletion:
        """The chat-completions reply; without logprobs when the server refuses them (400 naming them)."""
        ask = request.top_logprobs > 0 and self.logprobs_supported
        for with_logprobs in (True, False) if ask else (False,):
            options = {"logprobs": True, "top_logprobs": request.top_logprobs} if with_logprobs else {}
            try:
                return self.client.chat.completions.create(
                    model=self.model,
                    messages=messages,
                    n=1 if request.temperature == 0 else request.n,  # vLLM refuses n > 1 when greedy
                    temperature=request.temperature,
                    top_p=request.top_p,
                    max_tokens=request.max_tokens,
                    stop=list(request.stop) or None,
                    seed=request.seed,
                    extra_body=extra or None,
                    **options,
                )
            except openai.BadRequestError as exc:
                if not (with_logprobs and "logprob" in _server_message(exc).lower()):
                    raise self._error(exc) from None
                self._logprobs_refused(_server_message(exc))
            except openai.APIError as exc:
                raise self._error(exc) from None
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _logprobs_refused(self, message: str) -> None:
        with self._logprobs_lock:
            if self.logprobs_supported:
                self.logprobs_supported = False
                log.info("%s refused logprobs (%s); asking without them from now on", self.base_url, message)

    def _error(self, exc: openai.APIError) -> BackendError:
        """The server's own words, with what to do about them."""
        if isinstance(exc, openai.APIConnectionError):  # includes timeouts
            kind = "timed out" if isinstance(exc, openai.APITimeoutError) else "unreachable"
            return BackendUnavailable(f"model server {self.base_url} {kind} ({exc}); is it running?")
        if isinstance(exc, openai.APIStatusError):
            message = _server_message(exc)
            if exc.status_code == 404 and "model" in message.lower():
                return ModelNotAvailable(f"{self.base_url}: {message}")
            if exc.status_code in (401, 403):
                return BackendError(f"{self.base_url} refused the API key ({exc.status_code}): {message}")
            if exc.status_code >= 500 or exc.status_code == 429:
                return BackendUnavailable(f"{self.base_url} answered {exc.status_code}: {message}")
            return BackendError(f"{self.base_url} answered {exc.status_code}: {message}")
        return BackendError(f"{self.base_url}: {exc}")


def render(messages: Sequence[ChatMessage], prefill: str = "") -> str:
    """A readable transcript of what was sent (the server applies the chat template itself)."""
    parts = [f"<|{m.role}|>\n{m.content}" for m in messages]
    return "\n".join(parts) + "\n<|assistant|>\n" + prefill


def _strip_prefill(text: str, prefill: str) -> str:
    """Some servers echo the continued message; completions never include the prefill."""
    return text[len(prefill) :] if prefill and text.startswith(prefill) else text


def _logprobs(choice: Choice, text: str, k: int) -> tuple[TokenLogprob, ...] | None:
    """Our entries from ``choice.logprobs.content``, up to the token in which ``text`` ends.

    Servers list every generated token, also the EOS and those of a stop string cut from the
    text; they are dropped by counting each token's UTF-8 bytes (its ``bytes`` when given), so a
    token that straddles the cut stays whole and the tokens' texts joined start with ``text``.
    """
    content = getattr(choice.logprobs, "content", None) if k else None
    if content is None:
        return None
    entries, length, end = [], 0, len(text.encode())
    for item in content:
        if length >= end:
            break
        top = sorted(item.top_logprobs or (), key=lambda t: -t.logprob)[:k]
        entries.append(TokenLogprob(item.token, item.logprob, tuple((t.token, t.logprob) for t in top)))
        length += len(item.bytes) if item.bytes is not None else len(item.token.encode())
    return tuple(entries)


def _split_tokens(total: int, texts: list[str], cut: list[bool], max_tokens: int) -> list[int]:
    """Each choice's completion tokens; the API reports only their sum.

    A choice cut at ``max_tokens`` used exactly that many; the rest of the sum is shared among
    the others by text length, none above ``max_tokens``.
    """
    shares = [max_tokens if c else 0 for c in cut]
    rest = max(total - sum(shares), 0)
    open_ = [i for i, c in enumerate(cut) if not c]
    weights = {i: max(len(texts[i]), 1) for i in open_}
    for i in open_:
        shares[i] = min(rest * weights[i] // sum(weights.values()), max_tokens)
    for i in sorted(open_, key=lambda i: -weights[i]):  # the rounding remainder
        extra = min(rest - sum(shares[j] for j in open_), max_tokens - shares[i])
        if extra <= 0:
            break
        shares[i] += extra
    return shares


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(body.get("message"), str):
            return body["message"]
    return str(exc.message or exc)
