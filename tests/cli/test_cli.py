"""Bad input in the headless CLI: one clear line on stderr, exit status 2, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "launch.py", "search", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def bad_config(tmp_path: Path) -> str:
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps({"temperature": -1}))
    return str(path)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--problem-text", "   "], "problem text is empty"),
        (["--problem", "HumanEval/999"], "unknown problem 'HumanEval/999'"),
        (["--problem", "HumanEval/0", "--model", "/no/such/model-dir"], "/no/such/model-dir"),
        (["--problem", "HumanEval/0", "--config", "BAD"], "temperature must be between"),
        (["--problem", "HumanEval/0", "--iterations", "0"], "max_iterations must be between"),
        (["--problem", "HumanEval/0", "--iterations", "many"], "invalid int value"),
        ([], "no problem given"),
        (["--problem", "HumanEval/0", "--adapter", "no-such-adapter"], "no adapter 'no-such-adapter'"),
    ],
)
def test_bad_input_prints_one_line_and_exits_2(tmp_path, args, expected):
    args = [bad_config(tmp_path) if a == "BAD" else a for a in args]
    result = run_cli(*args)
    err_lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len(err_lines) == 1 and expected in err_lines[0], result.stderr
