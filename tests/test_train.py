import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from lego.checkpoint import CheckpointError, load_checkpoint
from lego.train import (Trainer, TrainSettings, decay_factor, divergence_reason, draw_active, edm_losses, export,
                        hardware_summary, load_sharded, main, step_generator)

from conftest import free_port
from test_data import build_fixture

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "emoji.npz"
    build_fixture(out)
    return str(out)


def settings(data_file, **kw):
    return TrainSettings(**{"arch": "tiny-emoji", "data": data_file, "batch": 8, "precision": "fp32",
                            "warmup_images": 0, "lr": 1e-3, **kw})


def test_brick_dropout_never_switches_every_brick_off():
    seen = set()
    for step in range(2000):
        mask = draw_active(3, 0.5, step_generator(0, step, 0))
        assert any(mask)
        seen.add(tuple(mask))
    assert len(seen) == 7  # all-on and the six partial subsets
    assert all(draw_active(3, 0.0, step_generator(0, s, 0)) == [True] * 3 for s in range(50))


def fixed_loss(trainer):
    gen = torch.Generator().manual_seed(123)
    images = trainer.images[:16].float() / 127.5 - 1  # on the CPU here, as the trainer's device
    with torch.no_grad():
        losses = edm_losses(trainer.model, images, trainer.labels[:16], [True] * 3, trainer.settings, 0.5, gen)
    return float(torch.stack(losses).mean())


def test_training_reduces_the_loss(data_file, tmp_path):
    trainer = Trainer(settings(data_file, brick_dropout=0.0), tmp_path)
    before = fixed_loss(trainer)
    for _ in range(15):
        trainer.train_step()
    assert fixed_loss(trainer) < 0.9 * before


def test_skipped_bricks_get_no_loss_and_no_update(data_file, tmp_path):
    trainer = Trainer(settings(data_file), tmp_path)
    gen = torch.Generator().manual_seed(0)
    images = trainer.images[:4].float() / 127.5 - 1
    losses = edm_losses(trainer.model, images, trainer.labels[:4], [True, False, True], trainer.settings, 0.5, gen)
    assert losses[1] is None and losses[0] is not None and losses[2] is not None
    torch.stack([x for x in losses if x is not None]).mean().backward()
    assert all(p.grad is None for p in trainer.model.model[1].parameters())


@pytest.mark.parametrize("precision,exact", [("fp32", True), ("bf16", False)])
def test_resume_matches_an_uninterrupted_run(data_file, tmp_path, precision, exact):
    s = settings(data_file, state_precision=precision)
    straight = Trainer(s, tmp_path / "a")
    straight.fit(max_images=160, quiet=True)
    split = Trainer(s, tmp_path / "b")
    split.fit(max_images=80, quiet=True)
    resumed = Trainer.resume(tmp_path / "b")
    assert resumed.progress.images == 80
    resumed.fit(max_images=160, quiet=True)
    a, b = load_sharded(tmp_path / "a" / "state", "weights"), load_sharded(tmp_path / "b" / "state", "weights")
    for k in a:
        if exact:
            assert torch.equal(a[k], b[k]), k
        else:
            torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-3)
    info = json.loads((tmp_path / "b" / "state" / "trainer.json").read_text())
    assert info["images"] == 160 and len(info["segments"]) == 2
    assert len((tmp_path / "b" / "log.jsonl").read_text().splitlines()) >= 1


def test_emoji_s_state_is_a_few_small_files(data_file, tmp_path):
    trainer = Trainer(TrainSettings(arch="emoji-s", data=data_file, batch=2, precision="fp32"), tmp_path)
    trainer.train_step()
    state = trainer.save_state(1.0, 2)
    sizes = [f.stat().st_size for f in state.iterdir()]
    assert max(sizes) <= 15 * 2**20  # shards of at most 15 MiB, as lego.train says
    assert sum(sizes) < 60e6  # the README's "about 58 MB"


def test_model_card_states_hours_and_images_per_device():
    segments = [{"device": "CPU x2", "seconds": 5400, "images": 110},
                {"device": "H100", "seconds": 360, "images": 4000},
                {"device": "H100", "seconds": 360, "images": 3000}]
    assert hardware_summary(segments) == "1.50 h on CPU x2 (110 images), 0.20 h on H100 (7,000 images)"


def test_export_writes_a_loadable_checkpoint_with_credits(data_file, tmp_path):
    trainer = Trainer(settings(data_file), tmp_path / "run")
    trainer.fit(max_images=16, quiet=True)
    picture = tmp_path / "grid.png"
    Image.new("RGB", (8, 8), "white").save(picture)
    out = export(tmp_path / "run", tmp_path / "ckpt", samples=picture, samples_caption="One row per category")
    assert all(f.stat().st_mode & 0o777 == 0o644 for f in out.iterdir())  # readable by a web server or a Space
    assert (out / "samples.png").read_bytes() == picture.read_bytes()
    model = load_checkpoint(out)
    ema = trainer.ema.state_dict()
    assert all(torch.equal(model.state_dict()[k], v.half().float()) for k, v in ema.items())
    card = (out / "README.md").read_text()
    assert "16 training images seen" in card and "Apache-2.0" in card
    assert "Twitter" not in card.split("## Licences and credits")[1]  # the held-out style was not learnt from
    assert "9 categories, 6 sub-categories and 7 emoji" in card and "twemoji style is held out" in card
    assert "![One row per category](samples.png)" in card
    # a checkpoint already there (a bundled model) is kept, and the command says how to replace it
    before = {f.name: f.read_bytes() for f in out.iterdir()}
    with pytest.raises(CheckpointError, match="already holds a checkpoint: give another --out, or --replace"):
        export(tmp_path / "run", out, metrics={"markdown": "| judged | 1% |"})
    assert main(["export", "--run-dir", str(tmp_path / "run"), "--out", str(out)]) == 2
    assert {f.name: f.read_bytes() for f in out.iterdir()} == before
    assert main(["export", "--run-dir", str(tmp_path / "nothing"), "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()  # a run with no saved state: one line, nothing written
    # exported again into the same folder, the card is the new export's, not the one left there
    again = export(tmp_path / "run", out, metrics={"markdown": "| judged | 1% |"}, replace=True)
    card = (again / "README.md").read_text()
    assert "| judged | 1% |" in card and "samples.png" not in card


def test_command_line_with_two_processes_through_torchrun(data_file, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
         "-m", "lego.train", "run", "--run-dir", str(tmp_path / "ddp"), "--data", data_file, "--arch", "tiny-emoji",
         "--batch", "8", "--max-images", "32", "--precision", "fp32", "--quiet"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    info = json.loads((tmp_path / "ddp" / "state" / "trainer.json").read_text())
    assert info["images"] == 32 and info["step"] == 4


def test_a_stopped_segment_saves_its_progress(data_file, tmp_path):
    import signal
    import time

    run = tmp_path / "stopped"
    process = subprocess.Popen(
        [sys.executable, "-m", "lego.train", "run", "--run-dir", str(run), "--data", data_file, "--arch", "tiny-emoji",
         "--batch", "4", "--max-images", "1e9", "--save-minutes", "1000", "--precision", "fp32", "--quiet"],
        cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (run / "log.jsonl").exists() or not (run / "log.jsonl").read_text():
        assert time.time() < deadline and process.poll() is None
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    info = json.loads((run / "state" / "trainer.json").read_text())
    assert info["step"] >= 20  # the log is written every 20 steps; the state holds at least those
    assert process.returncode == 130 and "Traceback" not in err
    assert f"stopped (signal {signal.SIGTERM.value}): {info['images']:,} images are saved in" in err


def test_a_segment_on_a_new_machine_resumes_from_the_saved_state(data_file, tmp_path):
    def segment(run: Path, extra: str = "", code: int = 0) -> str:
        env = {**os.environ, "RUN": str(run), "DATA": data_file, "BATCH": "8", "COMPILE": "", "MINUTES": "5",
               "SAVE_TO": str(tmp_path / "saved"), "EXTRA": f"--arch tiny-emoji --images 16 --precision fp32 {extra}",
               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        done = subprocess.run(["bash", "scripts/train_segment.sh"], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == code, done.stderr
        return done.stdout + done.stderr

    saved = tmp_path / "saved" / "state" / "trainer.json"
    assert "resuming" not in segment(tmp_path / "first")
    assert json.loads(saved.read_text())["images"] == 16
    (tmp_path / "saved" / "state" / "stale-shard.safetensors").write_bytes(b"left by an older state")
    assert f"resuming from the state in {tmp_path / 'saved'}" in segment(tmp_path / "second")  # RUN has no state
    info = json.loads(saved.read_text())
    assert (info["images"], len(info["segments"])) == (32, 2)
    assert not (saved.parent / "stale-shard.safetensors").exists()  # the saved state is replaced whole
    assert (tmp_path / "saved" / "log.jsonl").is_file()
    # a segment that diverges (Adam at lr 1e30: the loss overflows) keeps and passes on the state from before
    assert "the run diverged" in segment(tmp_path / "second", "--lr 1e30", code=3)
    assert json.loads(saved.read_text())["images"] == 32


def test_fine_tuning_on_collages_starts_from_a_checkpoint(data_file, tmp_path):
    base = Trainer(settings(data_file), tmp_path / "base")
    base.fit(max_images=16, quiet=True)
    checkpoint = export(tmp_path / "base", tmp_path / "base-ckpt", dtype="float32")
    tuned = Trainer(settings(data_file, init=str(checkpoint), collage=1.0, collage_cell_min=32, collage_cell_max=40),
                    tmp_path / "tuned")
    start = load_checkpoint(checkpoint).state_dict()
    assert all(torch.equal(tuned.model.state_dict()[k], v) for k, v in start.items())
    tuned.fit(max_images=16, quiet=True)
    moved = [k for k, v in start.items() if not torch.equal(tuned.model.state_dict()[k], v)]
    assert moved  # it trained, from the checkpoint (brick dropout may have left some bricks as they were)
    card = (export(tmp_path / "tuned", tmp_path / "tuned-ckpt") / "README.md").read_text()
    assert "Fine-tuned from" in card and "collages" in card and "32-40 px apart" in card
    resumed = Trainer.resume(tmp_path / "tuned")  # resuming does not start over from the checkpoint
    assert all(torch.equal(resumed.model.state_dict()[k], v) for k, v in tuned.model.state_dict().items())
    with pytest.raises(ValueError, match="configuration differs"):
        Trainer(settings(data_file, arch="compare-dit", init=str(checkpoint)), tmp_path / "other")


def test_settings_that_cannot_train_are_refused_with_a_message(data_file, tmp_path, capsys):
    common = ["run", "--data", data_file, "--arch", "tiny-emoji", "--batch", "8", "--max-images", "8", "--quiet"]
    run = tmp_path / "walls"
    assert main([*common, "--run-dir", str(run), "--collage", "1", "--collage-cell-min", "40",
                 "--collage-cell-max", "20"]) == 2
    assert "collage cells" in capsys.readouterr().err and not (run / "state").exists()
    assert main([*common, "--run-dir", str(run)]) == 0  # a run that can train
    assert main([*common, "--run-dir", str(run), "--arch", "compare-dit"]) == 2
    assert "trains tiny-emoji, not compare-dit" in capsys.readouterr().err


def test_a_category_checkpoint_is_extended_to_the_finer_labels_without_changing_its_pictures(data_file, tmp_path):
    from lego.checkpoint import save_checkpoint
    from lego.config import ARCHITECTURES
    from lego.sampler import SamplerSettings, sample

    from conftest import randomized

    base = randomized("tiny-emoji")  # the categories only, like the first bundled model
    assert base.config.label_space().depth == 1
    save_checkpoint(base, tmp_path / "base")
    tuned = Trainer(settings(data_file, init=str(tmp_path / "base")), tmp_path / "run")
    space = tuned.model.config.label_space()
    assert space.sizes == (9, 6, 7) and tuned.model.config == ARCHITECTURES["tiny-emoji"].with_labels(space)
    table = tuned.model.y_embedder.embedding_table.weight
    assert torch.equal(table[:, :9], base.y_embedder.embedding_table.weight) and not table[:, 9:].any()
    quick = SamplerSettings(steps=3, method="euler", guidance=2.0)
    for category in (0, 2, None):
        before = sample(base, [5], [category], quick).images
        after = sample(tuned.ema, [5], [category], quick).images
        assert torch.equal(before, after)
    cat = space.names.index("cat face")  # a finer label runs, and starts out adding nothing
    assert torch.equal(sample(tuned.ema, [5], [(2, cat)], quick).images, sample(base, [5], [2], quick).images)


def test_new_labels_learn_at_their_own_rate_and_a_run_resumes_with_it(data_file, tmp_path):
    """The label embedder's steps are label_lr_scale times the others' (an Adam step moves a weight by at most
    about its learning rate), a frozen timestep embedder stays put, and a run saved with one grouping resumes
    under another."""
    trainer = Trainer(settings(data_file, lr=1e-3, warmup_images=0, label_lr_scale=10.0, time_lr_scale=0.0,
                               brick_dropout=0.0, state_precision="fp32"),
                      tmp_path / "run")
    table = trainer.model.y_embedder.embedding_table.weight
    for _ in range(2):  # adaLN-Zero: the labels get a gradient once the zeroed layers before them have moved
        trainer.train_step()
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train_step()
    moved = {n: (p.detach() - before[n]).abs().max().item() for n, p in trainer.model.named_parameters()}
    assert 3e-3 < moved["y_embedder.embedding_table.weight"] <= 1.01e-2  # up to 10 x 1e-3
    assert max(v for n, v in moved.items() if n.startswith("model.")) <= 1.01e-3
    assert max(v for n, v in moved.items() if n.startswith("model.")) > 1e-4
    assert max(v for n, v in moved.items() if n.startswith("t_embedder.")) == 0.0
    assert sorted(g["lr"] for g in trainer.optimizer.param_groups) == [1e-3, 1e-2] and table.grad is not None
    frozen = [p for n, p in trainer.model.named_parameters() if n.startswith("t_embedder.")]
    assert all(p.grad is None and p not in trainer.optimizer.state for p in frozen)  # no gradient, no moments
    trained = [p.grad for p in trainer.model.parameters() if p.grad is not None]
    assert trainer.grad_norm == pytest.approx(torch.linalg.vector_norm(torch.stack(
        [torch.linalg.vector_norm(g) for g in trained])).item(), rel=1e-5)  # the frozen part has no say in it
    trainer.save_state(0.0, 0)
    card = (export(tmp_path / "run", tmp_path / "ckpt") / "README.md").read_text()
    assert "the label embedder learnt at 10 times the rate; the timestep embedder was frozen." in card
    again = Trainer.resume(tmp_path / "run", {"label_lr_scale": 1.0, "time_lr_scale": 1.0})
    assert [g["lr_scale"] for g in again.optimizer.param_groups] == [1.0]
    resumed = again.model.y_embedder.embedding_table.weight
    assert torch.equal(resumed, table)
    assert torch.equal(again.optimizer.state[resumed]["exp_avg"], trainer.optimizer.state[table]["exp_avg"])
    again.train_step()  # the embedder learns again, and a later segment may freeze it once more
    again.save_state(0.0, 0)
    refrozen = Trainer.resume(tmp_path / "run", {"time_lr_scale": 0.0})
    assert not any(p.requires_grad for p in refrozen.model.t_embedder.parameters())
    assert len(refrozen.optimizer.state) == sum(p.requires_grad for p in refrozen.model.parameters())


def test_a_resumed_run_continues_and_a_run_that_would_train_nothing_changes_nothing(data_file, tmp_path, capsys):
    common = ["run", "--data", data_file, "--arch", "tiny-emoji", "--batch", "8", "--quiet", "--run-dir",
              str(tmp_path / "run")]
    assert main([*common, "--max-images", "16"]) == 0
    state = tmp_path / "run" / "state" / "trainer.json"
    assert json.loads(state.read_text())["images"] == 16
    said = capsys.readouterr().err  # what was done, where it is, and what to do with it
    assert said.startswith("trained 16 images in ") and "the run has seen 16, saved in" in said
    assert f"python -m lego.train export --run-dir {tmp_path / 'run'} --out checkpoints/NAME" in said
    # two steps, fewer than a log line's 20: the segment's last step is logged all the same
    assert [json.loads(line)["images"] for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()] == [16]
    assert main([*common, "--images", "16"]) == 0  # counted from where the run stands
    assert json.loads(state.read_text())["images"] == 32
    before = {p.name: p.read_bytes() for p in state.parent.iterdir()}
    assert main([*common, "--max-images", "32"]) == 2  # already there: nothing to train
    assert "nothing to train: the run has seen 32 images" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in state.parent.iterdir()} == before


def test_a_cool_down_brings_the_rate_to_zero_and_ends_the_run_there(data_file, tmp_path, capsys):
    common = ["run", "--data", data_file, "--arch", "tiny-emoji", "--batch", "8", "--lr", "1e-3", "--warmup-images",
              "0", "--quiet", "--run-dir", str(tmp_path / "run"), "--decay-start", "16", "--decay-images", "32"]
    assert main([*common, "--max-images", "1000"]) == 0  # ends where the rate reaches zero, not at 1,000
    state = json.loads((tmp_path / "run" / "state" / "trainer.json").read_text())
    assert state["images"] == 48
    s = TrainSettings(**state["settings"])
    assert [decay_factor(s, n) for n in (0, 8, 16, 24, 40, 48, 60)] == [1, 1, 1, 0.75, 0.25, 0, 0]
    trainer = Trainer(s, tmp_path / "steps")
    rates = []
    for _ in range(6):
        trainer.train_step()
        rates.append(trainer.lr)
    assert rates == pytest.approx([1e-3, 1e-3, 1e-3, 7.5e-4, 5e-4, 2.5e-4])
    assert main(["run", "--run-dir", str(tmp_path / "run"), "--images", "8"]) == 2
    assert "rate fell to zero at 48 images" in capsys.readouterr().err
    card = (export(tmp_path / "run", tmp_path / "ckpt") / "README.md").read_text()
    assert "fell linearly to zero from 16 images to 48" in card
    later = ["run", "--data", data_file, "--arch", "tiny-emoji", "--batch", "8", "--quiet", "--run-dir",
             str(tmp_path / "later")]
    assert main([*later, "--max-images", "16"]) == 0
    assert main([*later, "--decay-images", "16"]) == 0  # given alone, the cool-down starts where the run stands
    assert "falls to zero from 16 images (where the run stands) to 32" in capsys.readouterr().err
    state = json.loads((tmp_path / "later" / "state" / "trainer.json").read_text())
    assert (state["images"], state["settings"]["decay_start"]) == (32, 16)


def test_a_fine_tune_keeps_its_checkpoints_default_and_featured_classes(data_file, tmp_path):
    from lego.checkpoint import save_checkpoint

    save_checkpoint(Trainer(settings(data_file), tmp_path / "base").model, tmp_path / "ckpt")
    config = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    chosen = {"default_class": "cat face", "featured_classes": ["red apple", "cat face"]}
    (tmp_path / "ckpt" / "config.json").write_text(json.dumps({**config, **chosen}))

    def kept(config) -> dict:
        return {"default_class": config.default_class, "featured_classes": list(config.featured_classes)}

    tuned = Trainer(settings(data_file, init=str(tmp_path / "ckpt")), tmp_path / "run")
    assert kept(tuned.model.config) == chosen  # the checkpoint's configuration is not "different"
    tuned.fit(max_images=8, quiet=True)
    assert kept(Trainer.resume(tmp_path / "run").model.config) == chosen
    assert kept(load_checkpoint(export(tmp_path / "run", tmp_path / "out")).config) == chosen


def test_a_fine_tune_exported_over_its_start_keeps_the_earlier_training_on_the_card(data_file, tmp_path):
    Trainer(settings(data_file), tmp_path / "base").fit(max_images=16, quiet=True)
    ckpt = export(tmp_path / "base", tmp_path / "ckpt")
    Trainer(settings(data_file, init=str(ckpt), decay_start=0, decay_images=8), tmp_path / "cool").fit(
        max_images=8, quiet=True)
    card = (export(tmp_path / "cool", ckpt, replace=True) / "README.md").read_text()
    assert "- 8 training images seen" in card and "fell linearly to zero from 0 images to 8" in card
    assert "- Fine-tuned from the weights this checkpoint held before, trained as follows:\n  - 16 training images " \
           "seen" in card and "see its model card" not in card
    elsewhere = (export(tmp_path / "cool", tmp_path / "other") / "README.md").read_text()
    assert f"- Fine-tuned from `{ckpt}` (see its model card" in elsewhere


def test_the_time_limit_is_kept_within_one_step(data_file, tmp_path):
    import time

    trainer = Trainer(settings(data_file), tmp_path / "timed")
    start = time.perf_counter()
    trainer.fit(max_images=float("inf"), max_minutes=0.02, quiet=True)  # 1.2 s
    assert time.perf_counter() - start < 1.2 + 5  # at most one step past, plus saving the state
    assert trainer.progress.images > 0


@pytest.mark.parametrize("left", ["state.tmp", "state.old"])
def test_a_save_cut_short_between_its_renames_resumes_from_the_state_it_left(data_file, tmp_path, capsys, left):
    common = ["run", "--data", data_file, "--arch", "tiny-emoji", "--batch", "8", "--quiet", "--run-dir",
              str(tmp_path / "run"), "--ema-halflife-images", "2.5e5"]  # a float option takes a float
    assert main([*common, "--max-images", "16"]) == 0
    (tmp_path / "run" / "state").rename(tmp_path / "run" / left)  # the moment after "state" was moved away
    assert main([*common, "--images", "8"]) == 0
    assert f"resuming from {tmp_path / 'run' / left}" in capsys.readouterr().err
    info = json.loads((tmp_path / "run" / "state" / "trainer.json").read_text())
    assert info["images"] == 24 and info["settings"]["ema_halflife_images"] == 2.5e5  # 16 resumed, not a fresh run
    assert not (tmp_path / "run" / left).exists()


def test_the_ema_follows_the_weights_at_its_half_life_in_images(data_file, tmp_path):
    trainer = Trainer(settings(data_file, ema_halflife_images=64.0, ema_rampup=0.5), tmp_path / "ema")
    trainer.progress.images = 64  # ramp-up caps the half-life at half the images seen: 32 images
    ema = [e.detach().clone() for e in trainer.ema.parameters()]
    with torch.no_grad():
        for p in trainer.model.parameters():
            p.add_(1.0)  # the weights move; the EMA follows a share of the way
    weights = [p.detach().clone() for p in trainer.model.parameters()]
    trainer.update_ema()
    share = 1 - 0.5 ** (8 / 32)  # one batch of 8 images against a half-life of 32
    for e, before, w in zip(trainer.ema.parameters(), ema, weights):
        torch.testing.assert_close(e, before + share * (w - before))
    trainer.progress.images = 10**6  # past the ramp-up: the configured half-life of 64 images
    before = [e.detach().clone() for e in trainer.ema.parameters()]
    trainer.update_ema()
    first = next(trainer.ema.parameters())
    torch.testing.assert_close(first, before[0] + (1 - 0.5 ** (8 / 64)) * (weights[0] - before[0]))


def test_divergence_reasons_on_known_losses():
    best = [0.2, 0.1, math.inf]  # the third brick has no settled best yet
    assert divergence_reason([0.3, None, 5.0], [0.5, 0.25, 9.0], best, 3.0) is None  # within 3x, or not judged
    assert divergence_reason([0.3, None, None], [0.61, None, None], best, 3.0) == \
        "brick 1's smoothed loss rose from 0.2, its best, to 0.61"
    assert divergence_reason([None, float("nan"), None], [0.2, 0.1, None], best, 3.0) == "brick 2's loss is nan"
    assert "brick 2" in divergence_reason([None, None, None], [0.2, float("nan"), None], best, 3.0)


def test_a_diverging_run_stops_keeps_its_good_state_and_goes_on_from_its_average(data_file, tmp_path, capsys):
    run = tmp_path / "run"
    common = ["run", "--data", data_file, "--arch", "tiny-emoji", "--batch", "8", "--quiet", "--run-dir", str(run),
              "--precision", "fp32", "--lr", "1e-3"]
    assert main([*common, "--max-images", "1600"]) == 0  # 200 steps: every brick's best loss is known
    state = run / "state"
    saved = json.loads((state / "trainer.json").read_text())
    assert saved["images"] == 1600 and all(b is not None for b in saved["best_loss"])
    before = {p.name: p.read_bytes() for p in state.iterdir()}
    assert main([*common, "--lr", "30", "--images", "8000"]) == 3  # Adam at lr 30 blows the weights up
    err = capsys.readouterr().err
    assert "the run diverged: brick" in err and f"the state in {state} is from 1,600 images" in err
    assert {p.name: p.read_bytes() for p in state.iterdir()} == before  # nothing of the bad steps was saved

    trainer = Trainer.resume(run)
    trainer.restart_from_ema(1e-3)
    assert all(torch.equal(p, e) for p, e in zip(trainer.model.parameters(), trainer.ema.parameters()))
    assert not trainer.optimizer.state  # Adam's moments start afresh
    assert main([*common, "--from-ema", "--lr", "3e-4", "--warmup-images", "800", "--images", "800",
                 "--time-lr-scale", "0"]) == 0
    info = json.loads((state / "trainer.json").read_text())
    assert info["restarts"] == [{"images": 1600, "lr_before": 1e-3, "lr": 3e-4, "grad_clip": 0.0, "time_lr_scale": 0.0}]
    logged = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    first = next(line for line in logged if line["images"] > 1600)  # logged every 20 steps, 160 images
    assert first["lr"] == pytest.approx(3e-4 * 160 / 800) and first["grad_norm"] > 0  # warming up again
    after = [line for line in logged if line["images"] > 1600]
    assert len({line["t_norm"] for line in after}) == 1 and after[0]["t_norm"] > 0  # the timestep embedder frozen
    assert len({line["t_norm"] for line in logged if line["images"] <= 1600}) > 1  # and learning before
    card = (export(run, tmp_path / "ckpt") / "README.md").read_text()
    assert "AdamW lr 0.001," in card and "At 1,600 images its raw weights had diverged" in card
    assert "at lr 0.0003, the timestep embedder frozen." in card  # how the restart differed
    assert "timestep embedder was frozen (the last segment's settings)" in card and "the last segment's command" in card


def test_train_help_explains_every_setting_and_argparse_refuses_an_unknown_choice(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    for name, f in TrainSettings.__dataclass_fields__.items():
        assert f.metadata["help"] and "--" + name.replace("_", "-") in shown and f.metadata["help"] in shown, name
    assert "(new runs: 0.0002)" in shown and "--arch {emoji-s," in shown
    for option in ("--arch", "--precision", "--state-precision"):
        with pytest.raises(SystemExit) as refused:  # before any data is read or any file written
            main(["run", "--run-dir", str(tmp_path / "run"), option, "nonsense"])
        assert refused.value.code == 2 and f"argument {option}: invalid choice: 'nonsense'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
