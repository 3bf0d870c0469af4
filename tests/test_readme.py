"""The README's commands as a newcomer types them: every block marked ``bash runnable`` runs verbatim.

Blocks left unmarked start a server, install packages, download from the network or train for
hours; the README says what each costs.
"""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NEEDED = ("app.py", "ui", "lego", "checkpoints", "assets", "requirements.txt", "README.md")


def runnable_blocks() -> list[str]:
    return re.findall(r"```bash runnable\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_the_readme_marks_its_quick_commands_runnable():
    commands = " ".join(runnable_blocks())
    assert "python -m lego info" in commands and "python -m lego generate" in commands
    assert "--dry-run" in commands


@pytest.mark.parametrize("block", runnable_blocks(), ids=lambda b: b.strip().splitlines()[-1][:40])
def test_a_runnable_readme_block_runs_verbatim(block, tmp_path):
    """In a copy of the project's layout (links), so the files the commands write land in tmp_path."""
    for name in NEEDED:
        (tmp_path / name).symlink_to(ROOT / name)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # venv active
    start = time.perf_counter()
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=240)
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stderr[-2000:]
    print(f"{seconds:.1f} s: {block.strip()[:80]}")
    for out in re.findall(r"--out (\S+\.png)", block):
        assert (tmp_path / out).stat().st_size > 1000
