"""Deploying to a Hugging Face Space: what would go, offline, and the app as a Space starts it."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lego import deploy

from conftest import generate_args

ROOT = Path(__file__).resolve().parent.parent


def test_the_dry_run_lists_what_the_app_needs_and_nothing_else(capsys):
    staged = [str(p) for p in deploy.space("someone/lego", "cpu-basic", dry_run=True)]  # this requirements.txt
    out = capsys.readouterr().out
    for needed in ("app.py", "ui/generate.py", "lego/model.py", "lego/model_card.md", "README.md", "TEACHER.md",
                   "requirements.txt", "checkpoints/lego-emoji-s/model.safetensors",
                   "checkpoints/lego-emoji-s/config.json", "assets/benchmarks/schedules.json", "assets/CREDITS.md"):
        assert needed in staged, needed
    assert not [p for p in staged if p.startswith(("training/", "tests/", "benchmarks/", "scripts/", "data/"))]
    assert not [p for p in staged if p.endswith(".png")]  # no picture: the card's samples are not the app's
    assert not [p for p in staged if "emoji-judge" in p]  # the judge evaluates; the app does not need it
    total = sum((ROOT / p).stat().st_size for p in staged if p != "requirements.txt")
    total += len(deploy.requirements("cpu-basic").encode())  # the Space's own, which names the CPU torch index
    assert f"{total:,}  bytes in {len(staged)} files for someone/lego on cpu-basic" in out
    deploy.main(["space", "--repo", "someone/lego", "--dry-run"])  # by default on ZeroGPU, which is free to host
    assert f"bytes in {len(staged)} files for someone/lego on zero-a10g" in capsys.readouterr().out


def test_zero_gpu_gets_a_torch_it_runs_and_the_spaces_package(tmp_path):
    cpu = deploy.requirements("cpu-basic")
    zero = deploy.requirements("zero-a10g")
    assert cpu == f"--extra-index-url {deploy.CPU_TORCH_INDEX}\n" + (ROOT / "requirements.txt").read_text()
    readme = (ROOT / "README.md").read_text()  # the Space installs torch from where the README's set-up does
    assert f"--extra-index-url {deploy.CPU_TORCH_INDEX}" in readme
    assert f"--extra-index-url {deploy.CPU_TORCH_INDEX}" in (ROOT / "scripts" / "test.sh").read_text()
    assert f"torch=={deploy.ZERO_GPU_TORCH}" in zero and "\nspaces\n" in zero
    # every other pin is the same: the two files are kept in step by being made from one
    strip = [line for line in (ROOT / "requirements.txt").read_text().splitlines() if not line.startswith("torch==")]
    assert all(line in zero.splitlines() for line in strip)
    deploy.stage("zero-a10g", tmp_path)
    assert (tmp_path / "requirements.txt").read_text() == zero


def test_the_front_matter_is_what_a_gradio_space_reads():
    matter = deploy.front_matter()
    assert matter["sdk"] == "gradio" and matter["app_file"] == "app.py"
    import gradio
    assert matter["sdk_version"] == gradio.__version__  # the Space runs the Gradio the tests ran


@pytest.mark.parametrize("repo,hardware,message", [("no-slash", "cpu-basic", "USER/NAME"),
                                                    ("a/b", "h100", "hardware must be one of")])
def test_bad_deploy_arguments_are_refused(repo, hardware, message):
    with pytest.raises(deploy.DeployError, match=message):
        deploy.space(repo, hardware, dry_run=True)


def test_the_app_starts_as_a_space_starts_it_and_serves_a_request():
    """A Space runs `python app.py` with these variables set, and the `spaces` package installed."""
    from conftest import free_port
    from gradio_client import Client

    pytest.importorskip("spaces")  # installed by the test requirements: the decorated path runs on CPU
    port = free_port()
    env = {**os.environ, "SPACE_ID": "someone/lego", "SYSTEM": "spaces", "GRADIO_SERVER_NAME": "0.0.0.0",
           "GRADIO_SERVER_PORT": str(port), "HF_HUB_OFFLINE": "1"}
    server = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 120
        client = None
        while client is None and time.time() < deadline and server.poll() is None:
            try:
                client = Client(f"http://127.0.0.1:{port}/", verbose=False)
            except Exception:  # not listening yet
                time.sleep(1)
        assert client is not None, server.stdout.read() if server.poll() is not None else "the app did not start"
        out = client.predict(*generate_args(seed=1, steps=4, previews=False), api_name="/generate")
        assert len(out[0]) == 1 and Path(out[0][0]["image"]).stat().st_size > 100
        report = next(Path(f) for f in out[5] if str(f).endswith(".json"))  # the app opens on the 48-emoji model
        assert json.loads(report.read_text())["model"]["checkpoint"] == "checkpoints/lego-emoji-s-48"
        client.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_static_dry_run_lists_the_classroom_folder_as_it_is(tmp_path, capsys):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.png").write_bytes(b"\x89PNG" + bytes(60))
    (tmp_path / "index.html").write_text("<!DOCTYPE html>")
    (tmp_path / "README.md").write_text("---\ntitle: t\nsdk: static\napp_file: index.html\n---\n")
    staged = deploy.space("someone/lego-class", dry_run=True, static=tmp_path)
    assert [str(p) for p in staged] == ["README.md", "img/a.png", "index.html"]
    total = sum((tmp_path / p).stat().st_size for p in staged)
    assert f"{total:,}  bytes in 3 files for someone/lego-class (static)" in capsys.readouterr().out
    deploy.main(["space", "--repo", "someone/lego-class", "--static", str(tmp_path), "--dry-run"])
    assert f"{total:,}  bytes in 3 files for someone/lego-class (static)" in capsys.readouterr().out  # the same
    with pytest.raises(SystemExit):  # a static Space runs nothing: a GPU asked for it is a mistake, said
        deploy.main(["space", "--repo", "someone/lego-class", "--static", str(tmp_path), "--hardware", "zero-a10g"])
    assert "a static Space runs no Python and takes no --hardware" in capsys.readouterr().err


@pytest.mark.parametrize("readme,message", [(None, "has no README.md"),
                                            ("---\nsdk: gradio\napp_file: app.py\n---\n", "not a static site")])
def test_a_folder_that_is_not_a_static_site_is_refused(tmp_path, readme, message):
    (tmp_path / "index.html").write_text("<!DOCTYPE html>")
    if readme is not None:
        (tmp_path / "README.md").write_text(readme)
    with pytest.raises(deploy.DeployError, match=message):
        deploy.space("someone/lego-class", dry_run=True, static=tmp_path)


def test_a_zero_gpu_space_is_recognised_by_the_variable_the_hub_sets(monkeypatch):
    """There the GPU exists only inside each request's call, so the app must not batch (see app.build_demo)."""
    from ui.zero_gpu import on_zero_gpu_space

    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    assert not on_zero_gpu_space()
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    assert on_zero_gpu_space()


def test_a_deploy_with_no_one_logged_in_is_one_line_and_uploads_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # no token saved there
    with pytest.raises(SystemExit) as refused:
        deploy.main(["space", "--repo", "someone/lego"])
    assert refused.value.code == "error: not logged in to the Hugging Face Hub: run hf auth login (or set HF_TOKEN)"
    assert "bytes in" in capsys.readouterr().out  # what would have gone was listed first
    with pytest.raises(deploy.DeployError, match="no folder at .*: make the classroom edition with"):
        deploy.space("someone/lego-class", static=tmp_path / "absent")
