"""Timer-refreshed run pickers send a value only where it must change (a pick made while a refresh
was on its way would otherwise be undone)."""

from __future__ import annotations

import pytest

from sentiment_lab.ui.pickers import refreshed


def sent(update) -> dict:
    """What the update sets on the page (Gradio sends only what the constructor was given)."""
    return {k: v for k, v in update.constructor_args.items() if k in ("choices", "value")}


@pytest.mark.parametrize(
    "current, default, value",
    [
        ("b", "a", None),  # still there: the user's pick stands, whatever it is by now
        ("gone", "a", "a"),  # deleted: the default
        (None, "a", "a"),  # nothing shown yet: the default
        (None, None, None),  # no runs at all
        (["b", "c"], ["a"], None),  # multiselect, all there
        (["b", "gone"], ["a"], ["b"]),
        (["gone"], ["a"], ["a"]),  # nothing left: the default
        ([], ["a"], ["a"]),
        ([], [], None),  # nothing shown and no default: nothing to undo
        (["gone"], [], []),
    ],
)
def test_the_value_is_sent_only_when_it_must_change(current, default, value):
    update = sent(refreshed(["a", "b", "c"], current, default))
    assert update.get("choices") is not None
    assert ("value" in update) == (value is not None) and update.get("value") == value
