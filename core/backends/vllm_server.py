"""Start and stop a local vLLM OpenAI-compatible server (tests, benchmarks, a one-box set-up).

The server runs in its own process group, from any Python that has vLLM (on a CPU,
``.venv-vllm/bin/python`` from ``make vllm-env``), so the studio's environment needs
no vLLM. ``start()`` returns once ``/v1/models`` answers; ``stop()`` ends the whole
group (SIGTERM, then SIGKILL); ``kill()`` is the abrupt end that fault tests use.

A small guard process runs the server and ends it when the process that started it is
gone, however that process ended (SIGKILL and SIGTERM included), so no server is left
holding the CPU and the port.

Example::

    server = VLLMServer(".venv-vllm/bin/python", embedded_model_dir(), port=8011)
    server.start()                          # ~90 s on a 2-core CPU
    backend = OpenAIBackend("", base_url=server.base_url)
    server.stop()
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VLLM_PYTHON = REPO / ".venv-vllm" / "bin" / "python"


def vllm_python() -> Path:
    """``$SRA_VLLM_PYTHON``, else the repo's ``.venv-vllm`` (``make vllm-env`` builds it)."""
    return Path(os.environ.get("SRA_VLLM_PYTHON") or VLLM_PYTHON)


# Run by the server's own Python: start the server, end it once the starter (argv[1]) is gone.
GUARD = """
import os, subprocess, sys, time
starter = int(sys.argv[1])
server = subprocess.Popen(sys.argv[2:])
while server.poll() is None:
    if os.getppid() != starter:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        break
    time.sleep(1)
sys.exit(server.wait())
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class VLLMServer:
    def __init__(
        self,
        python: Path | str,
        model: Path | str,
        *,
        port: int | None = None,
        served_name: str = "embedded",
        args: tuple[str, ...] = (
            "--max-model-len",
            "2048",
            "--seed",
            "0",
            "--gpu-memory-utilization",
            "0.15",
        ),
        log_path: Path | str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.python, self.model = str(python), str(model)
        self.port = port or free_port()
        self.served_name, self.args = served_name, args
        self.log_path = Path(log_path) if log_path else None
        self.env = dict(env or {})  # on top of this process's environment
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
        return [
            self.python,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            self.model,
            "--served-model-name",
            self.served_name,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            *self.args,
        ]

    def start(self, timeout_s: float = 600.0, waiting: Callable[[float], None] | None = None) -> None:
        """Start the server and return once it answers; ``waiting(seconds)`` hears each second of the wait."""
        if self.proc is not None and self.proc.poll() is None:
            return
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        env = {
            **os.environ,
            "VLLM_LOGGING_LEVEL": os.environ.get("VLLM_LOGGING_LEVEL", "WARNING"),
            **self.env,
        }
        guarded = [self.python, "-c", GUARD, str(os.getpid()), *self.command()]
        self.proc = subprocess.Popen(
            guarded, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )
        started = time.monotonic()
        deadline = started + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vLLM server exited with {self.proc.returncode}; see {self.log_path}")
            if self.ready():
                return
            if waiting is not None:
                waiting(time.monotonic() - started)
            time.sleep(1.0)
        self.stop()
        raise TimeoutError(f"vLLM server not up after {timeout_s:.0f} s; see {self.log_path}")

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as reply:
                return reply.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def kill(self) -> None:
        """SIGKILL the whole server (its engine processes too), as a crash would."""
        self._signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self._signal(signal.SIGKILL)  # stray engine processes of a dead server
            return
        self._signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.proc.wait(timeout=30)
        self._signal(signal.SIGKILL)

    def _signal(self, sig: int) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def __enter__(self) -> VLLMServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
