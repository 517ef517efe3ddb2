"""Run pickers that timers refresh: new choices, and a new value only where it must change.

A refresh carries the picker's value as it was when the tick was sent. Sending that value back would
undo a run the user picked while the tick was on its way (on a busy server, nearly every pick), so the
value goes out only when a shown run is gone or nothing is shown and there is a default to show.
"""

from __future__ import annotations

import gradio as gr


def refreshed(ids: list[str], current, default, names: dict[str, str] | None = None):
    """The update for a picker now offering `ids`, each shown by its name in `names`. `current` and
    `default`: a run id (or None), or lists of them for a multiselect picker."""
    many = isinstance(default, list)
    shown = list(current or []) if many else [current] if current else []
    choices = [((names or {}).get(i, i), i) for i in ids]
    if all(i in ids for i in shown) and (shown or not default):
        return gr.Dropdown(choices=choices)  # nothing gone and nothing to fill in: the user's pick stands
    value = ([i for i in shown if i in ids] or default) if many else default
    return gr.Dropdown(choices=choices, value=value)
