"""Fixtures of the backend tests: the fast engine (a real local vLLM server), started once for this package."""

from __future__ import annotations

import os

import pytest

from tests.conftest import TINY


@pytest.fixture(scope="package")
def fast_engine():
    """``--engine vllm`` for real: a vLLM OpenAI-compatible server on 127.0.0.1 serving the tiny embedded
    model (eager: ~45 s to start), through the backend the studio and the CLI build.

    Package-scoped: it stops when the backend tests are done, since its idle worker still takes a
    share of the CPU that the rest of the suite needs.

    Needs ``.venv-vllm`` (``make vllm-env``; ``make test`` builds it). Without it the test is skipped,
    except under CI, where that is a failure.
    """
    from core.backends.local_vllm import LocalVLLMBackend
    from core.backends.vllm_server import vllm_python

    python = vllm_python()
    if not python.exists():
        message = f"{python} is missing: `make vllm-env` builds the vLLM environment"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    engine = LocalVLLMBackend(TINY, eager=True)  # no torch.compile: starts in ~45 s, not minutes
    yield engine
    engine.close()


@pytest.fixture(scope="package")
def vllm_server(fast_engine):
    """The fast engine's server (its port, base URL and process), for tests that talk to it directly."""
    return fast_engine.server
