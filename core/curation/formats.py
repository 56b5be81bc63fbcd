"""One record per training format, built from curation decisions; no I/O here.

Why: every format says the same thing (problem → numbered reasoning → code) in
the shape a trainer expects, so they share :func:`response_text` and one
provenance block, ``meta``, wherever the format tolerates extra keys. The
reference format of SRA-MCTS stays exactly ``{"question", "solution"}``.

Example::

    response_text(["Add the numbers."], "def add(a, b):\\n    return a + b")
    # '1. Add the numbers.\\n\\n```python\\ndef add(a, b):\\n    return a + b\\n```'
    sft_record(decision)["messages"][1]["role"]        # 'user'
"""

from __future__ import annotations

from typing import Any

from core.curation.candidates import CandidatePath, Decision
from core.prompts import format_steps

ALPACA_INSTRUCTION = "Complete the Python function below. First reason in numbered steps, then give the code."


def response_text(steps: list[str], code: str) -> str:
    """The assistant's answer: numbered steps, then the code in a python block (when there is code)."""
    parts = [format_steps(steps)] if steps else []
    if code.strip():
        parts.append(f"```python\n{code.rstrip()}\n```")
    return "\n\n".join(parts)


def path_meta(path: CandidatePath) -> dict[str, Any]:
    """Where a path came from: enough to find its run, node, model and config again."""
    p = path.provenance
    return {
        "problem_id": path.problem.id,
        "run_id": path.run_id,
        "node_id": path.node_id,
        "model": p.get("model", ""),
        "backend": p.get("backend", ""),
        "adapter": p.get("adapter"),
        "seed": p.get("seed"),
        "config_hash": p.get("config_hash", ""),
        "value": path.value,
        "critic": path.critic_score,
        "visible_pass_rate": path.visible.pass_rate if path.visible is not None else None,
        "hidden_passed": path.hidden.passed if path.hidden is not None else None,
    }


def decision_meta(d: Decision) -> dict[str, Any]:
    return path_meta(d.path) | {
        "annotator": d.annotator,
        "decision": d.decision,
        "decided_at": d.created_at,
        "edited": d.edited_steps is not None or d.edited_code is not None,
    }


def decision_text(d: Decision) -> str:
    return response_text(d.steps, d.code)


def sft_record(d: Decision, system: str | None = None) -> dict[str, Any]:
    messages = [{"role": "system", "content": system}] if system else []
    messages += [
        {"role": "user", "content": d.path.problem.prompt},
        {"role": "assistant", "content": decision_text(d)},
    ]
    return {"messages": messages, "meta": decision_meta(d)}


def alpaca_record(d: Decision) -> dict[str, Any]:
    return {
        "instruction": ALPACA_INSTRUCTION,
        "input": d.path.problem.prompt,
        "output": decision_text(d),
        "meta": decision_meta(d),
    }


def reference_record(d: Decision) -> dict[str, str]:
    return {"question": d.path.problem.prompt, "solution": decision_text(d)}


def dpo_record(chosen: Decision, rejected: Decision | CandidatePath) -> dict[str, Any]:
    """A preference pair; a rejected decision is shown as the search wrote it (edits are for accepts)."""
    if isinstance(rejected, Decision):
        bad_path, how = rejected.path, "rejected"
        bad_meta = path_meta(bad_path) | {"annotator": rejected.annotator, "decided_at": rejected.created_at}
    else:
        bad_path, how = rejected, "sibling"
        bad_meta = path_meta(bad_path)
    return {
        "prompt": chosen.path.problem.prompt,
        "chosen": decision_text(chosen),
        "rejected": response_text(bad_path.steps, bad_path.code),
        "meta": {"chosen": decision_meta(chosen), "rejected": bad_meta, "negative": how},
    }


def prm_records(d: Decision) -> list[dict[str, Any]]:
    """One record per step prefix, labelled with the search's value of the node ending it.

    An edited path keeps labels only for the prefix the annotator left untouched, since the search never
    judged the edited text.
    """
    steps = d.path.steps
    if d.edited_steps is not None:
        same = 0
        while same < min(len(steps), len(d.edited_steps)) and steps[same] == d.edited_steps[same]:
            same += 1
        steps = steps[:same]
    base = decision_meta(d)
    out = []
    for i, label in enumerate(d.path.labels[: len(steps)]):
        out.append(
            {
                "prompt": d.path.problem.prompt,
                "steps": steps[: i + 1],
                "value": min(1.0, max(0.0, label.value)),
                "critic": label.critic,
                "meta": base | {"node_id": label.node_id, "path_node_id": d.path.node_id},
            }
        )
    return out
