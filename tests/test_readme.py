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


def test_the_readme_api_example_runs_as_written_against_the_app_on_the_bundled_model():
    """The README's gradio_client example, verbatim but for the address, on the model the app opens with: every
    parameter it names exists, takes the value given, and every output it unpacks is there."""
    from conftest import launched_app
    from lego.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint

    api = (ROOT / "README.md").read_text().split("### API", 1)[1]
    example = re.search(r"```python\n(.*?)```", api, re.S).group(1)
    with launched_app(load_checkpoint(DEFAULT_CHECKPOINT), max_gflops=3000) as (_, url):
        names: dict = {}
        exec(example.replace("http://127.0.0.1:7860/", url), names)  # noqa: S102 - our own README
    assert names["images"][0]["caption"] == "hamburger, seed 7" and names["seed"] == 7
    assert "B2 global r64/p4 off at steps 12-18 of 18" in names["summary"]  # brick_2=[0, 1, 2] of 5 ranges
    assert names["every_brick"] and names["scheduled"] and names["difference"]
    assert names["status"].startswith("Done") and names["take_away"], names["status"]
