"""Paths as users type them: a settings text or a schedule may be given where a file's name could be, and a
string the file system cannot even look up (a name too long, say) is then simply not a file."""

from __future__ import annotations

from pathlib import Path


def is_file(text: str | Path) -> bool:
    try:
        return Path(text).is_file()
    except OSError:
        return False
