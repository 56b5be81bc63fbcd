"""Code replies from real models: fenced, bare, cut off, or only a body."""

from __future__ import annotations

import ast

import pytest

from core.execution.sandbox import run_tests
from core.search.code_extract import ExtractedCode, extract_code

PROMPT = 'def add(a: int, b: int) -> int:\n    """Return a + b.\n    >>> add(1, 2)\n    3\n    """\n'
ADD = "def add(a, b):\n    return a + b\n"


def test_fenced_python_with_prose_around() -> None:
    reply = f"Sure! Here is the solution:\n\n```python\n{ADD}```\n\nThis adds the two numbers."
    assert extract_code(reply, "add") == ExtractedCode(ADD, "fenced", False, "")


def test_fence_without_language() -> None:
    result = extract_code(f"```\n{ADD}```", "add")
    assert (result.code, result.source, result.truncated) == (ADD, "fenced", False)


def test_prefers_block_defining_entry_point() -> None:
    reply = (
        "First a helper:\n```python\ndef helper(x):\n    return x\n```\n"
        f"Then the function:\n```python\n{ADD}```\nUsage:\n```python\nprint(add(1, 2))\n```"
    )
    assert extract_code(reply, "add").code == ADD


def test_first_python_block_without_entry_point() -> None:
    reply = (
        "```text\nInput: 1 2\n```\n```python\ndef f():\n    return 1\n```\n```python\ndef g():\n    pass\n```"
    )
    assert extract_code(reply).code == "def f():\n    return 1\n"


def test_python_block_beats_unlabelled_example() -> None:
    reply = f"Example:\n```\nadd(1, 2) -> 3\n```\nCode:\n```py\n{ADD}```"
    assert extract_code(reply).code == ADD


def test_missing_closing_fence_that_parses_is_kept_but_marked() -> None:
    result = extract_code(f"```python\n{ADD}", "add")
    assert (result.code, result.source, result.truncated) == (ADD, "truncated_fence", True)
    assert "closing fence" in result.note


def test_truncated_fence_drops_incomplete_tail() -> None:
    reply = "```python\ndef add(a, b):\n    total = a + b\n    return tot + ("
    result = extract_code(reply, "add")
    assert result.code == "def add(a, b):\n    total = a + b\n"
    assert result.truncated and result.source == "truncated_fence"
    assert "dropped 1" in result.note


def test_unfenced_with_prose_before_and_after() -> None:
    reply = f"The answer is below.\n\nimport math\n\n{ADD}\nThis function returns the sum.\nHope it helps!"
    result = extract_code(reply, "add")
    assert result.code == f"import math\n\n{ADD}"
    assert (result.source, result.truncated, result.note) == ("unfenced", False, "")


def test_unfenced_cut_mid_line_is_marked_truncated() -> None:
    result = extract_code("def add(a, b):\n    s = a + b\n    return s +", "add")
    assert result.code == "def add(a, b):\n    s = a + b\n"
    assert result.truncated and result.source == "unfenced"


def test_unfenced_keeps_top_level_code_after_function() -> None:
    reply = f"{ADD}\nLIMIT = 10\ndef twice(x):\n    return add(x, x)\nprint(twice(2))\n"
    result = extract_code(reply)
    assert result.code == f"{ADD}\nLIMIT = 10\n\ndef twice(x):\n    return add(x, x)\n"
    assert "dropped 1 top-level statement(s)" in result.note


SELF_CHECK = """from typing import List


def depths(s: str) -> List[int]:
    return [max_depth(g) for g in s.split()]


@staticmethod
def max_depth(g: str) -> int:
    d = best = 0
    for c in g:
        d += 1 if c == "(" else -1
        best = max(best, d)
    return best

CASES = [("((()))", [2])]  # the model's expectation is wrong: ((())) is 3 deep


def check():
    for s, want in CASES:
        assert depths(s) == want, f"{s}: {depths(s)}"

check()
assert depths("()") == [1]
result = depths("(())")
print(result)
for s, _ in CASES:
    depths(s)
if __name__ == "__main__":
    check()
"""


def test_the_replys_own_top_level_tests_are_dropped_and_said() -> None:
    result = extract_code(f"```python\n{SELF_CHECK}```", "depths")
    kept = result.code
    assert "def depths" in kept and "@staticmethod\ndef max_depth" in kept and "def check():" in kept
    assert 'CASES = [("((()))", [2])]' in kept and "from typing import List" in kept
    for gone in (
        "\ncheck()",
        'assert depths("()")',
        "result = depths",
        "print(result)",
        "for s, _",
        "__main__",
    ):
        assert gone not in kept
    assert "dropped 6 top-level statement(s) that run the program" in result.note
    ran = run_tests(kept, ["assert depths('(()()) ((()))') == [2, 3]"], entry_point="depths")
    assert ran.passed  # with the wrong self-check left in, the module fails before any test runs
    assert not run_tests(SELF_CHECK, ["assert depths('()') == [1]"], entry_point="depths").passed


def test_top_level_tests_stay_when_dropping_them_would_lose_the_entry_point() -> None:
    reply = 'if __name__ == "__main__":\n    def f(x):\n        return x\n    print(f(1))\n'
    result = extract_code(f"```python\n{reply}```", "f")
    assert result.code == reply and "dropped" not in result.note


def test_fenced_body_only_gets_prompt_prepended() -> None:
    reply = "```python\nresult = a\nresult += b\nreturn result\n```"
    result = extract_code(reply, "add", PROMPT)
    assert result.code == PROMPT + "    result = a\n    result += b\n    return result\n"
    assert "prompt" in result.note
    assert ast.parse(result.code)


def test_indented_completion_gets_prompt_prepended() -> None:
    result = extract_code("    return a + b\n\nThat's it.", "add", PROMPT)
    assert result.code == PROMPT + "    return a + b\n"
    assert result.source == "unfenced" and not result.truncated


def test_body_without_prompt_is_returned_with_note() -> None:
    result = extract_code("```python\nreturn a + b\n```", "add")
    assert result.code == "return a + b\n"
    assert "'add' is not defined" in result.note


def test_full_function_is_not_touched_by_prompt() -> None:
    assert extract_code(f"```python\n{ADD}```", "add", PROMPT).code == ADD


def test_indented_fence_in_a_list_is_dedented() -> None:
    reply = "1. Write it:\n   ```python\n   def add(a, b):\n       return a + b\n   ```"
    assert extract_code(reply, "add").code == ADD


def test_crlf_line_endings() -> None:
    assert extract_code("```python\r\ndef add(a, b):\r\n    return a + b\r\n```\r\n", "add").code == ADD


def test_closing_fence_glued_to_last_line() -> None:
    assert extract_code("```python\ndef add(a, b):\n    return a + b```", "add").code == ADD


@pytest.mark.parametrize(
    "reply",
    [
        "",
        "   ",
        "I cannot write this function.",
        "```python\n```",
        "Step 1: add the numbers.\nStep 2: return.",
    ],
)
def test_nothing_usable(reply: str) -> None:
    assert extract_code(reply, "add") == ExtractedCode("", "none", False, "no code found")


def test_prose_without_prompt_is_not_a_body() -> None:
    assert extract_code("    Indented prose is not code.", "add", PROMPT).source == "none"


def test_prose_prompt_is_never_prepended() -> None:
    result = extract_code("```python\nreturn a + b\n```", "add", "Write a function add that sums two ints.")
    assert result.code == "return a + b\n"
    assert "'add' is not defined" in result.note
