"""Where a model's weights come from: the embedded model's cache, a local folder, or a hub id.

Shared by every in-process backend and the fine-tune worker, so that "embedded", a path and a
hub id mean the same thing everywhere.

Example::

    resolve_source("embedded")              # ('~/.cache/sra-mcts-studio/models/Qwen2.5-Coder-0.5B-Instruct', 'embedded:Qwen2.5-...')
    resolve_source("smollm2-135m")          # the tiny catalogue model, by its key
    resolve_source("./my-model")            # ('./my-model', './my-model') when the folder exists
    resolve_source("/no/such/dir")          # ModelNotAvailable: Model path '/no/such/dir' does not exist ...
"""

from __future__ import annotations

from pathlib import Path

from core.backends.catalogue import resolve
from core.backends.embedded import Progress, embedded_model_dir
from core.llm import ModelNotAvailable


def resolve_source(
    model: str | None, cache_dir: Path | None = None, progress: Progress | None = None
) -> tuple[str, str]:
    """Map a model name to (what from_pretrained loads, the id we report); builds an embedded model once."""
    if (entry := resolve(model)) is not None:
        return str(embedded_model_dir(entry.key, cache_dir, progress=progress)), entry.model_id
    model = str(model)
    local = Path(model).expanduser()
    if local.exists():
        return str(local), model
    # A hub id is "name" or "org/name"; anything else that looks like a path must exist locally.
    if model.startswith(("/", ".", "~")) or "\\" in model or model.count("/") > 1:
        raise ModelNotAvailable(f"Model path '{model}' does not exist (and is not a Hugging Face model id).")
    return model, model
