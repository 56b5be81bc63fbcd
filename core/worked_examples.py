"""One worked example per role, shown to the model as an earlier turn of the chat (few-shot).

The example problem is written here and is not from HumanEval, so no evaluation problem leaks into
a prompt. Each example is the role's own prompt, rendered for that problem, followed by the reply
we want: one plain-English step, one sentence of analysis, one score line, one code block. A
135M model copies a shown reply's shape far more readily than it follows an instruction.

Turned on by ``SearchConfig.worked_examples``; the prompt a node records then holds the example too.
"""

from __future__ import annotations

PROBLEM = '''def second_largest(values: list[int]) -> int | None:
    """Return the second largest distinct value in the list, or None when there is none.
    >>> second_largest([4, 1, 4, 3])
    3
    >>> second_largest([7, 7])
    """'''

STEPS = ["Remove the duplicates by turning the list into a set."]

# role -> (the values its template is rendered with, the reply the model should give)
EXAMPLES: dict[str, tuple[dict[str, object], str]] = {
    "reflect": (
        {"steps": STEPS},
        "The plan must still say how to pick the second largest value and what to return for fewer than two.",
    ),
    "propose": (
        {"steps": STEPS, "analysis": "Say how to find the second largest value.", "step_number": 2},
        "2. If fewer than two values remain, return None; otherwise sort them and return the second from the end.",
    ),
    "critic": ({"steps": [*STEPS, "Sort the values and return the first one."]}, "Score: 2"),
    "code": (
        {"steps": [*STEPS, "If fewer than two values remain, return None.", "Return the second largest."]},
        "```python\ndef second_largest(values: list[int]) -> int | None:\n"
        "    distinct = sorted(set(values))\n"
        "    if len(distinct) < 2:\n"
        "        return None\n"
        "    return distinct[-2]\n```",
    ),
}
