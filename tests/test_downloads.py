"""Files written for download: fresh per request, cleared once two hours old."""

from __future__ import annotations

import os
import time

from sentiment_lab.ui import downloads


def test_downloads_are_fresh_per_request_and_cleared_when_old(tmp_path, monkeypatch):
    monkeypatch.setattr(downloads.tempfile, "gettempdir", lambda: str(tmp_path))
    first, second = downloads.fresh("reviews", ".csv"), downloads.fresh("reviews", ".csv")
    assert first != second and first.parent == second.parent == tmp_path / "sentiment-lab-downloads"
    first.write_text("old")
    (old_run := downloads.fresh("run", "")).mkdir()
    (old_run / "x.zip").write_bytes(b"zip")
    second.write_text("new")
    two_hours_ago = time.time() - downloads.KEEP_S - 1
    for path in (first, old_run):
        os.utime(path, (two_hours_ago, two_hours_ago))
    downloads.folder()
    assert not first.exists() and not old_run.exists() and second.read_text() == "new"
