"""In-process Hugging Face transformers backend; the default embedded model (Qwen2.5-Coder-0.5B) is its default.

Requests with the same sampling settings share one ``generate`` call, each contributing
``n`` rows. The tokens all rows of a call share (the whole prompt for the n samples of one
request; the system prompt, problem and path for the k critic prompts of one expansion) are
run through the model once to fill a KV cache, which is copied to every row, so on a CPU,
where encoding long prompts dominates, a batched expansion costs far less than k calls.

Across calls, the KV caches of the last few shared prefixes are kept (``PREFIX_CACHE_ENTRIES``):
every role's prompt of a search starts with the same system prompt and problem, so a later call
crops the cached prefix it agrees with longest and computes only the rest. ``prefix_stats``
counts the prompt tokens computed and those taken from this cache.

Example::

    backend = TransformersBackend()                        # embedded model, CPU or CUDA
    [res] = backend.generate([GenerationRequest((ChatMessage("user", "Hi"),), n=3, temperature=0.7)])
    tuned = TransformersBackend("embedded", adapter="v1-lora")   # a registered LoRA adapter on top
    tuned.model_id                                         # 'embedded:Qwen2.5-Coder-0.5B-Instruct+lora:v1-lora'
"""

from __future__ import annotations

import copy
import inspect
import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    DynamicCache,
    LogitsProcessor,
    LogitsProcessorList,
    StoppingCriteria,
)

from core.backends.adapters import UnknownAdapter, get_adapter, same_base
from core.backends.embedded import EMBEDDED_MODEL, Progress
from core.backends.sources import resolve_source
from core.llm import (
    BackendError,
    ChatMessage,
    Completion,
    GenerationRequest,
    GenerationResult,
    ModelNotAvailable,
    TokenLogprob,
    covering_logprobs,
    first_line,
)
from core.machine import native_bf16

log = logging.getLogger(__name__)

MIN_SHARED_PREFIX = 8  # below this, a separate prefix pass costs more than it saves
PREFIX_CACHE_ENTRIES = 4  # cached prefixes kept across calls (a few searches' problems)
MIN_CACHED_PREFIX = 32  # a shorter agreement with a cached prefix is not worth copying it
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class TransformersBackend:
    """One loaded model; ``generate`` is serialised by a lock, so searches in threads may share it."""

    name = "transformers"

    def __init__(
        self,
        model: str = EMBEDDED_MODEL,
        *,
        device: str | None = None,
        dtype: str | None = None,
        cache_dir: Path | str | None = None,
        adapter: str | None = None,
        progress: Progress | None = None,
    ) -> None:
        """``progress(fraction, text)`` hears the one-time preparation of an embedded model, if it runs."""
        info = _find_adapter(adapter, model) if adapter else None  # before a long conversion, not after
        source, self.model_id = resolve_source(model, Path(cache_dir) if cache_dir else None, progress)
        self.adapter: str | None = None  # the registry name of the LoRA adapter on top, if any
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.dtype = _resolve_dtype(dtype, self.device)
        # Set to False to encode every row's prompt separately (used to check and measure the reuse).
        self.prefix_reuse = True
        self._prefixes: list[tuple[list[int], DynamicCache]] = []  # most recent last
        self.prefix_stats = {"computed": 0, "cached": 0}  # prompt tokens of shared prefixes
        self._lock = threading.Lock()
        start = time.perf_counter()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(source)
            self.model = AutoModelForCausalLM.from_pretrained(source, dtype=self.dtype)
        except (OSError, ValueError) as exc:
            reason = first_line(exc)
            raise ModelNotAvailable(f"Could not load model '{model}': {reason}") from exc
        # Checked on the plain model: a PeftModel's forward takes **kwargs only.
        accepts = "logits_to_keep" in inspect.signature(self.model.forward).parameters
        if info is not None:
            self._load_adapter(info)
        self.model.to(self.device).eval()
        self.context_length: int | None = getattr(self.model.config, "max_position_embeddings", None)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        eos = self.model.generation_config.eos_token_id
        eos = eos if isinstance(eos, list) else [eos] if eos is not None else []
        self._end_ids = {*eos, self.tokenizer.eos_token_id, self.tokenizer.pad_token_id} - {None}
        # The prefix pass needs only the cache: skip the vocabulary projection for all but one position.
        self._last_logit_only = {"logits_to_keep": 1} if accepts else {}
        self.load_seconds = time.perf_counter() - start
        log.info("Loaded %s on %s/%s in %.1f s", self.model_id, self.device, self.dtype, self.load_seconds)

    def _load_adapter(self, info) -> None:
        """Wrap the model in peft's LoRA layers, unmerged: merging into bf16 weights would round the deltas away."""
        from peft import PeftModel

        try:
            self.model = PeftModel.from_pretrained(self.model, str(info.path))
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            reason = first_line(exc)
            raise ModelNotAvailable(f"Could not load adapter '{info.name}': {reason}") from exc
        self.adapter = info.name
        self.model_id = f"{self.model_id}+lora:{info.name}"

    def render(self, messages: Sequence[ChatMessage]) -> str:
        """The exact prompt text the model sees (chat template plus the assistant header)."""
        chat = [{"role": m.role, "content": m.content} for m in messages]
        if self.tokenizer.chat_template:
            return self.tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
        return "\n\n".join(m.content for m in messages) + "\n\n"  # base models without a template

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        if not requests:
            return []
        with self._lock:
            start = time.perf_counter()
            seed = next((r.seed for r in requests if r.seed is not None), None)
            if seed is not None:
                torch.manual_seed(seed)  # HF generate samples from the global RNG only
            prompts = [self.render(r.messages) + r.prefill for r in requests]
            groups: dict[tuple[float, float, int], list[int]] = {}
            for i, r in enumerate(requests):
                groups.setdefault((r.temperature, r.top_p, r.max_tokens), []).append(i)
            outputs: dict[int, tuple[int, list[Completion]]] = {}
            for idxs in groups.values():
                outputs.update(
                    zip(
                        idxs,
                        self._generate_group([requests[i] for i in idxs], [prompts[i] for i in idxs]),
                        strict=True,
                    )
                )
            latency = time.perf_counter() - start
        return [
            GenerationResult(tuple(outputs[i][1]), prompts[i], outputs[i][0], latency)
            for i in range(len(requests))
        ]

    @torch.no_grad()
    def _generate_group(
        self, reqs: list[GenerationRequest], prompts: list[str]
    ) -> list[tuple[int, list[Completion]]]:
        """One ``generate`` call for requests sharing sampling settings: (prompt tokens, completions) each."""
        temperature, top_p, max_tokens = reqs[0].temperature, reqs[0].top_p, reqs[0].max_tokens
        encoded = [self.tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
        prompt_tokens = [len(t) for t in encoded]
        if self.context_length and max(prompt_tokens) >= self.context_length:
            raise BackendError(
                f"the prompt (length {max(prompt_tokens)} tokens) is longer than the maximum model length "
                f"of {self.context_length}"
            )
        rows = [j for j, r in enumerate(reqs) for _ in range(r.n)]
        stops = [r.stop for r in reqs for _ in range(r.n)]
        kwargs: dict = {
            "max_new_tokens": max_tokens,
            "do_sample": temperature > 0,
            "repetition_penalty": 1.0,
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if temperature > 0:
            # top_k off: the protocol only has top_p, and hub generation configs may set top_k.
            kwargs.update(temperature=temperature, top_p=top_p, top_k=0)
        shared = _common_prefix(encoded) if self.prefix_reuse else 0
        if shared >= MIN_SHARED_PREFIX:
            ids, mask = self._shared_prefix_rows(encoded, rows, shared, kwargs)
        else:
            ids, mask = self._left_padded_rows(encoded, rows)
        if any(stops):
            kwargs["stopping_criteria"] = [_StopStrings(self.tokenizer, stops, ids.shape[1])]
        wanted = [row for row, j in enumerate(rows) if reqs[j].top_logprobs > 0]
        capture = _TokenLogprobs(wanted, max((reqs[rows[r]].top_logprobs for r in wanted), default=0))
        if wanted:
            kwargs["logits_processor"] = LogitsProcessorList([capture])
        prompt_len = ids.shape[1]
        out = self.model.generate(input_ids=ids, attention_mask=mask, **kwargs)
        new_tokens = out[:, prompt_len:].tolist()
        captured = capture.finish(out) if wanted else {}
        results: list[tuple[int, list[Completion]]] = [(int(n), []) for n in prompt_tokens]
        # completion_tokens: what the row generated before EOS/padding (a stop string's tokens count).
        for row, (j, tokens) in enumerate(zip(rows, new_tokens, strict=True)):
            count = next((k for k, t in enumerate(tokens) if t in self._end_ids), len(tokens))
            text = self.tokenizer.decode(tokens[:count], skip_special_tokens=True)
            cut = min((p for p in (text.find(s) for s in stops[row] if s) if p >= 0), default=-1)
            if cut >= 0:
                text = text[:cut]
            finish = "stop" if cut >= 0 or count < max_tokens else "length"
            logprobs = None
            if row in captured:
                logprobs = self._token_logprobs(tokens[:count], *captured[row], reqs[j].top_logprobs)
                if cut >= 0:
                    logprobs = covering_logprobs(logprobs, text)
            results[j][1].append(Completion(text, finish, count, logprobs))
        return results

    def _token_logprobs(
        self, tokens: list[int], chosen: list[float], top: list[list[tuple[int, float]]], k: int
    ) -> tuple[TokenLogprob, ...]:
        """One entry per token of a row, the alternatives' ids decoded one by one (as vLLM does)."""
        ids = sorted({t for position in top[: len(tokens)] for t, _ in position[:k]})
        text = dict(zip(ids, self.tokenizer.batch_decode([[t] for t in ids]), strict=True))
        # The generated token's own text skips special tokens, as the completion's text does.
        own = self.tokenizer.batch_decode([[t] for t in tokens], skip_special_tokens=True)
        return tuple(
            TokenLogprob(piece, lp, tuple((text[t], v) for t, v in position[:k]))
            for piece, lp, position in zip(own, chosen, top, strict=False)
        )

    def _left_padded_rows(
        self, encoded: list[list[int]], rows: list[int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(encoded[j]) for j in rows)
        pad = self.tokenizer.pad_token_id
        ids = [[pad] * (width - len(encoded[j])) + encoded[j] for j in rows]
        mask = [[0] * (width - len(encoded[j])) + [1] * len(encoded[j]) for j in rows]
        return torch.tensor(ids, device=self.device), torch.tensor(mask, device=self.device)

    def _shared_prefix_rows(
        self, encoded: list[list[int]], rows: list[int], shared: int, kwargs: dict
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode the tokens all rows share once, copy that KV cache to every row, and pad in the middle.

        A row is ``prefix + padding + own suffix``; the attention mask hides the padding and
        ``generate`` derives positions from the mask, so each suffix continues the prefix.
        The n samples of one prompt and the k critic prompts of one expansion (which differ
        only in their last step) both take this path.
        """
        tokens = encoded[rows[0]][:shared]
        prefix = torch.tensor([tokens], device=self.device)
        cache, known = self._cached_prefix(tokens)
        if known < shared:
            self.model(
                input_ids=prefix[:, known:], past_key_values=cache, use_cache=True, **self._last_logit_only
            )
        self.prefix_stats["computed"] += shared - known
        self.prefix_stats["cached"] += known
        self._remember(tokens, cache)
        cache = copy.deepcopy(cache)
        cache.batch_repeat_interleave(len(rows))
        kwargs["past_key_values"] = cache
        suffixes = [encoded[j][shared:] for j in rows]
        width = max(len(x) for x in suffixes)
        pad = self.tokenizer.pad_token_id
        head = prefix[0].tolist()
        ids = [head + [pad] * (width - len(x)) + x for x in suffixes]
        mask = [[1] * shared + [0] * (width - len(x)) + [1] * len(x) for x in suffixes]
        return torch.tensor(ids, device=self.device), torch.tensor(mask, device=self.device)

    def _cached_prefix(self, tokens: list[int]) -> tuple[DynamicCache, int]:
        """A fresh copy of the cache of the longest cached agreement with ``tokens`` (cropped to it), and
        its length; an empty cache and 0 when none agrees enough. At least one token is left to compute."""
        best, length = None, 0
        for known, cache in self._prefixes:
            agree = min(_agreement(known, tokens), len(tokens) - 1)
            if agree > length:
                best, length = cache, agree
        if best is None or length < MIN_CACHED_PREFIX:
            return DynamicCache(config=self.model.config), 0
        cache = copy.deepcopy(best)
        cache.crop(length)
        return cache, length

    def _remember(self, tokens: list[int], cache: DynamicCache) -> None:
        """Keep ``cache`` (the KV of ``tokens``) for later calls, replacing entries it extends."""
        self._prefixes = [(k, c) for k, c in self._prefixes if _agreement(k, tokens) < len(k)]
        self._prefixes.append((list(tokens), cache))
        del self._prefixes[:-PREFIX_CACHE_ENTRIES]


def _agreement(a: list[int], b: list[int]) -> int:
    """The length of the common start of two token lists."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _common_prefix(encoded: list[list[int]]) -> int:
    """Tokens every prompt starts with, leaving each at least one token to run through ``generate``."""
    limit = min(len(t) for t in encoded) - 1
    first = encoded[0]
    n = 0
    while n < limit and all(t[n] == first[n] for t in encoded):
        n += 1
    return n


class _TokenLogprobs(LogitsProcessor):
    """Records log-softmax of the logits at each generated position, for the rows that asked only.

    ``generate`` hands a processor the model's float32 logits after its own processors (none
    for our settings: repetition_penalty is 1 and the embedded model's generation config adds
    none) and before temperature and top-p, so these are the logprobs of the raw logits, as
    vLLM reports by default. A step's token is known only at the next step (or, for the last,
    from the output), so only the previous step's distribution is kept, never all of them.
    """

    def __init__(self, rows: list[int], k: int) -> None:
        self.rows, self.k = rows, k
        self.chosen: list[torch.Tensor] = []  # per step: (rows,) logprob of the token generated there
        self.top: list[tuple[torch.Tensor, torch.Tensor]] = []  # per step: (rows, k) logprobs and ids
        self._last: torch.Tensor | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        rows = torch.tensor(self.rows, device=scores.device)
        if self._last is not None:
            self._record_chosen(input_ids[rows, -1:])
        logp = torch.log_softmax(scores[rows].float(), dim=-1)
        self.top.append(logp.topk(self.k, dim=-1))
        self._last = logp
        return scores

    def _record_chosen(self, tokens: torch.Tensor) -> None:
        assert self._last is not None
        self.chosen.append(self._last.gather(1, tokens).squeeze(1))
        self._last = None

    def finish(self, out: torch.Tensor) -> dict[int, tuple[list[float], list[list[tuple[int, float]]]]]:
        """Per row of the batch: the generated tokens' logprobs and each position's top (id, logprob) pairs."""
        if self._last is not None:
            self._record_chosen(out[torch.tensor(self.rows, device=out.device), -1:])
        steps = len(self.chosen)
        chosen = torch.stack(self.chosen, dim=1).tolist()  # (rows, steps)
        values = torch.stack([v for v, _ in self.top[:steps]], dim=1).tolist()  # (rows, steps, k)
        ids = torch.stack([i for _, i in self.top[:steps]], dim=1).tolist()
        return {
            row: (chosen[r], [list(zip(i, v, strict=True)) for i, v in zip(ids[r], values[r], strict=True)])
            for r, row in enumerate(self.rows)
        }


class _StopStrings(StoppingCriteria):
    """Marks a row done once its own stop strings appear in what it generated (rows differ)."""

    def __init__(self, tokenizer, stops: list[tuple[str, ...]], prompt_len: int) -> None:
        self.tokenizer, self.stops, self.prompt_len = tokenizer, stops, prompt_len
        # Decoding a short tail is enough: a stop string of L characters spans at most ~L tokens.
        self.tail = 2 * max((len(s) for row in stops for s in row), default=1) + 4

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        for row, stops in enumerate(self.stops):
            if stops:
                start = max(self.prompt_len, input_ids.shape[1] - self.tail)
                tail = self.tokenizer.decode(input_ids[row, start:], skip_special_tokens=True)
                done[row] = any(s and s in tail for s in stops)
        return done


def _find_adapter(adapter: str, model: str | None):
    """The registry entry for ``adapter``; it must have been trained on ``model``."""
    try:
        info = get_adapter(adapter)
    except UnknownAdapter as exc:
        raise ModelNotAvailable(str(exc)) from None
    if not same_base(info.base_model, model):
        raise ModelNotAvailable(
            f"Adapter '{info.name}' was trained on '{info.base_model}', not on '{model}': "
            f"load it with model '{info.base_model}'"
        )
    return info


def _resolve_dtype(dtype: str | None, device: str) -> torch.dtype:
    """``dtype``, else ``$SRA_STUDIO_DTYPE`` (e.g. float32 to see what an AVX2-only CPU computes), else by device."""
    if dtype is None or dtype == "auto":
        dtype = os.environ.get("SRA_STUDIO_DTYPE") or "auto"
    if dtype == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.bfloat16 if native_bf16() else torch.float32
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {sorted(_DTYPES)} or 'auto', got {dtype!r}")
    return _DTYPES[dtype]
