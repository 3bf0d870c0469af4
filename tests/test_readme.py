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


def runnable_blocks(language: str = "bash") -> list[str]:
    return re.findall(rf"```{language} runnable\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_the_readme_marks_its_quick_commands_runnable():
    commands = " ".join(runnable_blocks())
    assert "python -m lego info" in commands and "python -m lego generate" in commands
    assert "--dry-run" in commands


@pytest.mark.parametrize("block", runnable_blocks(), ids=lambda b: b.strip().splitlines()[-1][:40])
def test_a_runnable_readme_block_runs_verbatim(block, tmp_path):
    """In a copy of the project's layout (links), so the files the commands write land in tmp_path."""
    ran_in(["bash", "-euo", "pipefail", "-c", block], tmp_path)
    for out in re.findall(r"--out (\S+\.png)", block):
        assert (tmp_path / out).stat().st_size > 1000


@pytest.mark.parametrize("block", runnable_blocks("python"), ids=lambda b: b.strip().splitlines()[-1][:40])
def test_a_runnable_readme_python_example_runs_verbatim(block, tmp_path):
    """And where it draws from a settings line, its picture is the command line's for the same line, pixel for
    pixel: the package's request is the app's."""
    import numpy as np
    from PIL import Image

    ran_in([sys.executable, "-c", block], tmp_path)
    saved = re.findall(r'\.save\("(\S+\.png)"\)', block)
    assert saved and all((tmp_path / out).stat().st_size > 1000 for out in saved)
    for settings in re.findall(r'from_text\(model\.config, "([^"]+)"\)', block):
        ran_in([sys.executable, "-m", "lego", "generate", "--settings", settings, "--out", "cli.png", "--quiet"],
               tmp_path)
        assert np.array_equal(np.asarray(Image.open(tmp_path / saved[0]).convert("RGB")),
                              np.asarray(Image.open(tmp_path / "cli.png").convert("RGB")))


def test_the_readme_has_a_runnable_python_example():
    assert any("run_to_end" in block for block in runnable_blocks("python"))


def ran_in(command: list[str], tmp_path: Path) -> None:
    """``command`` run in a copy of the project's layout (links), with the venv's Python first on the path."""
    for name in NEEDED:
        if not (tmp_path / name).exists():
            (tmp_path / name).symlink_to(ROOT / name)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # venv active
    start = time.perf_counter()
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stderr[-2000:]
    print(f"{seconds:.1f} s: {command[-1].strip()[:80]}")


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
