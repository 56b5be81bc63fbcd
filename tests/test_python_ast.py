"""Parsing Python is serialised: CPython 3.11's AST constructor breaks when two threads parse at once."""

from __future__ import annotations

import ast
import re
import threading
import time
from pathlib import Path

from core import python_ast

ROOT = Path(__file__).resolve().parent.parent


def test_parse_runs_one_thread_at_a_time(monkeypatch):
    inside, most = 0, 0
    guard = threading.Lock()
    real = ast.parse

    def slow_parse(*args, **kwargs):
        nonlocal inside, most
        with guard:
            inside += 1
            most = max(most, inside)
        time.sleep(0.01)  # long enough for another thread to enter if nothing stops it
        with guard:
            inside -= 1
        return real(*args, **kwargs)

    monkeypatch.setattr(ast, "parse", slow_parse)
    threads = [threading.Thread(target=python_ast.parse, args=("x = 1",)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most == 1


def test_parse_keeps_ast_parse_results_and_errors():
    assert isinstance(python_ast.parse("f(1)", mode="eval"), ast.Expression)
    assert isinstance(python_ast.parse("x = 1"), ast.Module)
    try:
        python_ast.parse("def (")
    except SyntaxError:
        pass
    else:
        raise AssertionError("a syntax error must surface as SyntaxError")


def test_no_product_module_calls_ast_parse_directly():
    direct = [
        str(p.relative_to(ROOT))
        for package in ("core", "ui", "cli")
        for p in (ROOT / package).rglob("*.py")
        if p.name != "python_ast.py" and re.search(r"\bast\.parse\(", p.read_text(encoding="utf-8"))
    ]
    assert direct == [], f"use core.python_ast.parse (thread-safe) in: {direct}"
