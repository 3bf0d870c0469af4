import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from lego.checkpoint import save_checkpoint

from conftest import randomized

ROOT = Path(__file__).resolve().parent.parent


def run(*args):
    return subprocess.run([sys.executable, "-m", "lego", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_generate_writes_png_and_reports_cost(tmp_path):
    save_checkpoint(randomized("tiny-pg"), tmp_path / "ckpt")
    out = tmp_path / "img.png"
    done = run("generate", "--checkpoint", str(tmp_path / "ckpt"), "--class", "1", "--seed", "3", "--steps", "3",
               "--guidance", "2", "--size", "32x16", "--schedule", "pg-recipe", "--images", "2", "--out", str(out),
               "--json", "--quiet")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["seeds"] == [3, 4] and report["size"] == "32x16"
    assert report["model"]["checkpoint"].endswith("ckpt") and len(report["model"]["fingerprint"]) >= 8  # which model
    assert 0 < report["saving"] < 1 and report["flops"] < report["all_bricks_flops"]
    assert report["predicted_speedup"] > 1
    image = Image.open(out)
    assert image.format == "PNG" and image.size == (2 * 32 + 2, 16)


def test_generate_text_output_and_progress(tmp_path):
    save_checkpoint(randomized("tiny-pg"), tmp_path / "ckpt")
    done = run("generate", "--checkpoint", str(tmp_path / "ckpt"), "--steps", "2", "--out", str(tmp_path / "a.png"))
    assert done.returncode == 0, done.stderr
    assert "saving 0.0%" in done.stdout and "predicted speed-up 1.00x" in done.stdout
    assert "2/2" in done.stderr  # the progress bar counted both steps


def test_generate_refuses_bad_input_with_a_message(tmp_path):
    save_checkpoint(randomized("tiny-pg"), tmp_path / "ckpt")
    ckpt = str(tmp_path / "ckpt")
    cases = [
        (["--schedule", '{"bricks": {"0": [[0, 0.5]], "1": [], "2": []}}'], "no brick is on at step"),
        (["--schedule", "turbo"], "none of these: a preset's name"),
        (["--size", "24x16"], "multiple of 16"),
        (["--class", "dragons"], "unknown class 'dragons'"),
        (["--steps", "0"], "steps must be"),
        (["--class", "5000"], "class 5000 is out of range: an index is 0..2, or give a name"),
        (["--size", "0x64"], "argument --size: size must be at least 1 pixel a side, got '0x64'"),
        (["--chekpoint", "x"], "python -m lego generate: error: unrecognized arguments: --chekpoint x"),
    ]
    for extra, message in cases:
        done = run("generate", "--checkpoint", ckpt, "--out", str(tmp_path / "x.png"), *extra)
        assert done.returncode == 2 and message in done.stderr, (extra, done.stderr)
    assert not (tmp_path / "x.png").exists()
    # output piped into a command that stops reading: no traceback
    done = subprocess.run(f"{sys.executable} -m lego info --checkpoint {ckpt} | head -1", shell=True, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.startswith("LEGO model (ckpt):") and "Traceback" not in done.stderr, done.stderr


def test_numbers_in_other_digits_and_names_too_long_for_a_file_are_refused(tmp_path, capsys):
    """In-process, as the parser and the settings refuse them before any sampling."""
    from lego.cli import main

    save_checkpoint(randomized("tiny-pg"), tmp_path / "ckpt")
    cases = [  # digits 0-9 only, as the settings text and the app take them (int() reads these as 32x16 and 3)
        (["--size", "\uff13\uff12x1_6"], "size must look like 64x64"),
        (["--seed", "\u0663"], "argument --seed: not a whole number written in digits 0-9"),
        (["--churn", "1"], "churn works with the heun and euler samplers only"),
        (["--schedule", "x" * 300], "none of these: a preset's name"),  # too long a name for a file: not a file
    ]
    for extra, message in cases:
        try:
            code = main(["generate", "--checkpoint", str(tmp_path / "ckpt"), "--out", str(tmp_path / "x.png"), *extra])
        except SystemExit as exc:  # the parser's own refusals
            code = exc.code
        assert code == 2 and message in capsys.readouterr().err, extra
    assert not (tmp_path / "x.png").exists()


def test_generate_a_wide_canvas_with_overlapping_windows(tmp_path):
    save_checkpoint(randomized("tiny-pg"), tmp_path / "ckpt")
    out = tmp_path / "wide.png"
    done = run("generate", "--checkpoint", str(tmp_path / "ckpt"), "--steps", "2", "--size", "64x16", "--canvas",
               "overlap", "--stride", "8", "--shift", "--coords", "extend", "--out", str(out), "--json", "--quiet")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["canvas"] == {"mode": "overlap", "stride": 8, "shift": True, "coords": "extend"}
    assert Image.open(out).size == (64, 16)
    wall = run("generate", "--checkpoint", str(tmp_path / "ckpt"), "--steps", "1", "--size", "48x32",
               "--out", str(tmp_path / "wall.png"), "--json", "--quiet")
    assert wall.returncode == 0, wall.stderr
    assert json.loads(wall.stdout)["canvas"] == {"mode": "tiles", "stride": 0, "shift": False, "coords": "repeat"}
    bad = run("generate", "--checkpoint", str(tmp_path / "ckpt"), "--size", "64x16", "--canvas", "overlap",
              "--stride", "6", "--out", str(tmp_path / "x.png"))
    assert bad.returncode == 2 and "multiple of 4" in bad.stderr


def test_info_lists_bricks_parameters_and_flops():
    done = run("info", "--arch", "emoji-s", "--size", "128x64")
    assert done.returncode == 0, done.stderr
    assert "B2 global r64/p4" in done.stdout and "parameters: 5,938,572" in done.stdout
    assert "at 128x64" in done.stdout


def test_a_png_carries_its_settings_and_makes_the_same_picture_again(tmp_path):
    save_checkpoint(randomized("tiny-pg"), tmp_path / "ckpt")
    ckpt, first, again, other = str(tmp_path / "ckpt"), tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"
    done = run("generate", "--checkpoint", ckpt, "--class", "1", "--seed", "5", "--steps", "3", "--sampler", "heun",
               "--schedule", "pg-recipe", "--size", "32x16", "--out", str(first), "--json", "--quiet")
    assert done.returncode == 0, done.stderr
    carried = Image.open(first).text["lego-playground"]
    assert carried == json.loads(done.stdout)["settings"]
    assert "seed=5" in carried and "size=32x16" in carried and "schedule=0-1;0-1;0-0.6" in carried
    done = run("generate", "--checkpoint", ckpt, "--settings", str(first), "--out", str(again), "--quiet")
    assert done.returncode == 0, done.stderr
    assert np.array_equal(np.asarray(Image.open(first)), np.asarray(Image.open(again)))
    # an option given beside the settings replaces theirs; the settings text works as well as the file
    done = run("generate", "--checkpoint", ckpt, "--settings", carried, "--seed", "6", "--out", str(other), "--quiet")
    assert done.returncode == 0 and "seed=6" in Image.open(other).text["lego-playground"]
    assert not np.array_equal(np.asarray(Image.open(first)), np.asarray(Image.open(other)))
    # the app's link, and a PNG in a folder whose name has "=", are read as what they are
    odd = tmp_path / "a=b"
    odd.mkdir()
    (odd / "a.png").write_bytes(first.read_bytes())
    for source in (f"http://127.0.0.1:7860/?{carried}", str(odd / "a.png")):
        done = run("generate", "--checkpoint", ckpt, "--settings", source, "--out", str(again), "--quiet")
        assert done.returncode == 0 and Image.open(again).text["lego-playground"] == carried, done.stderr
    # other weights draw another picture: said, not refused
    save_checkpoint(randomized("tiny-pg", seed=1), tmp_path / "other")
    done = run("generate", "--checkpoint", str(tmp_path / "other"), "--settings", str(first), "--out", str(again))
    assert done.returncode == 0 and f"{tmp_path / 'other'} (" in done.stderr and "draws another picture" in done.stderr
    wide = carried.replace("canvas=tiles", "canvas=overlap").replace("shift=0", "shift=1")
    done = run("generate", "--checkpoint", ckpt, "--settings", wide, "--no-shift", "--out", str(again), "--quiet")
    assert done.returncode == 0 and "shift=0" in Image.open(again).text["lego-playground"], done.stderr
    for bad, message in [(str(tmp_path / "missing.png"), "is not a PNG that can be read"),
                         (ckpt + "/config.json", "is not a PNG"), ("seed=5&stepz=3", "unknown setting 'stepz'")]:
        done = run("generate", "--checkpoint", ckpt, "--settings", bad, "--out", str(tmp_path / "x.png"))
        assert done.returncode == 2 and message in done.stderr, (bad, done.stderr)
    assert not (tmp_path / "x.png").exists()


def test_a_png_is_made_again_on_the_checkpoint_it_names_and_bad_options_are_refused_before_sampling(tmp_path):
    import os

    save_checkpoint(randomized("tiny-pg", seed=2), tmp_path / "mine")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def here(*args):  # run from a folder of the user's own, as the PNG names its checkpoint relative to it
        return subprocess.run([sys.executable, "-m", "lego", *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120)

    done = here("generate", "--checkpoint", "mine", "--steps", "2", "--out", "a.png", "--quiet")
    assert done.returncode == 0, done.stderr
    assert Image.open(tmp_path / "a.png").text["lego-playground-model"].startswith("mine (weights ")
    done = here("generate", "--settings", "a.png", "--out", "b.png", "--quiet")  # no --checkpoint: the PNG's
    assert done.returncode == 0 and "note: using mine, which made a.png" in done.stderr, done.stderr
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a.png")), np.asarray(Image.open(tmp_path / "b.png")))
    # made elsewhere with a checkpoint that is not here: the default model draws, and the note says why
    away = tmp_path / "away"
    away.mkdir()
    (away / "a.png").write_bytes((tmp_path / "a.png").read_bytes())
    done = subprocess.run([sys.executable, "-m", "lego", "generate", "--settings", "a.png", "--steps", "1", "--size",
                           "64x64", "--out", "b.png", "--quiet"], cwd=away, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and "was made with mine (weights " in done.stderr, done.stderr
    assert ", which is not on this machine; " in done.stderr and "lego-emoji-s-48" in done.stderr
    # a bundled checkpoint, named relative to the project as the app names it, is found from any folder
    run("generate", "--checkpoint", "checkpoints/lego-emoji-s", "--steps", "1", "--out", str(away / "c.png"),
        "--quiet")
    done = subprocess.run([sys.executable, "-m", "lego", "generate", "--settings", "c.png", "--out", "d.png",
                           "--quiet"], cwd=away, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and f"note: using {ROOT / 'checkpoints' / 'lego-emoji-s'}, which made" in done.stderr
    assert np.array_equal(np.asarray(Image.open(away / "c.png")), np.asarray(Image.open(away / "d.png")))
    for extra, message in [(["--out", "c.jpg"], "--out must name a .png file"),
                           (["--out", "."], "--out must name a .png file"),
                           (["--device", "foo"], "unknown --device 'foo'")]:
        done = here("generate", "--checkpoint", "mine", "--steps", "2", *extra)
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_a_category_of_a_model_labelled_by_emoji_draws_one_emoji_per_picture_and_says_which(tmp_path):
    from test_labels import SPACE

    from lego.config import ARCHITECTURES

    save_checkpoint(randomized(ARCHITECTURES["tiny-pg"].with_labels(SPACE)), tmp_path / "ckpt")
    args = ("generate", "--checkpoint", str(tmp_path / "ckpt"), "--class", "Animals", "--seed", "7", "--images", "4",
            "--steps", "2", "--out", str(tmp_path / "a.png"))
    report = json.loads(run(*args, "--json", "--quiet").stdout)
    assert report["class"] == "Animals" and report["drawn"] == [SPACE.names[SPACE.draw(0, s)] for s in range(7, 11)]
    text = run(*args).stdout
    assert f"drew {'; '.join(report['drawn'])}: one emoji of Animals per picture, picked by its seed" in text
