"""The package layers of shared/DESIGN.md hold, and the contract that checks them can fail."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def lint(where: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT), "--no-cache"], cwd=where, capture_output=True, text=True, timeout=120)


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    for name in ("core", "cli", "ui"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_contract_holds_on_the_code():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "bad_import", "contract"),
    [
        # a lower layer importing a higher one, hidden in a function as the old code did
        ("core/tree/snapshot.py", "def f():\n    from core.search.mcts import Search\n", "core's layers"),
        # a circle between two modules of one package
        ("core/search/mcts.py", "from core.search import rescore\n", "no import circles"),
        # siblings of one layer that must stay apart
        ("core/store/runs.py", "from core.search import mcts\n", "core's layers"),
        # the engine importing the UI, and the UI importing the CLI
        ("core/config.py", "import ui.app\n", "core below both"),
        ("ui/serve.py", "import cli.common\n", "neither importing the other"),
    ],
)
def test_the_contract_fails_on_a_wrong_import(copy: Path, module: str, bad_import: str, contract: str):
    with (copy / module).open("a", encoding="utf-8") as f:
        f.write("\n" + bad_import)
    result = lint(copy)
    assert result.returncode != 0
    broken = [line for line in result.stdout.splitlines() if line.endswith("BROKEN")]
    assert any(contract in line for line in broken), result.stdout[-3000:]


def test_no_package_imports_launch():
    for path in [*ROOT.glob("core/**/*.py"), *ROOT.glob("ui/**/*.py"), *ROOT.glob("cli/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            assert not any(n == "launch" or n.startswith("launch.") for n in names), path


def test_launch_only_wires_the_commands():
    text = (ROOT / "launch.py").read_text(encoding="utf-8")
    assert len(text.splitlines()) < 80
    tree = ast.parse(text)
    functions = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert functions == ["build_parser", "main"]
