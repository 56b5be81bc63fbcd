"""A small SFT export for training tests: chat records in the studio's export format."""

from __future__ import annotations

import json
from pathlib import Path


def write_sft_export(folder: Path, records: int = 16) -> Path:
    """``folder/sft.jsonl`` with ``records`` short chat records (each a distinct toy problem)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(records):
        messages = [
            {"role": "user", "content": f"Write a function add_{i}(x) that returns x plus {i}."},
            {
                "role": "assistant",
                "content": f"1. Add {i} to x.\n\n```python\ndef add_{i}(x):\n    return x + {i}\n```",
            },
        ]
        meta = {"problem": f"custom/add_{i}", "annotator": "test", "run": "r", "node": i}
        lines.append(json.dumps({"messages": messages, "meta": meta}, sort_keys=True))
    (folder / "sft.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder
