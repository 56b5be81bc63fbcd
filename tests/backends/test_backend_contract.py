"""One contract for every backend: transformers, vLLM in-process, an OpenAI-compatible server, and the
fast engine (``--engine vllm``: that server started and owned by the backend itself).

Each case runs against the real tiny embedded model (SmolLM2-135M). The vLLM kinds need the vLLM environment
(``make vllm-env``): the in-process case runs inside ``.venv-vllm`` (``make test`` runs this
file there with ``SRA_CONTRACT_KINDS=vllm``), and the HTTP case talks to a real
``vllm.entrypoints.openai.api_server`` on 127.0.0.1 that the ``vllm_server`` fixture starts.
"""

from __future__ import annotations

import logging
import math
import os

import pytest

from core.backends import load_backend
from core.llm import BackendError, BackendUnavailable, ChatMessage, GenerationRequest, ModelNotAvailable
from tests.conftest import TINY

pytestmark = pytest.mark.slow

# "vllm-server" (the fast engine itself) is on request: "openai" already talks to that same server
KINDS = os.environ.get("SRA_CONTRACT_KINDS", "transformers,vllm,openai").split(",")
COUNT = (ChatMessage("user", "Count from 1 to 10, separated by commas."),)
SCORE = (  # the shape of the critic's prompt (core/prompts.py), fixed here so the contract does not move with it
    ChatMessage(
        "user",
        "Problem:\nWrite a function that returns the sum of two numbers.\n\nProposed reasoning:\n"
        "1. Add the two numbers and return the result.\n\nRate this reasoning from 0 to 10.\n"
        "Reply with one line in the form: Score: <number>",
    ),
)
TIE = 1e-4  # greedy picks one of the likeliest tokens; equal logprobs may be listed in either order


@pytest.fixture(scope="module", params=KINDS)
def backend(request):
    kind = request.param
    if kind == "transformers":
        yield load_backend("transformers", TINY)
    elif kind == "vllm":
        require_vllm_inprocess()
        # eager: no torch.compile, which costs minutes at every start on a CPU and no behaviour here
        backend = load_backend("vllm", TINY, max_model_len=2048, enforce_eager=True)
        yield backend
        backend.close()
    elif kind == "vllm-server":
        yield request.getfixturevalue("fast_engine")  # the package's own: it stops with the package
    else:
        server = request.getfixturevalue("vllm_server")
        backend = load_backend("openai", "", base_url=server.base_url)
        yield backend
        backend.close()


def require_vllm_inprocess() -> None:
    try:
        import vllm  # noqa: F401
    except ImportError:
        pytest.skip("vLLM in-process runs in .venv-vllm: `make test` runs this file there too")


def ask(backend, **fields):
    [result] = backend.generate([GenerationRequest(COUNT, **fields)])
    return result


def test_n_samples_with_their_costs(backend):
    result = ask(backend, n=3, temperature=0.8, max_tokens=8, seed=1)
    assert len(result.completions) == 3
    for c in result.completions:
        assert isinstance(c.text, str)
        assert c.finish_reason in ("stop", "length")
        assert 0 <= c.completion_tokens <= 8
    assert result.completion_tokens > 0
    assert result.prompt_tokens > 5
    assert "Count from 1 to 10" in result.prompt_text
    assert result.latency_s > 0


def test_samples_differ(backend):
    result = ask(backend, n=4, temperature=1.0, max_tokens=12, seed=5)
    assert len({c.text for c in result.completions}) > 1


def test_greedy_is_deterministic(backend):
    first = ask(backend, temperature=0.0, max_tokens=12)
    again = ask(backend, temperature=0.0, max_tokens=12)
    assert first.completions[0].text == again.completions[0].text
    assert first.completions[0].text.strip()


def test_same_seed_same_samples(backend):
    a = ask(backend, n=2, temperature=1.0, max_tokens=10, seed=7)
    b = ask(backend, n=2, temperature=1.0, max_tokens=10, seed=7)
    assert [c.text for c in a.completions] == [c.text for c in b.completions]


def test_max_tokens_ends_with_length(backend):
    result = ask(backend, temperature=0.0, max_tokens=3, prefill="1, 2,")
    [c] = result.completions
    assert c.finish_reason == "length"
    assert c.completion_tokens == 3


def test_prefill_is_continued_and_stop_cuts(backend):
    result = ask(backend, temperature=0.0, max_tokens=30, prefill="1, 2, 3,", stop=("6",))
    [c] = result.completions
    assert c.finish_reason == "stop"
    assert "6" not in c.text
    assert c.text.lstrip().startswith("4"), c.text  # it continues the prefill, which it does not repeat
    assert result.prompt_text.endswith("1, 2, 3,")


def test_a_batch_keeps_request_order(backend):
    requests = [
        GenerationRequest(COUNT, n=1, temperature=0.0, max_tokens=4),
        GenerationRequest(COUNT, n=3, temperature=0.9, max_tokens=4, seed=3),
        GenerationRequest(
            (ChatMessage("user", "Name a colour."),), n=2, temperature=0.9, max_tokens=4, seed=4
        ),
    ]
    results = backend.generate(requests)
    assert [len(r.completions) for r in results] == [1, 3, 2]
    assert "colour" in results[2].prompt_text and "colour" not in results[0].prompt_text
    assert backend.generate([]) == []


def test_a_prompt_beyond_the_context_is_a_clear_error(backend):
    too_long = (ChatMessage("user", "word " * 9000),)
    with pytest.raises(BackendError) as caught:
        backend.generate([GenerationRequest(too_long, max_tokens=4)])
    assert not isinstance(caught.value, BackendUnavailable)  # not worth retrying
    message = str(caught.value).lower()
    assert "length" in message or "context" in message, message


def joined(logprobs) -> str:
    return "".join(t.token for t in logprobs)


def check_top(entry, k: int) -> None:
    """At most k alternatives, most likely first, log-probabilities of one distribution."""
    values = [v for _, v in entry.top]
    assert 1 <= len(entry.top) <= k, entry
    assert values == sorted(values, reverse=True), entry
    assert entry.logprob <= 0 and all(v <= 0 for v in values), entry
    assert sum(math.exp(v) for v in values) <= 1 + 1e-3, entry


def test_greedy_logprobs_cover_the_text_and_start_with_the_likeliest(backend):
    [c] = ask(backend, temperature=0.0, max_tokens=12, top_logprobs=5).completions
    assert c.logprobs is not None
    assert 1 <= len(c.logprobs) <= c.completion_tokens  # one per generated token (an EOS has no text)
    assert joined(c.logprobs) == c.text  # ASCII text: every token decodes to whole characters
    for entry in c.logprobs:
        check_top(entry, 5)
        assert abs(entry.logprob - entry.top[0][1]) <= TIE, entry  # greedy: no token was likelier
        tied = sum(abs(v - entry.logprob) <= TIE for _, v in entry.top)
        assert entry.token == entry.top[0][0] or tied > 1, entry


def test_logprobs_stop_with_the_text_a_stop_string_cut(backend):
    """A stop string's tokens are dropped; one straddling the cut stays whole (its text starts in ``text``)."""
    result = ask(backend, temperature=0.0, max_tokens=30, prefill="1, 2, 3,", stop=("6",), top_logprobs=3)
    [c] = result.completions
    assert c.finish_reason == "stop" and c.logprobs
    assert joined(c.logprobs).startswith(c.text)
    assert len(joined(c.logprobs[:-1])) < len(c.text)  # the last entry holds the text's end
    assert "6" not in joined(c.logprobs[:-1])


def test_sampled_logprobs_are_a_distribution(backend):
    result = ask(backend, n=2, temperature=1.0, max_tokens=6, seed=3, top_logprobs=20)
    assert len(result.completions) == 2
    for c in result.completions:
        assert c.logprobs is not None and len(c.logprobs) <= c.completion_tokens
        for entry in c.logprobs:
            check_top(entry, 20)  # the sampled token may be a rarer one, not in top
            listed = [v for token, v in entry.top if token == entry.token]
            assert not listed or any(abs(v - entry.logprob) <= TIE for v in listed), entry


def test_no_logprobs_unless_asked(backend):
    plain, asked, sampled = backend.generate(
        [
            GenerationRequest(COUNT, max_tokens=4),
            GenerationRequest(COUNT, max_tokens=4, top_logprobs=2),
            GenerationRequest(COUNT, n=2, temperature=0.9, max_tokens=4, seed=2),
        ]
    )
    assert plain.completions[0].logprobs is None
    assert asked.completions[0].logprobs  # a row that asked, in the same batch
    assert all(len(e.top) <= 2 for e in asked.completions[0].logprobs)
    assert all(c.logprobs is None for c in sampled.completions)


def test_logprobs_after_a_score_prefill_hold_digits(backend):
    """How the critic reads a score distribution: digits among the likeliest tokens right after "Score:"."""
    [result] = backend.generate([GenerationRequest(SCORE, prefill="Score:", max_tokens=3, top_logprobs=5)])
    [c] = result.completions
    assert c.logprobs, c
    tops = [[token for token, _ in entry.top] for entry in c.logprobs[:3]]
    assert any(token.strip().isdigit() for top in tops for token in top), tops


def test_openai_logprobs_refused_by_the_server_are_asked_without(request, caplog):
    """A 400 naming logprobs: the request is sent again without them, and later ones do not ask (logged once)."""
    if "openai" not in KINDS:
        pytest.skip("openai is not among SRA_CONTRACT_KINDS")
    server = request.getfixturevalue("vllm_server")
    backend = load_backend("openai", "", base_url=server.base_url)  # its own: it stops asking
    refused = GenerationRequest(COUNT, max_tokens=4, top_logprobs=1)
    # The real server refuses more than its --max-logprobs (20); the protocol would not let one ask.
    object.__setattr__(refused, "top_logprobs", 50)
    with caplog.at_level(logging.INFO, logger="core.backends.openai_backend"):
        [first] = backend.generate([refused])
        [later] = backend.generate([GenerationRequest(COUNT, max_tokens=4, top_logprobs=5)])
    backend.close()
    assert first.completions[0].text and first.completions[0].logprobs is None
    assert later.completions[0].text and later.completions[0].logprobs is None
    assert len([r for r in caplog.records if "refused logprobs" in r.getMessage()]) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_an_unknown_model_is_model_not_available(kind, request):
    if kind == "vllm":
        require_vllm_inprocess()
        with pytest.raises(ModelNotAvailable, match="no/such-model"):
            load_backend("vllm", "/no/such-model", max_model_len=512)
    elif kind == "transformers":
        with pytest.raises(ModelNotAvailable, match="no/such-model"):
            load_backend("transformers", "/no/such-model")
    elif kind == "vllm-server":  # refused before any server starts
        with pytest.raises(ModelNotAvailable, match="no/such-model"):
            load_backend("vllm-server", "/no/such-model")
    else:
        server = request.getfixturevalue("vllm_server")
        with pytest.raises(ModelNotAvailable, match="no-such-model.*smollm2-135m"):
            load_backend("openai", "no-such-model", base_url=server.base_url)


def test_an_unreachable_server_is_backend_unavailable():
    from core.backends.vllm_server import free_port

    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(BackendUnavailable, match="unreachable"):
        load_backend("openai", "", base_url=url, max_retries=0, timeout_s=5)


def test_vllm_reports_prefix_cache_hits(backend):
    """A prompt seen before is served from vLLM's prefix cache, and the backend says so.

    On the module's own engine (a second one costs a minute and a half of CI): only this
    test's own counts are compared.
    """
    if not hasattr(backend, "prefix_cache"):
        pytest.skip("only vLLM in-process counts prefix-cache hits")
    long = (ChatMessage("user", "Here is a story. " + "The cat sat on the mat. " * 80 + "Summarise it."),)
    seen = []
    for _ in range(2):
        before = dict(backend.prefix_cache)
        backend.generate([GenerationRequest(long, max_tokens=2)])
        seen.append({k: backend.prefix_cache[k] - before[k] for k in before})
    assert seen[0]["prompt_tokens"] == seen[1]["prompt_tokens"] > 0
    assert seen[1]["cached_tokens"] > seen[0]["cached_tokens"]
    assert seen[1]["cached_tokens"] < seen[1]["prompt_tokens"]
    assert 0 < backend.prefix_cache_hit_rate < 1
