"""The judge against the eye, emoji by emoji: how often the judge names each emoji of a model labelled by emoji, and
a sheet of the pictures captioned with what the judge named them, to look at.

    python benchmarks/emoji_named.py [--checkpoint DIR] [--pictures 10]
        [--out assets/benchmarks/emoji_named_emoji48.json] [--sheet assets/emoji_named_emoji48.png]

Every emoji the judge knows is drawn from the same seeds (0, 1, ...) with the app's default sampler, guidance and
precision, every brick. With 10 pictures an emoji's rate is good to about 15 points. The judge picks among every
emoji it was trained on, so a rate says how often a picture has the cues of that emoji's drawings, which is not
always what a person would name it (README, "The judge, emoji by emoji").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lego import machine, results  # noqa: E402
from lego.checkpoint import DEFAULT_CHECKPOINT, fingerprint, load_checkpoint  # noqa: E402
from lego.images import captioned_grid, to_pil  # noqa: E402
from lego.judge import JUDGE_DIR, load_judge, predict  # noqa: E402
from lego.metrics import judge_view  # noqa: E402
from lego.request import DEFAULT_GUIDANCE, DEFAULT_METHOD, DEFAULT_STEPS  # noqa: E402
from lego.sampler import SamplerSettings, sample  # noqa: E402
from lego.serving import shown_source  # noqa: E402

SHEET_PICTURES, SHEET_GROUPS = 4, 3  # pictures of each emoji on the sheet, emoji side by side in a row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT),
                        help="the model to measure (labelled by emoji)")
    parser.add_argument("--judge", default=str(JUDGE_DIR), help="the emoji judge that names the pictures")
    parser.add_argument("--pictures", type=int, default=10, help="pictures per emoji")
    parser.add_argument("--precision", default="auto",
                        help="auto, fp32 or bf16 (auto: bf16 where this machine runs it fast)")
    parser.add_argument("--out", default="assets/benchmarks/emoji_named_emoji48.json",
                        help="the JSON the figures are written to")
    parser.add_argument("--sheet", default="assets/emoji_named_emoji48.png",
                        help="the captioned contact sheet PNG to write")
    args = parser.parse_args(argv)

    model, judge = load_checkpoint(args.checkpoint), load_judge(args.judge)
    space, known = model.config.label_space(), judge.space
    finest = {name: i for i, name in enumerate(known.names) if known.level_of(i) == known.depth - 1}
    emoji = [e for e in range(space.offset(space.depth - 1), space.num_classes) if space.names[e] in finest]
    if space.depth < 2 or not emoji:
        raise SystemExit("error: this model is not labelled by emoji the judge knows")
    settings = SamplerSettings(steps=DEFAULT_STEPS, method=DEFAULT_METHOD, guidance=DEFAULT_GUIDANCE)
    seeds = list(range(args.pictures))
    rows, cells, captions = [], [], []
    for e in emoji:
        images = sample(model, seeds, [e] * len(seeds), settings, precision=args.precision).images.clamp(-1, 1)
        answers = predict(judge, judge_view(images))[:, -1].tolist()
        named = sum(a == finest[space.names[e]] for a in answers) / len(answers)
        rows.append({"emoji": space.names[e], "class": space.describe(e), "named": round(named, 3),
                     "pictures": len(seeds), "answers": [known.names[a] for a in answers]})
        print({k: rows[-1][k] for k in ("emoji", "named")}, flush=True)
        pictures = to_pil(images[:SHEET_PICTURES])  # after a blank cell naming the emoji asked for, the judge's answers
        cells += [Image.new("RGB", pictures[0].size, "white"), *pictures]
        captions += [f"asked: {space.names[e]}", *(known.names[a] for a in answers[:SHEET_PICTURES])]
    results.write({"what": __doc__.splitlines()[0], "command": "python benchmarks/emoji_named.py " + " ".join(
        argv if argv is not None else sys.argv[1:]), "checkpoint": shown_source(args.checkpoint),
        "fingerprint": fingerprint(model),
        "method": DEFAULT_METHOD, "steps": DEFAULT_STEPS, "guidance": DEFAULT_GUIDANCE, "precision": args.precision,
        "machine": machine.describe(), "rows": rows}, args.out)
    Path(args.sheet).parent.mkdir(parents=True, exist_ok=True)
    captioned_grid(cells, captions, columns=(1 + SHEET_PICTURES) * SHEET_GROUPS).save(args.sheet)
    print(f"wrote {args.sheet}")


if __name__ == "__main__":
    main()
