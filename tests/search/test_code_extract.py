"""Code replies from real models: fenced, bare, cut off, or only a body."""

from __future__ import annotations

import ast

import pytest

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
    reply = f"{ADD}\nresult = add(1, 2)\nif __name__ == '__main__':\n    print(result)\n"
    assert extract_code(reply).code == reply


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
