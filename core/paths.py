"""Where the studio keeps its files: the data folder (database, exports, jobs, adapters) and the model cache.

Both follow the XDG base-directory convention and can be moved with an environment variable, so
tests and several studios on one machine never share a folder by accident.

Example::

    data_dir()    # $SRA_STUDIO_DATA, else $XDG_DATA_HOME/sra-mcts-studio, else ~/.local/share/sra-mcts-studio
    cache_dir()   # $SRA_STUDIO_CACHE, else $XDG_CACHE_HOME/sra-mcts-studio, else ~/.cache/sra-mcts-studio
"""

from __future__ import annotations

import os
from pathlib import Path

APP = "sra-mcts-studio"


def _xdg(explicit_var: str, xdg_var: str, fallback: Path) -> Path:
    if explicit := os.environ.get(explicit_var):
        return Path(explicit).expanduser()
    base = os.environ.get(xdg_var)
    return (Path(base).expanduser() if base else fallback) / APP


def data_dir() -> Path:
    """``$SRA_STUDIO_DATA``, else ``$XDG_DATA_HOME/sra-mcts-studio`` (default ``~/.local/share``)."""
    return _xdg("SRA_STUDIO_DATA", "XDG_DATA_HOME", Path.home() / ".local" / "share")


def cache_dir() -> Path:
    """``$SRA_STUDIO_CACHE``, else ``$XDG_CACHE_HOME/sra-mcts-studio``, else ``~/.cache/sra-mcts-studio``."""
    return _xdg("SRA_STUDIO_CACHE", "XDG_CACHE_HOME", Path.home() / ".cache")
