"""Where a model's weights come from: the embedded model's cache, a local folder, or a hub id.

Shared by every in-process backend and the fine-tune worker, so that "embedded", a path and a
hub id mean the same thing everywhere.

Example::

    resolve_source("embedded")              # ('~/.cache/sra-mcts-studio/models/SmolLM2-...', 'HuggingFaceTB/SmolLM2-135M-Instruct')
    resolve_source("./my-model")            # ('./my-model', './my-model') when the folder exists
    resolve_source("/no/such/dir")          # ModelNotAvailable: Model path '/no/such/dir' does not exist ...
"""

from __future__ import annotations

from pathlib import Path

from core.backends.embedded import EMBEDDED_MODEL_ID, embedded_model_dir, is_embedded
from core.llm import ModelNotAvailable


def resolve_source(model: str | None, cache_dir: Path | None = None) -> tuple[str, str]:
    """Map a model name to (what from_pretrained loads, the id we report)."""
    if is_embedded(model):
        return str(embedded_model_dir(cache_dir)), EMBEDDED_MODEL_ID
    model = str(model)
    local = Path(model).expanduser()
    if local.exists():
        return str(local), model
    # A hub id is "name" or "org/name"; anything else that looks like a path must exist locally.
    if model.startswith(("/", ".", "~")) or "\\" in model or model.count("/") > 1:
        raise ModelNotAvailable(f"Model path '{model}' does not exist (and is not a Hugging Face model id).")
    return model, model
