"""``launch.py --data-dir`` moves the studio database (it wins over ``SRA_STUDIO_DATA``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_data_dir_flag_is_where_the_studio_opens_its_database(tmp_path):
    (tmp_path / "notes.txt").write_text("my notes\n")
    env = {**os.environ, "SRA_STUDIO_DATA": str(tmp_path / "elsewhere")}
    bad = tmp_path / "notes.txt" / "studio"
    done = subprocess.run(
        [sys.executable, "launch.py", "--data-dir", str(bad), "studio", "--port", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "notes.txt" in lines[0]
    assert not (tmp_path / "elsewhere").exists()
    assert (tmp_path / "notes.txt").read_text() == "my notes\n"
