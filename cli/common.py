"""What every headless command shares: the one-line error, the parser that prints it, logging,
the backend flag's help, and opening the studio database or a list of tree files.

A command module has ``NAME``, ``HELP``, ``add_args(parser)`` and ``run(args) -> int``; bad input
anywhere below ``run`` raises :class:`UsageError`, which ``launch.py`` prints as ``error: ...`` and
exit status 2.
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
from pathlib import Path

from core.paths import data_dir
from core.store.runs import Store
from core.tree.files import load_tree_file
from core.tree.nodes import Tree, TreeFormatError

BACKEND_HELP = (
    "transformers (default, in-process), vllm (vllm.LLM in-process), openai (an OpenAI-compatible "
    "server: --base-url where offered, else $OPENAI_BASE_URL) or vllm-server (= --engine vllm)"
)
ENGINE_HELP = (
    "in-process (the default) or vllm: the fast engine, a vLLM server on this machine started on the "
    "same model (about 90 s on a 2-core CPU) and stopped at exit; `make vllm-env` builds it once"
)


def add_engine_arg(p: argparse.ArgumentParser) -> None:
    """``--engine in-process|vllm``: another way to set ``--backend`` (the last of the two wins)."""
    from core.backends import add_engine_flag

    add_engine_flag(p, ENGINE_HELP)


MODEL_HELP = (
    "an embedded model by name: embedded (the default, = qwen2.5-coder-0.5b), qwen2.5-coder-1.5b or "
    "smollm2-135m (see `launch.py models`); or a Hugging Face id or a local folder"
)


class UsageError(Exception):
    """Bad input from the command line: shown as one line, exit status 2."""


class OneLineParser(argparse.ArgumentParser):
    """Argument errors as one clear line and exit status 2 (no usage dump)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"error: {message} (see --help)\n")
        raise SystemExit(2)


def configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


def open_store() -> Store:
    """The studio database, or a :class:`UsageError` that names its folder."""
    try:
        return Store()
    except (OSError, sqlite3.Error) as exc:
        raise UsageError(f"cannot open the studio database in {data_dir()}: {exc}") from None


def load_trees(paths: list[str]) -> list[Tree]:
    """Every named tree file, or a :class:`UsageError` for the first missing or damaged one."""
    if not paths:
        raise UsageError("no tree files given: name one or more tree JSON files")
    trees = []
    for path in paths:
        if not Path(path).is_file():
            raise UsageError(f"cannot read tree file {path}: it does not exist or is not a file")
        try:
            trees.append(load_tree_file(path))
        except TreeFormatError as exc:
            raise UsageError(f"cannot read tree file {path}: {exc}") from None
    return trees
