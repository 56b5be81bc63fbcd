"""The fast engine: a vLLM server on this machine, started on the studio's model and stopped with it.

``--engine vllm`` (studio, search, generate, evaluate, experiment) builds this backend instead of the
in-process transformers one. It prepares the model (an embedded one is converted once), starts vLLM's
OpenAI-compatible server from ``.venv-vllm`` (``make vllm-env``; vLLM's pins clash with gradio's, so it
cannot live in the studio's environment) with prefix caching on, so the problem and the path a wave's
prompts share are computed once, and the machine's cores as its threads (on a small CPU vLLM would
take one). It waits until the server answers (about 90 s on a 2-core CPU; ``progress`` hears the wait)
and talks to it through :class:`~core.backends.openai_backend.OpenAIBackend`. ``close()`` stops it,
and so does the end of this process, however it ends (``core.backends.vllm_server``).

A server that cannot start raises :class:`EngineUnavailable`: one line that says why and where the
server's log is. Callers fall back to the in-process engine.

Example::

    backend = LocalVLLMBackend("embedded")             # ~90 s to start on a 2-core CPU
    [res] = backend.generate([GenerationRequest((ChatMessage("user", "Hi"),), n=3, temperature=0.7)])
    backend.close()
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from core.backends.adapters import get_adapter, same_base
from core.backends.catalogue import key_of
from core.backends.openai_backend import OpenAIBackend
from core.backends.sources import resolve_source
from core.backends.vllm_server import VLLMServer, vllm_python
from core.llm import EngineUnavailable, GenerationRequest, GenerationResult
from core.paths import data_dir

START_ESTIMATE_S = 90  # measured on a 2-core CPU with the 0.5B model
MAX_MODEL_LEN = 4096  # the search's longest prompts and replies fit with room to spare
THREADS_ENV = "SRA_VLLM_THREADS"  # the server's CPU threads (default: every core this process may use)


def usable_cpus() -> list[int]:
    """The CPU ids this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def server_threads() -> int:
    """``$SRA_VLLM_THREADS``, else every usable core (vLLM alone would keep one back, half of a 2-core CPU)."""
    given = os.environ.get(THREADS_ENV, "").strip()
    if given:
        return max(1, min(int(given), len(usable_cpus())))
    return len(usable_cpus())


def thread_env(threads: int) -> dict[str, str]:
    """vLLM's CPU worker binds its OpenMP threads to the cores it is given (its "auto" reserves one)."""
    cpus = usable_cpus()[:threads]
    return {"OMP_NUM_THREADS": str(len(cpus)), "VLLM_CPU_OMP_THREADS_BIND": ",".join(map(str, cpus))}


class LocalVLLMBackend:
    """A vLLM server of this process's own; thread-safe, shared by every search like the HTTP backend."""

    name = "vllm-server"

    def __init__(
        self,
        model: str = "embedded",
        *,
        adapter: str | None = None,
        progress: Callable[[str], None] | None = None,
        python: Path | str | None = None,
        threads: int | None = None,
        timeout_s: float = 600.0,
        concurrency: int = 32,
        eager: bool = False,
    ) -> None:
        """``eager`` skips vLLM's torch.compile: the server starts in about 45 s instead of several
        minutes on a 2-core CPU (vLLM 0.32 compiles afresh at every start here: its compiled cache fails
        to load), and decodes more slowly; the tests use it, where starting is most of the cost."""
        python = Path(python or vllm_python())
        if not python.exists():
            raise EngineUnavailable(
                f"the fast engine needs vLLM in {python.parent.parent}: run `make vllm-env` (once, about 2 minutes)"
            )
        source, model_id = resolve_source(model)
        if not Path(source).is_dir():
            raise EngineUnavailable(
                f"the fast engine serves a local model folder or an embedded model, not {model!r}"
            )
        served = key_of(model) or Path(source).name
        args = [
            "--max-model-len",
            str(MAX_MODEL_LEN),
            "--enable-prefix-caching",
            "--seed",
            "0",
            "--gpu-memory-utilization",  # on a CPU build: the share of RAM for the KV cache
            "0.15",
        ]
        if eager:
            args.append("--enforce-eager")
        self.adapter = None
        if adapter:
            info = get_adapter(adapter)
            if not same_base(info.base_model, model):
                raise EngineUnavailable(
                    f"adapter {info.name} was trained on {info.base_model}, not on {model}"
                )
            self.adapter = info.name
            args += ["--enable-lora", "--max-lora-rank", "64", "--lora-modules", f"{info.name}={info.path}"]
        logs = data_dir() / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        self.threads = threads or server_threads()
        self.server = VLLMServer(
            python,
            source,
            served_name=served,
            args=tuple(args),
            log_path=logs / "vllm-server.log",
            env=thread_env(self.threads),
        )

        def waited(seconds: float) -> None:
            if progress is not None:
                progress(
                    f"starting the fast engine (vLLM server): {seconds:.0f} s of about {START_ESTIMATE_S} s"
                )

        try:
            self.server.start(timeout_s, waited)
        except (RuntimeError, TimeoutError, OSError) as exc:
            self.server.stop()
            raise EngineUnavailable(f"the vLLM server did not start: {exc}") from None
        atexit.register(self.close)
        self.client = OpenAIBackend(
            self.adapter or served, base_url=self.server.base_url, concurrency=concurrency, timeout_s=600.0
        )
        self.model_id = f"{model_id}+lora:{self.adapter}" if self.adapter else model_id  # as in-process says

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        return self.client.generate(requests)

    def close(self) -> None:
        """Stop the server (its engine processes too); safe to call twice."""
        self.server.stop()
