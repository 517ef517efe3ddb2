"""Word influence as HTML: one line per method, each word tinted by how far it pulls toward the
positive class (green) or away from it (red), on one scale for all methods so they read side by side."""

from __future__ import annotations

import html

from sentiment_lab.ui.forms import METHOD_LABELS

GREEN, RED = "84, 162, 75", "228, 87, 86"  # the P(positive) bar chart's colours
FLOOR = 1.0  # log-odds: the scale never stretches below this, so a review no word moves stays pale, not vivid noise


def _word(word: str, pull: float, without: float, whole: float, scale: float) -> str:
    alpha = min(1.0, abs(pull) / scale) * 0.85
    colour = GREEN if pull > 0 else RED
    tip = f"{word}: {pull:+.2f} log-odds; without it P {whole:.3f} → {without:.3f}"
    return (
        f'<span title="{html.escape(tip)}" style="background: rgba({colour}, {alpha:.2f}); '
        f'padding: 1px 3px; margin: 1px; border-radius: 3px; display: inline-block">{html.escape(word)}</span>'
    )


def influence_html(result: dict[str, dict]) -> str:
    """The whole panel: a line per method (or why it has no answer), then the legend."""
    pulls = [abs(d) for r in result.values() if "words" in r for _, d, _ in r["words"]]
    scale = max([FLOOR, *pulls])
    lines = []
    for method, r in result.items():
        name = f"<b>{METHOD_LABELS[method]}</b>"
        if "error" in r:
            lines.append(f'<div style="margin: 6px 0">{name}: <i>{html.escape(r["error"])}</i></div>')
            continue
        ranked = sorted(r["words"], key=lambda w: w[1])
        toward, away = ranked[-1], ranked[0]  # the same word when there is one: listed once, by its sign
        strongest = [
            f"{html.escape(w)} {d:+.1f}" for w, d, _ in [toward] * (toward[1] >= 0.05) + [away] * (away[1] <= -0.05)
        ]
        summary = f"P({html.escape(r['toward'])}) {r['probability']:.2f}" + (
            f"; strongest: {', '.join(strongest)}" if strongest else ""
        )
        words = "".join(_word(w, d, without, r["probability"], scale) for w, d, without in r["words"])
        lines.append(
            f'<div style="margin: 6px 0">{name} <span style="opacity: 0.75">({summary})</span><br>{words}</div>'
        )
    # Among classes none of which is positive, each method's line explains the class it answers, named beside it.
    answered = any(r.get("answered") for r in result.values())
    toward, away = ("it", "away from it") if answered else ("positive", "toward negative")
    legend = (
        f'<div style="opacity: 0.75; margin-top: 8px">Each word: how far the log-odds of the '
        f"{'class in brackets' if answered else 'positive class'} fall when it is left out "
        f'(<span style="background: rgba({GREEN}, 0.6); padding: 0 3px">pulls toward {toward}</span>, '
        f'<span style="background: rgba({RED}, 0.6); padding: 0 3px">{away}</span>; '
        f"full colour = {scale:.1f}; hover a word for its numbers).</div>"
    )
    return "".join(lines) + legend
