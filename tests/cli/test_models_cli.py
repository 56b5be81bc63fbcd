"""``launch.py models``: the catalogue with what is installed here, and the one-time preparation's progress."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cli import models as models_cli
from cli.common import UsageError
from core.backends import catalogue, embedded
from tests.backends.test_embedded import toy_model

ROOT = Path(__file__).resolve().parents[2]


def test_the_list_names_every_model_and_the_default() -> None:
    proc = subprocess.run(
        [sys.executable, "launch.py", "models"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    rows = {line.split()[0]: line for line in proc.stdout.splitlines()[1:-1]}
    assert set(rows) == set(catalogue.MODELS)
    assert rows["qwen2.5-coder-0.5b"].endswith("(default)") and "Apache-2.0" in rows["smollm2-135m"]


def test_an_unknown_name_is_one_line() -> None:
    with pytest.raises(
        UsageError, match="'gpt-9' is not an embedded model; the catalogue has: qwen2.5-coder-0.5b"
    ):
        models_cli.run_models("verify", "gpt-9")


def test_prepare_prints_its_progress_once_and_a_bad_part_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    entry = toy_model(tmp_path / "site")
    monkeypatch.setitem(catalogue.MODELS, entry.key, entry)
    monkeypatch.setattr(embedded, "_package_dir", lambda module: tmp_path / "site" / module)
    monkeypatch.setenv("SRA_STUDIO_CACHE", str(tmp_path / "cache"))

    def convert(entry, gguf, out, dtype, progress) -> None:
        progress(0.5, "converting Toy-Model to safetensors, one time: 1 s of about 1 s")
        out.mkdir()
        for name in ("config.json", "model.safetensors", "tokenizer_config.json"):
            (out / name).write_text("{}")

    monkeypatch.setattr(embedded, "_convert", convert)
    err = io.StringIO()
    models_cli.prepare("toy", err)
    lines = err.getvalue().splitlines()
    assert lines[0].startswith("preparing Toy-Model once: checking its files, then converting (about 1 s)")
    assert re.match(r"\[ +\d+%\] checking the installed files", lines[1])
    assert lines[-1] == "[100%] Toy-Model is ready"
    again = io.StringIO()
    models_cli.prepare("toy", again)  # ready: nothing to do, nothing said
    assert again.getvalue() == ""

    part = tmp_path / "site" / entry.parts[0].module / entry.parts[0].file
    part.write_bytes(b"X" + part.read_bytes()[1:])
    monkeypatch.setenv("SRA_STUDIO_CACHE", str(tmp_path / "cache2"))
    with pytest.raises(
        UsageError, match=r"^Part 1 of Toy-Model \(toy-part1==0\.1\.2\) is not the published file"
    ):
        models_cli.prepare("toy", io.StringIO())
