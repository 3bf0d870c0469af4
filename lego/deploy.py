"""Deploy the app to a Hugging Face Space: only what the app needs, through the Hub's upload API.

    python -m lego.deploy space --repo USER/NAME [--hardware zero-a10g|cpu-basic|cpu-upgrade] [--private] [--dry-run]
    python -m lego.deploy space --repo USER/NAME --static DIR [--private] [--dry-run]

``--static DIR`` uploads a classroom edition (``python -m lego.export_static DIR``) as a static Space
instead: no model runs there, so it is free to host.

Why not a git push: the bundled weights are over the Hub's 10 MiB limit for files pushed
without LFS, and a push would also upload the training state, the tests and the benchmark
pictures. The upload API stores large files itself, and the allow-list below is all that goes.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What the app needs at run time, as glob patterns under the project root.
ALLOW = ("app.py", "ui/*.py", "lego/*.py", "lego/model_card.md",
         *(f"checkpoints/{name}/{file}" for name in ("lego-emoji-s", "lego-emoji-s-48")
           for file in ("config.json", "model.safetensors", "README.md")),  # not the card's sample pictures
         "assets/benchmarks/*.json", "assets/CREDITS.md", "README.md", "TEACHER.md", "requirements.txt")
# ZeroGPU runs only some torch releases (2.8.0, 2.9.1, 2.10.0 and 2.11.0 as of November 2026): a ZeroGPU
# Space gets the newest of them instead of this project's pin, and the `spaces` package.
ZERO_GPU_TORCH = "2.11.0"
CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"  # as the README's set-up command installs it
HARDWARE = ("cpu-basic", "cpu-upgrade", "zero-a10g")
DEFAULT_HARDWARE = "zero-a10g"  # the one a free account may host a Gradio Space on


class DeployError(RuntimeError):
    """A deployment that cannot go ahead, with the reason."""


def files(root: Path = ROOT) -> list[Path]:
    """The allow-listed files, relative to ``root``, sorted."""
    found = {p.relative_to(root) for pattern in ALLOW for p in root.glob(pattern) if p.is_file()}
    return sorted(found)


def requirements(hardware: str, root: Path = ROOT) -> str:
    """The Space's requirements.txt: this project's pins, with PyTorch's CPU build on CPU hardware (a fraction of
    the CUDA build's download, which a CPU Space cannot use), and a ZeroGPU-supported torch and ``spaces`` on
    ZeroGPU."""
    text = (root / "requirements.txt").read_text()
    if hardware != "zero-a10g":
        return f"--extra-index-url {CPU_TORCH_INDEX}\n" + text
    pinned, count = re.subn(r"(?m)^torch==\S+", f"torch=={ZERO_GPU_TORCH}", text)
    if count != 1:
        raise DeployError("requirements.txt must pin torch exactly once (torch==X.Y.Z)")
    return pinned + "# ZeroGPU hands out the GPU per call\nspaces\n"


def front_matter(root: Path = ROOT) -> dict[str, str]:
    """The Space settings at the top of ``root``'s README.md (between the two ``---`` lines)."""
    if not (root / "README.md").is_file():
        raise DeployError(f"{root} has no README.md: a Space reads its settings from its front matter")
    text = (root / "README.md").read_text()
    match = re.match(r"---\n(.*?)\n---\n", text, re.S)
    if match is None:
        raise DeployError("README.md has no front matter: a Space needs sdk, app_file and the other settings")
    return dict(line.split(": ", 1) for line in match.group(1).splitlines() if ": " in line)


def stage(hardware: str, into: Path, root: Path = ROOT) -> list[Path]:
    """Copy the allow-listed files into ``into`` with the requirements for ``hardware``; returns them."""
    matter = front_matter(root)
    if matter.get("app_file") != "app.py" or matter.get("sdk") != "gradio":
        raise DeployError("README.md's front matter must say sdk: gradio and app_file: app.py")
    staged = files(root)
    for rel in staged:
        (into / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, into / rel)
    (into / "requirements.txt").write_text(requirements(hardware, root))
    return staged


def static_files(folder: Path) -> list[Path]:
    """Every file of a classroom edition, relative to ``folder``, once its front matter says sdk: static."""
    matter = front_matter(folder)
    if matter.get("sdk") != "static" or not (folder / matter.get("app_file", "index.html")).is_file():
        raise DeployError(f"{folder} is not a static site: its README.md must say sdk: static and its app_file "
                          "(index.html) must be there; make one with python -m lego.export_static")
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())


def list_files(folder: Path, files_: list[Path], where: str) -> None:
    for rel in files_:
        print(f"{(folder / rel).stat().st_size:>12,}  {rel}")
    print(f"{sum((folder / rel).stat().st_size for rel in files_):>12,}  bytes in {len(files_)} files for {where}")


def static_space(repo: str, folder: Path, private: bool = False, dry_run: bool = False) -> list[Path]:
    """Create or update the static Space ``repo`` with the folder as it is; ``dry_run`` only lists it."""
    if not folder.is_dir():
        raise DeployError(f"no folder at {folder}: make the classroom edition with python -m lego.export_static "
                          f"{folder}")
    staged = static_files(folder)
    list_files(folder, staged, f"{repo} (static)")
    if not dry_run:
        with hub(repo) as api:
            api.create_repo(repo, repo_type="space", space_sdk="static", private=private, exist_ok=True)
            api.upload_folder(repo_id=repo, repo_type="space", folder_path=folder, commit_message="Deploy the "
                              "classroom edition", delete_patterns=["img/*"])  # pictures an earlier export had go too
        print(f"https://huggingface.co/spaces/{repo}")
    return staged


@contextlib.contextmanager
def hub(repo: str) -> Iterator:
    """The Hub's API for ``repo``, after a check that someone is logged in; what the Hub refuses, or a connection
    that fails, is a DeployError of one line (a traceback of the HTTP library says nothing more to a user)."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import LocalTokenNotFoundError

    api = HfApi()
    try:
        api.whoami()
        yield api
    except LocalTokenNotFoundError:
        raise DeployError("not logged in to the Hugging Face Hub: run hf auth login (or set HF_TOKEN)") from None
    except Exception as exc:  # noqa: BLE001 - HTTP and connection errors of any kind, each said in one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise DeployError(f"the Hub did not take {repo}: {type(exc).__name__}: {first}") from None


def space(repo: str, hardware: str = DEFAULT_HARDWARE, private: bool = False, dry_run: bool = False,
          root: Path = ROOT, static: Path | None = None) -> list[Path]:
    """Create or update the Space ``repo`` with the allow-listed files, or with the classroom edition in
    ``static``; ``dry_run`` only lists them."""
    if hardware not in HARDWARE:
        raise DeployError(f"hardware must be one of {', '.join(HARDWARE)}, got {hardware!r}")
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
        raise DeployError(f"give the Space as USER/NAME, got {repo!r}")
    if static is not None:
        return static_space(repo, static, private, dry_run)
    with tempfile.TemporaryDirectory(prefix="lego_space_") as tmp:
        staged = stage(hardware, Path(tmp), root)
        list_files(Path(tmp), staged, f"{repo} on {hardware}")
        if dry_run:
            return staged
        with hub(repo) as api:
            api.create_repo(repo, repo_type="space", space_sdk="gradio", space_hardware=hardware, private=private,
                            exist_ok=True)
            api.upload_folder(repo_id=repo, repo_type="space", folder_path=tmp, commit_message="Deploy LEGO "
                              "Playground", delete_patterns=["*.py", "ui/*.py", "lego/*.py"])  # removed here, there too
        print(f"https://huggingface.co/spaces/{repo}")
    return staged


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lego.deploy", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sp = sub.add_parser("space", help="create or update a Hugging Face Space running the app")
    sp.add_argument("--repo", required=True, help="USER/NAME of the Space")
    sp.add_argument("--hardware", choices=HARDWARE,
                    help="zero-a10g (the default): ZeroGPU, a GPU lent per request, which free accounts may host, "
                         "with torch pinned to a release it runs; or cpu-basic or cpu-upgrade, which need a paid plan")
    sp.add_argument("--private", action="store_true", help="only you (and your organisation) can see the Space")
    sp.add_argument("--dry-run", action="store_true", help="list the files and their total size; upload nothing")
    sp.add_argument("--static", type=Path, metavar="DIR",
                    help="upload this classroom edition (python -m lego.export_static DIR) as a static Space")
    args = parser.parse_args(argv)
    if args.static and args.hardware:
        parser.error("a static Space runs no Python and takes no --hardware")
    try:
        space(args.repo, args.hardware or DEFAULT_HARDWARE, args.private, args.dry_run, static=args.static)
    except DeployError as exc:
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    main()
