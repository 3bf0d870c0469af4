"""Files the app hands to users: pictures written once and atomically, and each run's JSON report."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image

from .runs import RunRecord
from .serving import Served


class OutputFolder:
    """Where the app writes downloadable files: one temporary root, oldest runs pruned, removed at exit."""

    def __init__(self, keep: int = 50) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="lego_playground_"))
        self.keep = keep
        self._count = 0
        self._lock = threading.Lock()
        atexit.register(shutil.rmtree, self.root, ignore_errors=True)

    def new_run(self) -> Path:
        with self._lock:
            self._count += 1
            path = self.root / f"run{self._count:06d}"
            path.mkdir()
            runs = sorted(p for p in self.root.iterdir() if p.is_dir())
            for old in runs[:-self.keep]:
                shutil.rmtree(old, ignore_errors=True)
        return path

    @staticmethod
    def pictures(folder: Path, images: Iterable[np.ndarray], names: Iterable[str]) -> list[str]:
        """PNG files, each written once under a temporary name and renamed into place.

        The app shows these files rather than handing Gradio pictures: Gradio caches a picture by
        its content and writes it again whenever it is shown again (a class running the same lesson
        shows the same pictures), which can truncate a copy that another browser is still fetching;
        a file is copied into its cache once."""
        paths = []
        for image, name in zip(images, names):
            path = folder / f"{name}.png"
            staging = folder / f".{name}.png.partial"
            Image.fromarray(image).save(staging, format="PNG")
            os.replace(staging, path)
            paths.append(str(path))
        return paths

    def write(self, record: RunRecord, served: Served, folder: Path | None = None) -> list[str]:
        """The run's PNGs and its JSON report, which names the model and its weights' fingerprint."""
        folder = folder or self.new_run()
        paths = self.pictures(folder, record.images, [f"lego_seed{seed}" for seed in record.request.seeds])
        report = folder / f"lego_seed{record.request.seed}_report.json"
        content = {"model": {"checkpoint": served.shown, "fingerprint": served.fingerprint},
                   **record.report(served.config)}
        report.write_text(json.dumps(content, indent=2))
        return paths + [str(report)]
