"""``ast.parse`` behind one process-wide lock.

CPython 3.11 keeps the AST constructor's recursion depth in interpreter-wide state, so two threads
parsing at once (the search grounds candidates on a thread pool; the studio serves several clients)
can corrupt it and fail with "SystemError: AST constructor recursion depth mismatch" (python/cpython
gh-106905). Parsing is fast next to everything around it, so serialising it costs nothing measurable.
"""

from __future__ import annotations

import ast
import threading
from typing import Literal, overload

_LOCK = threading.Lock()


@overload
def parse(source: str, mode: Literal["exec"] = "exec") -> ast.Module: ...
@overload
def parse(source: str, mode: Literal["eval"]) -> ast.Expression: ...


def parse(source: str, mode: Literal["exec", "eval"] = "exec") -> ast.Module | ast.Expression:
    """``ast.parse(source, mode=mode)``, one thread at a time; raises SyntaxError like it."""
    with _LOCK:
        return ast.parse(source, mode=mode)
