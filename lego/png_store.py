"""Pictures written once each, named by their content: runs that share steps share the files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image


class PngStore:
    """PNG files under ``folder``, one per distinct picture; ``add`` returns the path a page links to."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.names: set[str] = set()

    def add(self, picture: np.ndarray) -> str:
        """The picture's file, relative to the site's root; written the first time this content is seen."""
        digest = hashlib.sha256(str(picture.shape).encode() + np.ascontiguousarray(picture).tobytes()).hexdigest()
        name = f"{digest[:20]}.png"
        if name not in self.names:
            path = self.folder / name
            Image.fromarray(picture).save(path, optimize=True)
            self.names.add(name)
        return f"{self.folder.name}/{name}"
