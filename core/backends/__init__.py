"""Backends: the LLM protocol's implementations, the embedded model, model sources, adapters, a call counter.

Layer 2: imports only from layer 1 (``core.llm``, ``core.paths``, ``core.atomic``). A backend module is
imported only when it is asked for.

Importing torch or vLLM costs seconds and memory, so ``import core.backends`` stays cheap and
``load_backend`` pulls in just the one implementation the caller names.

Example::

    backend = load_backend("transformers", "embedded")     # Qwen2.5-Coder-0.5B-Instruct, CPU or CUDA
    backend = load_backend("transformers", "smollm2-135m") # the tiny one (core/backends/catalogue.py)
    backend = load_backend("transformers", "Qwen/Qwen2.5-0.5B-Instruct", dtype="bfloat16")
    backend = load_backend("transformers", "embedded", adapter="v1-lora")   # a registered LoRA adapter
    backend = load_backend("vllm", "embedded", tensor_parallel_size=1)       # vllm.LLM in-process
    backend = load_backend("openai", "", base_url="http://127.0.0.1:8000/v1")  # any OpenAI-compatible server
    backend = load_backend("vllm-server", "embedded")  # the fast engine: a local vLLM server of our own
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

from core.llm import LLMBackend

BACKENDS = ("transformers", "vllm", "openai", "vllm-server")

# kind -> (module, class)
_IMPLEMENTATIONS: dict[str, tuple[str, str]] = {
    "transformers": ("core.backends.transformers_backend", "TransformersBackend"),
    "vllm": ("core.backends.vllm_backend", "VLLMBackend"),
    "openai": ("core.backends.openai_backend", "OpenAIBackend"),
    "vllm-server": ("core.backends.local_vllm", "LocalVLLMBackend"),
}
# --engine: what a user picks; each means a backend kind
ENGINES = {"in-process": "transformers", "vllm": "vllm-server"}
FAST_ENGINE = "vllm-server"


def engine_backend(name: str) -> str:
    """The backend kind an ``--engine`` name means; ValueError names the choices."""
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r}; choose {' or '.join(ENGINES)}")
    return ENGINES[name]


def add_engine_flag(parser: argparse.ArgumentParser, help_text: str, dest: str = "backend") -> None:
    """``--engine in-process|vllm``, read as a backend kind into ``dest``: by default another way to set
    ``--backend`` (the last of the two wins; absent, ``--backend``'s default stands)."""

    def kind(name: str) -> str:
        try:
            return engine_backend(name)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    default = argparse.SUPPRESS if dest == "backend" else None
    parser.add_argument("--engine", dest=dest, type=kind, default=default, metavar="ENGINE", help=help_text)


def load_backend(kind: str = "transformers", model: str = "embedded", **options: Any) -> LLMBackend:
    """Build the backend ``kind`` for ``model``; ``options`` go to its constructor (device, dtype, adapter ...)."""
    if kind not in BACKENDS:
        raise ValueError(f"unknown backend {kind!r}; valid kinds: {', '.join(BACKENDS)}")
    module_name, class_name = _IMPLEMENTATIONS[kind]
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(model, **options)
