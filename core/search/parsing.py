"""Strict, tolerant parsers for the three kinds of free-text LLM reply the search reads.

Small models answer in many shapes; every parser here says *whether* it understood the
reply and *which* rule fired, so a caller never mistakes a guess for a score.

Example::

    >>> parse_critic_score("**Score**: 6").score
    6.0
    >>> parse_critic_score("not solved").parsed
    False
    >>> parse_reflection("<end>").is_end
    True
    >>> normalize_step("**Step 2**: Sort the list in place.")
    'Sort the list in place.'
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from core import python_ast

_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
_NUM = r"-?\d+(?:\.\d+)?"
# "score"/"rating"/"grade" anywhere (optionally "final score", "score (0-10)", "score for this path");
# "value" only as a line label, since "the value is 3" is common prose.
_LABEL = (
    r"(?:(?<![\w-])(?:(?:final|overall|total)\s+)?(?:score|rating|grade)s?"
    r"|^[ \t*_#>-]*value)"
    r"(?:\s*\([^)\n]{0,24}\)|\s+for\s+[^:：=\n]{1,40}?)?"
    r"(?:[ \t*_]*[:：=]|\s+(?:is|of|would\s+be|will\s+be)(?:[ \t]*[:：])?)"
    r"[\s*_`\"'\[(]*"
)
_LABELLED_RE = re.compile(
    _LABEL + rf"(?P<num>{_NUM})(?!\d)(?:\s*(?:/|out\s+of)\s*(?P<den>\d+(?:\.\d+)?))?", re.I | re.M
)
_LABELLED_WORD_RE = re.compile(_LABEL + rf"(?P<word>{'|'.join(_NUMBER_WORDS)})\b", re.I | re.M)
_FRACTION_RE = re.compile(r"(?<![\w./-])(?P<num>\d+(?:\.\d+)?)\s*(?:/|out\s+of)\s*10(?![\d/]|\.\d)", re.I)
_BARE_RE = re.compile(rf"^[\s*_`\"'(\[]*(?P<num>{_NUM})[\s*_`\"')\].!]*$")


@dataclass(frozen=True)
class ParsedScore:
    """A critic score on 0..10, or ``score=None`` with ``parsed=False`` and a ``note`` saying why."""

    score: float | None
    parsed: bool
    method: str  # "labelled" | "fraction" | "bare_number" | "word" | "unparsed"
    note: str = ""

    @property
    def normalized(self) -> float | None:
        """The score on 0..1, e.g. 7 -> 0.7; None when unparsed."""
        return None if self.score is None else self.score / 10.0


def _fmt(value: float) -> str:
    return f"{value:g}"


def _checked(value: float, method: str, note: str = "") -> ParsedScore:
    if not 0.0 <= value <= 10.0:
        why = f"score {_fmt(value)} is outside 0..10"
        return ParsedScore(None, False, "unparsed", f"{why}; {note}" if note else why)
    return ParsedScore(value, True, method, note)


def parse_critic_score(text: str) -> ParsedScore:
    """Read a 0..10 score from a critic reply; never guess from a stray number in prose.

    Priority: labelled score (last one wins) > ``N/10`` or ``N out of 10`` (last) > a reply that
    is only a number > a number word after a label. Out-of-range values are unparsed, not clamped.

    >>> parse_critic_score("The path is fine.\\nScore: 3")
    ParsedScore(score=3.0, parsed=True, method='labelled', note='')
    >>> parse_critic_score("Score: 12").note
    'score 12 is outside 0..10'
    """
    text = (text or "").replace("\u2212", "-").strip()
    if not text:
        return ParsedScore(None, False, "unparsed", "empty reply")
    labelled = list(_LABELLED_RE.finditer(text))
    if labelled:
        values = [float(m["num"]) for m in labelled]
        note = ""
        if len(set(values)) > 1:
            note = f"{len(values)} labelled scores ({', '.join(map(_fmt, values))}); took the last"
        last = labelled[-1]
        value = values[-1]
        if last["den"] is not None and float(last["den"]) != 10.0:
            den = float(last["den"])
            if den <= 0:
                return ParsedScore(None, False, "unparsed", f"score {last.group('num')}/{last['den']}")
            value = value / den * 10.0
            note = "; ".join(filter(None, [note, f"rescaled from /{_fmt(den)}"]))
        return _checked(value, "labelled", note)
    fractions = list(_FRACTION_RE.finditer(text))
    if fractions:
        values = [float(m["num"]) for m in fractions]
        note = ""
        if len(set(values)) > 1:
            note = f"{len(values)} fractions ({', '.join(map(_fmt, values))}); took the last"
        return _checked(values[-1], "fraction", note)
    bare = _BARE_RE.match(text)
    if bare:
        return _checked(float(bare["num"]), "bare_number")
    words = list(_LABELLED_WORD_RE.finditer(text))
    if words:
        return _checked(float(_NUMBER_WORDS.index(words[-1]["word"].lower())), "word")
    if re.search(r"(?<![\w-])(?:score|rating|grade)s?\b", text, re.I):
        return ParsedScore(None, False, "unparsed", "score label without a usable number")
    return ParsedScore(None, False, "unparsed", "no score found")


# ---------------------------------------------------------------- reflection

_END = "<end>"
_VERDICT_LABEL_RE = re.compile(r"^(?:verdict|answer|output|result|status|reply|response)\s*[:：]\s*", re.I)
_SOLVED_RE = re.compile(
    r"^(?:(?:the|this)\s+(?:problem|task|question|path)\s+(?:is|has\s+been)\s+(?:now\s+|already\s+|fully\s+)?)?"
    r"solved$",
    re.I,
)
_NEGATION_RE = re.compile(r"\b(?:not|never|unsolved)\b|n't\b", re.I)
_ANALYSIS_LABEL_RE = re.compile(r"^[\s*_#>]*analysis[ \t]*[*_]*[ \t]*[:：][\s*_]*", re.I)
_MAX_ANALYSIS = 400


@dataclass(frozen=True)
class ReflectionVerdict:
    """Either the path is finished (``is_end``) or a one-paragraph ``analysis`` to guide proposals."""

    is_end: bool
    analysis: str
    parsed: bool
    note: str = ""


def _bare(line: str) -> str:
    """Strip whitespace, markdown, quotes and trailing punctuation until nothing changes."""
    previous = None
    while previous != line:
        previous = line
        line = line.strip().strip("*`\"'_\u201c\u201d\u2018\u2019").rstrip(".!;,")
    return line


def _cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit * 2 // 3 else cut).rstrip(" ,;:")


def _is_end_line(line: str) -> bool:
    core = _bare(_VERDICT_LABEL_RE.sub("", _bare(line)))
    return core.lower() == _END or bool(_SOLVED_RE.match(core))


def parse_reflection(text: str) -> ReflectionVerdict:
    """Decide whether a reflection reply declares the path finished; otherwise clean its analysis.

    >>> parse_reflection("**<END>**.").is_end
    True
    >>> parse_reflection("Analysis:  The loop is   not solved yet.").analysis
    'The loop is not solved yet.'
    """
    text = (text or "").strip()
    if not text:
        return ReflectionVerdict(False, "", False, "empty reply")
    first, _, rest = text.partition("\n")
    if _is_end_line(text):
        return ReflectionVerdict(True, "", True)
    if _is_end_line(first):
        return ReflectionVerdict(True, "", True, "text after the verdict ignored" if rest.strip() else "")
    notes = []
    if "solved" in first.lower() and _NEGATION_RE.search(first):
        notes.append("negated verdict: not end")
    if _END in text.lower():
        notes.append("<end> appears inside the analysis: not end")
    analysis = " ".join(_ANALYSIS_LABEL_RE.sub("", text).split())
    if not analysis:
        return ReflectionVerdict(False, "", False, "; ".join(notes + ["no analysis text"]))
    if len(analysis) > _MAX_ANALYSIS:
        analysis = _cap(analysis, _MAX_ANALYSIS)
        notes.append("analysis truncated")
    return ReflectionVerdict(False, analysis, True, "; ".join(notes))


# ---------------------------------------------------------------- proposed steps

_STEP_PREFIX_RE = re.compile(
    r"^(?:[-*\u2022+]\s+|\d+\s*[.)]\s+|#+\s*|>\s*"
    r"|[*_]*(?:the\s+)?(?:(?:next|proposed|new)\s+)?(?:reasoning\s+)?step(?:\s*\d+)?[*_]*[ \t]*"
    r"(?:[:：.)\u2013\u2014-]|$)[ \t]*[*_]*)\s*",
    re.I,
)
_PREAMBLE_RE = re.compile(
    r"^(?:(?:sure|okay|ok|certainly|of course)\b[!.,]?$|(?:sure|okay|ok|here)\b.*:$)", re.I
)
_CODE_START_RE = re.compile(
    r"^(?:>>>|(?:async\s+)?def\s+\w+|class\s+\w+|import\s+\w|from\s+[\w.]+\s+import\b)"
)
_CODE_NODES = (ast.Call, ast.Subscript, ast.Attribute, ast.Lambda, ast.BinOp, ast.List, ast.Dict, ast.Set)
_CODE_NODES += (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_MAX_STEP = 300


def _looks_like_code(line: str) -> bool:
    """True for a Python statement; prose that happens to parse (``n is prime``) is not code."""
    if "```" in line or _CODE_START_RE.match(line):
        return True
    for candidate in (line, line + "\n    pass"):
        try:
            tree = python_ast.parse(candidate)
        except (SyntaxError, ValueError):
            continue
        if any(not isinstance(stmt, ast.Expr) for stmt in tree.body):
            return True
        return any(isinstance(node, _CODE_NODES) for node in ast.walk(tree))
    return False


def _unwrap(line: str) -> str:
    previous = None
    while previous != line:
        previous = line
        line = _STEP_PREFIX_RE.sub("", line.strip(), count=1)
        if len(line) > 4 and line.startswith(("**", "__")) and line.endswith(line[:2]):
            line = line[2:-2]
        line = line.strip().strip('"`\u201c\u201d')
        if len(line) > 1 and line[0] == line[-1] == "'":
            line = line[1:-1]
    return line


def normalize_step(text: str) -> str | None:
    """The one natural-language step in a proposal reply, or None when it is code, empty or tiny.

    >>> normalize_step("Next step:\\n1. Use a for loop over the list.")
    'Use a for loop over the list.'
    >>> normalize_step("for i in range(n):") is None
    True
    >>> normalize_step("2. Read the input. 3. Parse it.")
    'Read the input.'
    """
    for raw in (text or "").splitlines():
        if "```" in raw:
            return None
        line = " ".join(_unwrap(raw).split())
        if not line or _PREAMBLE_RE.match(line):
            continue
        line = _NEXT_NUMBER_RE.split(line, maxsplit=1)[0].rstrip()  # "A. 3. B" ran on into the next step
        if _looks_like_code(line) or len(line) < 3:
            return None
        return _cap(line, _MAX_STEP)
    return None


# A following numbered step on the same line: "... from user 3. Take the integer part".
_NEXT_NUMBER_RE = re.compile(r"(?<=\S)\s+\d{1,2}[.)]\s+(?=[A-Z])")


def step_key(step: str) -> str:
    """A key under which near-identical steps collide.

    >>> step_key("  Sort the list, then   return it! ")
    'sort the list then return it'
    """
    return " ".join(re.sub(r"[\W_]+", " ", step.lower()).split())
