"""The transformers backend on the real tiny embedded model (SmolLM2-135M, CPU): run with ``pytest -m slow``.

The model loads once per module (the first run ever also builds the safetensors cache, ~20 s).
Completions are kept short so the whole file runs in about a minute on two cores.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from core.backends import load_backend
from core.llm import ChatMessage, GenerationRequest, LLMBackend, ModelNotAvailable
from tests.conftest import TINY

slow = pytest.mark.slow


def ask(text: str, **options) -> GenerationRequest:
    return GenerationRequest(messages=(ChatMessage("user", text),), **options)


@pytest.fixture(scope="module")
def backend():
    from core.backends.transformers_backend import TransformersBackend

    return TransformersBackend(TINY)


@slow
def test_embedded_model_loads_from_cache(backend) -> None:
    assert isinstance(backend, LLMBackend)
    assert backend.name == "transformers"
    assert backend.model_id == "embedded:SmolLM2-135M-Instruct"
    assert backend.device in ("cpu", "cuda")


@slow
def test_greedy_is_deterministic_and_reports_costs(backend) -> None:
    request = ask("Name a fruit.", max_tokens=8)
    first, second = backend.generate([request]), backend.generate([request])
    assert first[0].completions == second[0].completions
    assert first[0].prompt_tokens > 0 and first[0].latency_s > 0
    assert "<|im_start|>assistant" in first[0].prompt_text
    assert 0 < first[0].completions[0].completion_tokens <= 8


@slow
def test_seeded_sampling_is_reproducible_and_seeds_differ(backend) -> None:
    def sample(seed: int) -> list[str]:
        request = ask("Invent a name for a cat.", n=3, temperature=0.7, max_tokens=10, seed=seed)
        return [c.text for c in backend.generate([request])[0].completions]

    assert sample(1) == sample(1)
    assert sample(1) != sample(2)


@slow
def test_n_samples_come_from_one_generate_call(backend, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = backend.model.generate
    monkeypatch.setattr(backend.model, "generate", lambda **kw: calls.append(1) or real(**kw))
    [result] = backend.generate([ask("Say hello.", n=3, temperature=0.7, max_tokens=6, seed=0)])
    assert len(result.completions) == 3 and len(calls) == 1


@slow
def test_batch_keeps_request_order(backend) -> None:
    a, b = ask("What is 2 + 2?", max_tokens=8), ask("Write the word blue in capitals.", max_tokens=8)
    together = backend.generate([a, b])
    assert [r.prompt_text for r in together] == [backend.render(a.messages), backend.render(b.messages)]
    alone = [backend.generate([a])[0], backend.generate([b])[0]]
    assert [r.completions[0].text for r in together] == [r.completions[0].text for r in alone]


@slow
def test_stop_string_truncates(backend) -> None:
    prompt = "List three colors, one per line."
    full = backend.generate([ask(prompt, max_tokens=16)])[0].completions[0].text
    words = full.split()
    assert len(words) >= 2, full
    stop = words[1]
    [result] = backend.generate([ask(prompt, max_tokens=16, stop=(stop,))])
    completion = result.completions[0]
    assert completion.finish_reason == "stop"
    assert completion.text == full[: full.index(stop)]


@slow
def test_max_tokens_caps_with_length(backend) -> None:
    [result] = backend.generate([ask("Write a long story about a dragon.", max_tokens=3)])
    assert result.completions[0].finish_reason == "length"
    assert result.completions[0].completion_tokens == 3


@pytest.fixture(scope="module")
def fp32_backend():
    """Exact comparisons need fp32: in bf16, differently shaped batches round differently."""
    from core.backends.transformers_backend import TransformersBackend

    return TransformersBackend(dtype="float32")


@slow
@pytest.mark.parametrize(
    "prompts",
    [
        [("Explain recursion in one sentence.", 3), ("Hi", 2)],  # n samples of each prompt
        [
            (f"Problem: add a and b.\nSteps:\n1. Read a.\n2. {last}\nRate it.", 1)
            for last in ("Add b.", "Print.")
        ],
    ],
    ids=["n_samples", "shared_head_k_prompts"],
)
def test_prefix_reuse_matches_plain_path(fp32_backend, monkeypatch: pytest.MonkeyPatch, prompts) -> None:
    requests = [ask(text, n=n, max_tokens=12) for text, n in prompts]
    reused = fp32_backend.generate(requests)
    monkeypatch.setattr(fp32_backend, "prefix_reuse", False)
    plain = fp32_backend.generate(requests)
    assert [r.completions for r in reused] == [r.completions for r in plain]
    assert [r.prompt_tokens for r in reused] == [r.prompt_tokens for r in plain]


@slow
def test_a_later_call_takes_the_problem_from_the_prefix_cache(fp32_backend, monkeypatch) -> None:
    """Every role's prompt starts with the problem: a later call computes only what follows it."""
    problem = "Problem:\n" + "Return the list of primes below n, in increasing order, using a sieve. " * 6
    critic = [ask(f"{problem}\nSteps:\n1. {step}\nRate it from 0 to 10.", max_tokens=4) for step in "AB"]
    propose = [ask(f"{problem}\nSteps:\n1. A\nPropose the next step.", max_tokens=10)]
    fp32_backend.generate(critic)
    before = dict(fp32_backend.prefix_stats)
    [reused] = fp32_backend.generate(propose)
    cached = fp32_backend.prefix_stats["cached"] - before["cached"]
    assert cached >= 60  # the system prompt and the problem
    assert fp32_backend.prefix_stats["computed"] - before["computed"] < reused.prompt_tokens - 60
    monkeypatch.setattr(fp32_backend, "prefix_reuse", False)
    [plain] = fp32_backend.generate(propose)
    assert reused.completions == plain.completions and reused.prompt_tokens == plain.prompt_tokens


@slow
def test_shared_instance_is_safe_across_threads(backend) -> None:
    requests = [ask(f"Give me a word that starts with {letter}.", max_tokens=4) for letter in "abcd"]
    serial = [backend.generate([r])[0].completions for r in requests]
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(lambda r: backend.generate([r])[0].completions, requests))
    assert threaded == serial


def test_missing_local_model_path_is_clear(tmp_path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelNotAvailable, match="does not exist") as info:
        load_backend("transformers", str(missing))
    assert str(missing) in str(info.value) and "\n" not in str(info.value)


def test_unknown_backend_kind() -> None:
    with pytest.raises(ValueError, match="transformers, vllm, openai"):
        load_backend("nope")
    with pytest.raises(ValueError, match="adapter"):  # LoRA adapters are the transformers backend's
        load_backend("vllm", "embedded", adapter="v1-lora")
