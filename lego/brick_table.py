"""Each brick described for people: its region, patch, tokens, depth, size, cost and role."""

from __future__ import annotations

from .config import LegoConfig
from .flops import brick_flops
from .model import parameter_counts

BRICK_ROLES = {
    "local": "local-feature enrichment: sharpens detail inside {r}x{r} pixel regions",
    "global": "global-content orchestration: sees the whole {r}x{r} image and sets the layout",
}
# the same in a few plain words, for a first look: what a brick looks at, and what it does to the picture
BRICK_SEES = {"local": "{r}x{r}-pixel regions, {p}x{p} patches", "global": "the whole {r}x{r} image, {p}x{p} patches"}
BRICK_DOES = {"local": "sharpens detail", "global": "sets the layout"}


def brick_table(config: LegoConfig) -> list[dict]:
    params, _ = parameter_counts(config)
    rows = []
    for i, b in enumerate(config.bricks):
        kind = "global" if config.is_global(i) else "local"
        rows.append({"brick": config.brick_name(i), "region": b.region, "patch": b.patch,
                     "tokens": (config.image_size // b.patch) ** 2, "depth": b.depth,
                     "parameters": params[i],
                     "flops_per_evaluation": brick_flops(config, i, config.image_size, config.image_size),
                     "role": BRICK_ROLES[kind].format(r=b.region),
                     "sees": BRICK_SEES[kind].format(r=b.region, p=b.patch), "does": BRICK_DOES[kind]})
    return rows
