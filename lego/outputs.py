"""Files the app hands to users: pictures written once and atomically, each carrying its settings, and each
run's JSON report."""

from __future__ import annotations

import atexit
import itertools
import json
import os
import shutil
import tempfile
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

from .request import Request
from .runs import RunRecord
from .serving import Served
from .settings_text import png_info, to_text


class OutputFolder:
    """Where the app writes downloadable files: one temporary root, oldest runs pruned, removed at exit."""

    def __init__(self, keep: int = 50) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="lego_playground_"))
        self.keep = keep
        self._count = 0
        self._made: deque[Path] = deque()  # oldest first (by name, run1000000 would sort before run999999)
        self._lock = threading.Lock()
        atexit.register(shutil.rmtree, self.root, ignore_errors=True)

    def new_run(self) -> Path:
        with self._lock:
            self._count += 1
            path = self.root / f"run{self._count:06d}"
            path.mkdir()
            self._made.append(path)
            while len(self._made) > self.keep:
                shutil.rmtree(self._made.popleft(), ignore_errors=True)
        return path

    @staticmethod
    def pictures(folder: Path, images: Iterable[np.ndarray], names: Iterable[str],
                 carried: Iterable[PngImagePlugin.PngInfo | None] | None = None) -> list[str]:
        """PNG files, each written once under a temporary name and renamed into place, with the text chunks
        in ``carried`` (one per picture: its settings, see lego.settings_text).

        The app shows these files rather than handing Gradio pictures: Gradio caches a picture by
        its content and writes it again whenever it is shown again (a class running the same lesson
        shows the same pictures), which can truncate a copy that another browser is still fetching;
        a file is copied into its cache once."""
        paths = []
        for image, name, info in zip(images, names, carried or itertools.repeat(None)):
            path = folder / f"{name}.png"
            staging = folder / f".{name}.png.partial"
            Image.fromarray(image).save(staging, format="PNG", pnginfo=info)
            os.replace(staging, path)
            paths.append(str(path))
        return paths

    def write(self, record: RunRecord, served: Served, folder: Path | None = None, replayed: bool = False) -> list[str]:
        """The run's PNGs and its JSON report, which names the model and its weights' fingerprint, and says whether
        the run was replayed from the cache (its seconds are then those of the run it replays)."""
        folder = folder or self.new_run()
        request, config = record.request, served.config
        carried = [self.settings(served, replace(request, seed=seed)) for seed in request.seeds]  # each on its own
        paths = self.pictures(folder, record.images, [f"lego_seed{seed}" for seed in request.seeds], carried)
        report = self.report(folder / f"lego_seed{request.seed}_report.json", served, request,
                             {"replayed": replayed, **record.report(config)})
        return paths + [report]

    def carrying(self, folder: Path, records: dict[str, RunRecord], served: Served) -> list[str]:
        """Each record's first picture at its own size, named ``lego_seed{seed}_{label}.png`` and carrying its
        settings, so that any of them can be made again (Compare's runs)."""
        carried = [self.settings(served, r.request) for r in records.values()]
        names = [f"lego_seed{r.request.seed}_{label.replace(', ', '_').replace(' ', '_')}"
                 for label, r in records.items()]
        return self.pictures(folder, [r.images[0] for r in records.values()], names, carried)

    @staticmethod
    def settings(served: Served, request: Request) -> PngImagePlugin.PngInfo:
        """The text chunks of the picture of ``request``'s first seed: its settings and the model that drew it."""
        return png_info(to_text(served.config, replace(request, images=1)), served.shown, served.fingerprint)

    @staticmethod
    def report(path: Path, served: Served, request: Request, content: dict) -> str:
        """A JSON report that names the model, its weights' fingerprint and the request's settings (as a link's
        query), before ``content``."""
        path.write_text(json.dumps({"model": {"checkpoint": served.shown, "fingerprint": served.fingerprint},
                                    "settings": to_text(served.config, request), **content}, indent=2))
        return str(path)
