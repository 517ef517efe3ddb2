"""What changed in the run list since this page last looked: a run that ended says so in a toast,
so nobody has to watch the table for it. Pure: rows in, messages out; no Gradio."""

from __future__ import annotations

import textwrap

ENDED = {"done": "finished", "failed": "failed", "stopped": "stopped", "cancelled": "was cancelled"}


def run_endings(seen: dict[str, str] | None, rows: list[dict]) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """([(the state it ended in, a message)] per run that ended since `seen` was taken, the states now).
    The first look says nothing: the runs that had ended before the page opened are old news."""
    now = {r["id"]: r.get("state") or "" for r in rows}
    if seen is None:
        return [], now
    messages = []
    for r in rows:
        state, before = now[r["id"]], seen.get(r["id"])
        if state in ENDED and before is not None and before not in ENDED:
            text = f"{r.get('name') or r['id']} {ENDED[state]}"
            if state == "done" and r.get("test_accuracy") is not None:
                text += f": test accuracy {r['test_accuracy']:.4f}"
            elif state == "failed" and r.get("error"):
                text += f": {textwrap.shorten(str(r['error']).splitlines()[0], 400, placeholder=' …')}"
            messages.append((state, text))
    return messages, now


def own_runs(rows: list[dict], visitor: str | None, demo: bool) -> list[dict]:
    """The runs whose endings this page announces: in the public demo, where every visitor sees every
    run, only the visitor's own (a stranger's run ending is noise to them); elsewhere all."""
    return [r for r in rows if r.get("owner") == visitor] if demo else rows
