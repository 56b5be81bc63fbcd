"""Backend registry: a backend module is imported only when it is asked for.

Importing torch or vLLM costs seconds and memory, so ``import core.backends`` stays cheap and
``load_backend`` pulls in just the one implementation the caller names.

Example::

    backend = load_backend("transformers", "embedded")     # SmolLM2-135M-Instruct, CPU or CUDA
    backend = load_backend("transformers", "Qwen/Qwen2.5-0.5B-Instruct", dtype="bfloat16")
    backend = load_backend("transformers", "embedded", adapter="v1-lora")   # a registered LoRA adapter
"""

from __future__ import annotations

import importlib
from typing import Any

from core.llm import LLMBackend

BACKENDS = ("transformers", "vllm", "openai")

# kind -> (module, class); kinds listed in BACKENDS but absent here are planned, not yet written.
_IMPLEMENTATIONS: dict[str, tuple[str, str]] = {
    "transformers": ("core.backends.transformers_backend", "TransformersBackend"),
}


def load_backend(kind: str = "transformers", model: str = "embedded", **options: Any) -> LLMBackend:
    """Build the backend ``kind`` for ``model``; ``options`` go to its constructor (device, dtype, adapter ...)."""
    if kind not in BACKENDS:
        raise ValueError(f"unknown backend {kind!r}; valid kinds: {', '.join(BACKENDS)}")
    if kind not in _IMPLEMENTATIONS:
        raise ValueError(f"backend {kind!r} is not available yet; use 'transformers'")
    module_name, class_name = _IMPLEMENTATIONS[kind]
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(model, **options)
