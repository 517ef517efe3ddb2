"""Files the app writes for a visitor to download (CSVs, run zips): one folder under the system's temp
folder, one fresh file per request (two visitors never read each other's), anything two hours old
cleared as new ones are made, so a long-lived Space's disk stays bounded. Gradio serves a copy from
its own cache, which it clears on the same schedule (app.py)."""

from __future__ import annotations

import secrets
import shutil
import tempfile
import time
from pathlib import Path

KEEP_S = 7200


def folder() -> Path:
    """The downloads folder, emptied of files older than KEEP_S."""
    out = Path(tempfile.gettempdir()) / "sentiment-lab-downloads"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():
        try:
            if old.stat().st_mtime < time.time() - KEEP_S:
                shutil.rmtree(old) if old.is_dir() else old.unlink()
        except OSError:  # another request cleared it first
            pass
    return out


def fresh(stem: str, suffix: str) -> Path:
    """A new, unused path `<stem>-<random><suffix>` in the downloads folder (a file, or a folder to make)."""
    return folder() / f"{stem}-{secrets.token_hex(4)}{suffix}"
