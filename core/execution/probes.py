"""Judge ``assert f(args) == value`` outside the process under test, so the program cannot forge it.

A test whose every assert compares calls of the function with literal arguments against
literal values is split in two: the sandbox only evaluates the calls (``Probe``) and sends
back their results as plain values (``decode``); the comparison (``Check``) runs here, in the
studio's process, on those values. The expected values never enter the sandbox, so a program
that patches ``compile``, walks up to the harness's frame or rewrites its test list can at
most lie about what it returned, which is the same as returning it.

Anything else (loops, helper functions, random inputs) is not split and runs inside the
sandbox as before, where the verdict is best-effort (docs/SANDBOX.md).

Example::

    split = split_test("assert inc(1) == 2", "inc")
    split.probes                  # ('inc(1)',)
    judge(split.checks[0], [2])   # (True, "")
"""

from __future__ import annotations

import ast
import math
import operator
import threading
from dataclasses import dataclass
from typing import Any

from core import python_ast

MAX_DEPTH = 64  # nesting of a returned value the wire format accepts
_JUDGE_FUNCS = {
    "abs": abs,
    "round": round,
    "len": len,
    "sorted": sorted,
    "sum": sum,
    "set": set,
    "list": list,
}
_JUDGE_FUNCS |= {"tuple": tuple, "math.fabs": math.fabs, "math.isclose": math.isclose}
_COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_UNARY = {ast.Not: operator.not_, ast.USub: operator.neg, ast.UAdd: operator.pos}
_PLACEHOLDER = "__probe__"


@dataclass(frozen=True)
class Check:
    """One assert: its source line, its expression with each call replaced by a probe slot."""

    source: str
    expr: ast.expr
    probes: tuple[int, ...]


@dataclass(frozen=True)
class SplitTest:
    probes: tuple[str, ...]  # call sources, evaluated in the sandbox in this order
    checks: tuple[Check, ...]


class _Unsplittable(ValueError):
    pass


# CPython 3.11 converts ASTs with one shared recursion counter: two threads at once (SandboxPool) can raise
# "SystemError: AST constructor recursion depth mismatch" (seen once in the fast suite). It runs one at a time.
_AST_LOCK = threading.Lock()


def split_test(source: str, entry_point: str) -> SplitTest | None:
    """The calls to run inside and the checks to judge outside, or None if ``source`` must run inside.

    Two shapes split: a run of ``assert`` statements calling ``entry_point`` (the docstring
    examples), and HumanEval's ``def check(candidate): assert ...`` followed by
    ``check(entry_point)``. Every probe calls ``entry_point``: a call of any other function the
    program could define would let it choose both sides of a comparison.
    """
    if not entry_point.isidentifier():
        return None
    with _AST_LOCK:
        try:
            module = python_ast.parse(source)
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            return None
        try:
            return _split_module(module, entry_point)
        except _Unsplittable:
            return None


def _split_module(module: ast.Module, entry_point: str) -> SplitTest:
    body = [s for s in module.body if not _is_inert(s)]
    if body and isinstance(body[-1], ast.Expr) and _is_check_call(body[-1].value):
        call = body[-1].value
        [target] = call.args  # type: ignore[attr-defined]
        defs = [s for s in body[:-1] if isinstance(s, ast.FunctionDef) and s.name == call.func.id]  # type: ignore[attr-defined]
        if len(defs) != 1 or len(body) != 2 or len(defs[0].args.args) != 1 or defs[0].args.kwonlyargs:
            raise _Unsplittable("not one check function")
        if target.id != entry_point:  # type: ignore[attr-defined]
            raise _Unsplittable("the check runs another function")
        return _split_asserts(defs[0].body, defs[0].args.args[0].arg, entry_point)
    return _split_asserts(body, entry_point, entry_point)


def _is_inert(stmt: ast.stmt) -> bool:
    """Statements that cannot change a check: docstrings, ``pass``, ``METADATA = {...}``, imports of math."""
    if isinstance(stmt, ast.Pass) or (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)):
        return True
    if isinstance(stmt, ast.Import) and all(a.name == "math" and a.asname is None for a in stmt.names):
        return True
    if isinstance(stmt, ast.Assign) and all(isinstance(t, ast.Name) and t.id.isupper() for t in stmt.targets):
        return _is_literal(stmt.value)
    return False


def _is_check_call(expr: ast.expr) -> bool:
    return (
        isinstance(expr, ast.Call)
        and isinstance(expr.func, ast.Name)
        and len(expr.args) == 1
        and isinstance(expr.args[0], ast.Name)
        and not expr.keywords
    )


def _split_asserts(stmts: list[ast.stmt], callee: str, entry_point: str) -> SplitTest:
    probes: list[str] = []
    checks: list[Check] = []
    for stmt in stmts:
        if _is_inert(stmt):
            continue
        if not isinstance(stmt, ast.Assert) or (
            stmt.msg is not None and not isinstance(stmt.msg, ast.Constant)
        ):
            raise _Unsplittable("not an assert")
        if isinstance(stmt.test, ast.Constant) and stmt.test.value is True:
            continue
        slots: list[int] = []
        expr = _Slotter(probes, slots, callee, entry_point).visit(_copy(stmt.test))
        if not slots:
            raise _Unsplittable("an assert without a call")
        _check_judgeable(expr)
        checks.append(Check(ast.unparse(stmt), expr, tuple(slots)))  # as the test wrote it
    if not checks:
        raise _Unsplittable("no checks")
    return SplitTest(tuple(probes), tuple(checks))


def _copy(expr: ast.expr) -> ast.expr:
    return python_ast.parse(ast.unparse(expr), mode="eval").body


class _Slotter(ast.NodeTransformer):
    """Replaces each call of the function under test by a probe slot."""

    def __init__(self, probes: list[str], slots: list[int], callee: str, entry_point: str) -> None:
        self.probes, self.slots, self.callee, self.entry_point = probes, slots, callee, entry_point

    def visit_Call(self, node: ast.Call) -> ast.expr:
        name = _dotted(node.func)
        if name in _JUDGE_FUNCS:
            self.generic_visit(node)
            return node
        if name != self.callee or not all(_is_literal(a) for a in node.args):
            raise _Unsplittable("a call that is not the function under test on literals")
        if any(k.arg is None or not _is_literal(k.value) for k in node.keywords):
            raise _Unsplittable("a call with non-literal keywords")
        call = ast.Call(ast.Name(self.entry_point, ast.Load()), node.args, node.keywords)
        self.probes.append(ast.unparse(call))
        self.slots.append(len(self.probes) - 1)
        return ast.Subscript(
            ast.Name(_PLACEHOLDER, ast.Load()), ast.Constant(len(self.probes) - 1), ast.Load()
        )


def _dotted(expr: ast.expr) -> str:
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name):
        return f"{expr.value.id}.{expr.attr}"
    return ""


def _is_literal(expr: ast.expr) -> bool:
    try:
        ast.literal_eval(expr)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def _check_judgeable(expr: ast.expr) -> None:
    """Only what ``_evaluate`` knows: literals, slots, comparisons, arithmetic (no powers), judge functions."""
    for node in ast.walk(expr):
        ok = isinstance(node, (ast.Constant, ast.List, ast.Tuple, ast.Set, ast.Dict, ast.Compare, ast.BoolOp))
        ok = ok or isinstance(node, (ast.UnaryOp, ast.Load, ast.And, ast.Or))
        ok = ok or type(node) in _COMPARE or type(node) in _BINARY or type(node) in _UNARY
        ok = ok or (isinstance(node, ast.BinOp) and type(node.op) in _BINARY)
        ok = ok or (isinstance(node, ast.Call) and _dotted(node.func) in _JUDGE_FUNCS)
        ok = ok or (isinstance(node, ast.Attribute) and _dotted(node) in _JUDGE_FUNCS)
        ok = ok or (isinstance(node, ast.Name) and node.id in (_PLACEHOLDER, "math", *_JUDGE_FUNCS))
        ok = ok or (isinstance(node, ast.Subscript) and _dotted(node.value) == _PLACEHOLDER)
        if not ok:
            raise _Unsplittable(f"cannot judge {type(node).__name__} outside")


def judge(check: Check, values: list[Any]) -> tuple[bool, str]:
    """(passed, message) of one check on the probes' returned values (all of them, by probe index)."""
    try:
        return bool(_evaluate(check.expr, values)), ""
    except Exception as exc:  # the values are the program's: anything may go wrong comparing them
        return False, f"{type(exc).__name__}: {exc}"[:500]


def _evaluate(node: ast.expr, values: list[Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Subscript):  # a probe slot
        return values[node.slice.value]  # type: ignore[attr-defined]
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        items = [_evaluate(e, values) for e in node.elts]
        return {ast.List: list, ast.Tuple: tuple, ast.Set: set}[type(node)](items)
    if isinstance(node, ast.Dict):
        return {
            _evaluate(k, values): _evaluate(v, values) for k, v in zip(node.keys, node.values, strict=True)
        }  # type: ignore[arg-type]
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_evaluate(node.operand, values))
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_evaluate(node.left, values), _evaluate(node.right, values))
    if isinstance(node, ast.BoolOp):
        results = (_evaluate(v, values) for v in node.values)
        return all(results) if isinstance(node.op, ast.And) else any(results)
    if isinstance(node, ast.Compare):
        left = _evaluate(node.left, values)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = _evaluate(right_node, values)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.Call):
        args = [_evaluate(a, values) for a in node.args]
        kwargs = {k.arg: _evaluate(k.value, values) for k in node.keywords if k.arg}
        return _JUDGE_FUNCS[_dotted(node.func)](*args, **kwargs)
    raise ValueError(f"cannot judge {type(node).__name__}")


def decode(wire: Any, depth: int = 0) -> Any:
    """A returned value from the runner's wire form: scalars as JSON, containers as [tag, items...]."""
    if depth > MAX_DEPTH:
        raise ValueError("the returned value is nested too deeply")
    if wire is None or type(wire) in (bool, int, float, str):
        return wire
    if type(wire) is not list or not wire or wire[0] not in ("list", "tuple", "set", "dict"):
        raise ValueError("malformed value")
    tag, items = wire[0], [decode(x, depth + 1) for x in wire[1:]]
    if tag == "dict":
        if len(items) % 2:
            raise ValueError("malformed dict")
        return dict(zip(items[::2], items[1::2], strict=True))
    return {"list": list, "tuple": tuple, "set": set}[tag](items)
