"""The package installed as a user installs it: in place from the clone (its commands then work from any folder,
on the clone's bundled checkpoints), or copied without the clone (it says where the checkpoints are)."""

import json
import shutil
import site
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def fresh_venv(where: Path) -> Path:
    """A venv that sees this one's packages (so nothing is downloaded) but not the project: its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    own = subprocess.run([str(python), "-c", "import site; print(site.getsitepackages()[0])"], check=True,
                         capture_output=True, text=True).stdout.strip()
    Path(own, "parent.pth").write_text(site.getsitepackages()[0] + "\n")
    return python


def install(python: Path, *what: str) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                           "--no-build-isolation", *what], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def test_installed_in_place_the_package_and_its_command_work_from_any_folder(tmp_path):
    python = fresh_venv(tmp_path / "venv")
    elsewhere = tmp_path / "notebooks"
    elsewhere.mkdir()
    assert subprocess.run([str(python), "-c", "import lego"], cwd=elsewhere, capture_output=True).returncode != 0
    install(python, "-e", str(ROOT))
    imported = subprocess.run([str(python), "-c", "import lego; print(lego.__file__)"], cwd=elsewhere,
                              capture_output=True, text=True, check=True).stdout.strip()
    assert Path(imported) == ROOT / "lego" / "__init__.py"
    done = subprocess.run([str(python.parent / "lego"), "generate", "--steps", "2", "--out", "pic.png", "--json",
                           "--quiet"], cwd=elsewhere, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["model"]["checkpoint"].endswith("lego-emoji-s-48")  # the clone's bundled model
    assert (elsewhere / "pic.png").is_file()
    usage = subprocess.run([str(python.parent / "lego"), "--help"], capture_output=True, text=True).stdout
    assert usage.startswith("usage: lego ")
    if (ROOT / ".git").exists():  # what setuptools leaves in the clone is ignored by git
        status = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, check=True)
        assert "egg-info" not in status.stdout and "build/" not in status.stdout


def test_installed_without_the_clone_it_says_where_the_bundled_checkpoints_are(tmp_path):
    source = tmp_path / "source"
    shutil.copytree(ROOT / "lego", source / "lego", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "requirements.txt"):
        shutil.copy(ROOT / name, source / name)
    python = fresh_venv(tmp_path / "venv")
    install(python, str(source))
    installed = Path(subprocess.run([str(python), "-c", "import lego; print(lego.__file__)"], cwd=tmp_path,
                                    capture_output=True, text=True, check=True).stdout.strip()).parent
    assert installed != source / "lego" and (installed / "model_card.md").is_file()  # files the package reads
    assert {p.name for p in (installed / "static").iterdir()} == {p.name for p in (ROOT / "lego" / "static").iterdir()}
    done = subprocess.run([str(python.parent / "lego"), "generate", "--steps", "2", "--quiet"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "pip install -e ." in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
