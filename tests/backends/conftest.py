"""Fixtures of the backend tests: a real vLLM server, started once for this package."""

from __future__ import annotations

import os

import pytest

from tests.conftest import TINY


@pytest.fixture(scope="package")
def vllm_server(tmp_path_factory):
    """A real vLLM OpenAI-compatible server on 127.0.0.1 serving the tiny embedded model (~90 s to start).

    Package-scoped: it stops when the backend tests are done, since its idle worker still takes a
    share of the CPU that the rest of the suite needs.

    Needs ``.venv-vllm`` (``make vllm-env``; ``make test`` builds it). Without it the test is skipped,
    except under CI, where that is a failure.
    """
    from core.backends.embedded import embedded_model_dir
    from core.backends.vllm_server import VLLMServer, vllm_python

    python = vllm_python()
    if not python.exists():
        message = f"{python} is missing: `make vllm-env` builds the vLLM environment"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    server = VLLMServer(python, embedded_model_dir(TINY), served_name=TINY, log_path=log)
    server.start()
    yield server
    server.stop()
