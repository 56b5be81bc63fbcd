"""Pull the Python function out of a model's code reply, and say how it was found.

Replies come fenced or bare, wrapped in prose, cut off by ``max_tokens``, or as a bare
function body. Whatever was repaired (a missing closing fence, a dropped half line, a
prepended signature, the reply's own top-level tests) is recorded in the result, never hidden.

Small models often append a self-check at the top level (``check()``, ``print(f(...))``, asserts
with expected values they made up, an ``if __name__ == "__main__":`` block). Run with the program,
a wrong self-check fails a correct function on every test, so the answer keeps only what defines
the program: imports, functions, classes and assignments that call none of them.

Example::

    >>> r = extract_code("Here you go:\\n```python\\ndef f(x):\\n    return x\\n```\\nDone.")
    >>> (r.source, r.truncated, r.code)
    ('fenced', False, 'def f(x):\\n    return x\\n')
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass

from core import python_ast

_OPEN_FENCE_RE = re.compile(r"```[ \t]*(?P<lang>[\w+.#-]*)[ \t]*$")
_PY_LANGS = frozenset({"python", "python3", "py", "py3"})
_CODE_START_RE = re.compile(r"^(?:(?:async\s+)?def\s+\w|class\s+\w|import\s+\w|from\s+[\w.]+\s+import\b|@\w)")
_TOP_LEVEL_CODE_RE = re.compile(
    r"^(?:[#@)\]}]|(?:async|def|class|import|from|if|elif|else|for|while|try|except|finally|with|return"
    r"|assert|raise|pass|print)\b|[A-Za-z_][\w.]*(?:\[[^\]]*\])?(?:\s*[-+*/%|&^]?=[^=]|\())"
)


_DEF_RE = re.compile(r"^[ \t]*(?:async\s+)?def\s", re.M)


@dataclass(frozen=True)
class ExtractedCode:
    """Code found in a reply; ``source`` is "fenced", "unfenced", "truncated_fence" or "none"."""

    code: str
    source: str
    truncated: bool
    note: str = ""


@dataclass(frozen=True)
class _Block:
    lang: str
    code: str
    closed: bool


def _parses(code: str) -> bool:
    try:
        python_ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def _defines(code: str, name: str) -> bool:
    return re.search(rf"^[ \t]*(?:async\s+)?def\s+{re.escape(name)}\s*\(", code, re.M) is not None


def _fenced_blocks(text: str) -> list[_Block]:
    """Every ``` block, in order; the last one may be unclosed."""
    blocks: list[_Block] = []
    lang: str | None = None
    body: list[str] = []
    for line in text.split("\n"):
        if lang is None:
            match = _OPEN_FENCE_RE.search(line)
            if match:
                lang, body = match["lang"].lower(), []
        elif "```" in line:
            body.append(line.split("```", 1)[0])
            blocks.append(_Block(lang, "\n".join(body), True))
            lang = None
        else:
            body.append(line)
    if lang is not None:
        blocks.append(_Block(lang, "\n".join(body), False))
    return blocks


def _pick(blocks: list[_Block], entry_point: str | None) -> _Block | None:
    """Python-labelled blocks first, then unlabelled ones; other languages only if they define a function."""
    usable = [b for b in blocks if b.code.strip()]
    ordered = [b for b in usable if b.lang in _PY_LANGS] + [b for b in usable if not b.lang]
    ordered += [b for b in usable if b.lang and b.lang not in _PY_LANGS and _DEF_RE.search(b.code)]
    if entry_point:
        for block in ordered:
            if _defines(block.code, entry_point):
                return block
    return ordered[0] if ordered else None


def _trim_to_parse(code: str) -> tuple[str, int]:
    """Drop lines from the end until the code parses; (code, lines dropped), or (code, -1) if hopeless."""
    if _parses(code):
        return code, 0
    lines = code.rstrip().split("\n")
    for dropped in range(1, len(lines)):
        candidate = "\n".join(lines[:-dropped]).rstrip()
        if candidate.strip() and _parses(candidate):
            return candidate, dropped
    return code, -1


def _unfenced(text: str) -> str:
    """From the first line that starts Python code up to the first prose line at the top level."""
    lines = text.split("\n")
    start = next((i for i, line in enumerate(lines) if _CODE_START_RE.match(line)), None)
    if start is None:
        return ""
    kept = []
    for line in lines[start:]:
        if line.strip() and not line[0].isspace() and not _TOP_LEVEL_CODE_RE.match(line):
            break
        kept.append(line)
    return "\n".join(kept)


def _body_only(text: str) -> str:
    """An indented function body (a completion of the prompt), from its first indented line."""
    lines = text.split("\n")
    start = next((i for i, line in enumerate(lines) if line.strip() and line[0].isspace()), None)
    if start is None:
        return ""
    kept = []
    for line in lines[start:]:
        if line.strip() and not line[0].isspace():
            break
        kept.append(line)
    body = textwrap.dedent("\n".join(kept))
    trimmed, dropped = _trim_to_parse(body)
    if dropped < 0 or not any(not isinstance(s, ast.Expr) for s in python_ast.parse(trimmed).body):
        return ""
    return body


def _calls_into(node: ast.stmt, names: set[str]) -> bool:
    """Whether the statement calls ``print`` or one of the program's own functions or classes."""
    called = {c.func.id for c in ast.walk(node) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)}
    return bool(called & (names | {"print"}))


def _runs_tests(node: ast.stmt, defined: set[str]) -> bool:
    """A top-level statement that exercises the program instead of defining it."""
    if isinstance(node, (ast.Expr, ast.Assert, ast.For, ast.AsyncFor, ast.While)):
        return True
    if isinstance(node, ast.If):
        return "__name__" in ast.unparse(node.test)
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        return _calls_into(node, defined)
    return False


def drop_top_level_tests(code: str, entry_point: str | None = None) -> tuple[str, int]:
    """(code without its top-level tests, statements dropped); unchanged when it does not parse or
    when dropping would lose the entry point's definition."""
    try:
        module = python_ast.parse(code)
    except (SyntaxError, ValueError):
        return code, 0
    definitions = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    defined = {n.name for n in module.body if isinstance(n, definitions)}
    lines = code.split("\n")
    kept, dropped = [], 0
    for node in module.body:
        if _runs_tests(node, defined):
            dropped += 1
            continue
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        kept.append("\n".join(lines[first - 1 : node.end_lineno]))
    if not dropped:
        return code, 0
    stripped = _tidy("\n\n".join(kept))
    if entry_point and _defines(code, entry_point) and not _defines(stripped, entry_point):
        return code, 0
    return stripped, dropped


def _tidy(code: str) -> str:
    code = "\n".join(line.rstrip() for line in code.split("\n")).strip("\n")
    return code + "\n" if code.strip() else ""


def extract_code(reply: str, entry_point: str | None = None, prompt: str | None = None) -> ExtractedCode:
    """Find the function in ``reply``; with ``prompt``, complete a bare body into a full function.

    >>> r = extract_code("```python\\ndef f(x):\\n    y = 2 * x\\n    return (y +", entry_point="f")
    >>> (r.source, r.truncated, r.code, r.note)
    ('truncated_fence', True, 'def f(x):\\n    y = 2 * x\\n', 'no closing fence; dropped 1 trailing line(s) that did not parse')
    >>> extract_code("    return x * 2", "double", "def double(x):\\n").code
    'def double(x):\\n    return x * 2\\n'
    """
    text = (reply or "").replace("\r\n", "\n").replace("\r", "\n")
    notes: list[str] = []
    block = _pick(_fenced_blocks(text), entry_point)
    if block is not None:
        code, source, truncated = textwrap.dedent(block.code), "fenced", False
        if not block.closed:
            source, truncated = "truncated_fence", True
            notes.append("no closing fence")
    else:
        code, source, truncated = _unfenced(text), "unfenced", False
        if not code.strip() and prompt and _DEF_RE.search(prompt):
            code = _body_only(text)
    code = _tidy(code)
    if not code:
        return ExtractedCode("", "none", False, "no code found")

    if source != "fenced":  # a reply cut off mid-line: drop what cannot parse, and say so
        trimmed, dropped = _trim_to_parse(textwrap.dedent(code))
        if dropped > 0:
            code, truncated = _tidy(trimmed), True
            notes.append(f"dropped {dropped} trailing line(s) that did not parse")

    if prompt and _DEF_RE.search(prompt) and not _DEF_RE.search(code):
        body = textwrap.indent(textwrap.dedent(code), "    ")
        code = _tidy(prompt.rstrip() + "\n" + body)
        notes.append("body completed with the prompt's signature")
    code, tests = drop_top_level_tests(code, entry_point)
    if tests:
        notes.append(f"dropped {tests} top-level statement(s) that run the program (its own tests or prints)")
    if entry_point and not _defines(code, entry_point):
        notes.append(f"{entry_point!r} is not defined")
    if not _parses(code):
        notes.append("code does not parse")
    return ExtractedCode(code, source, truncated, "; ".join(notes))
