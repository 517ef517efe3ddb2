"""Plotly figures: training curves of several runs overlaid, and P(positive) (or every class's share) per method."""

from __future__ import annotations

import re
import textwrap

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from sentiment_lab.serving.predict import p_positive
from sentiment_lab.training.loop import checkpoint_rank
from sentiment_lab.ui.forms import METHOD_LABELS
from sentiment_lab.ui.names import method_styles

PALETTE = ("#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#FF9DA6", "#9D755D", "#BAB0AC", "#EECA3B")

PANELS = (("loss", "train loss"), ("eval_loss", "eval loss"), ("eval_accuracy", "eval accuracy"))


def smooth(values: list[float], weight: float) -> list[float]:
    """Exponential moving average (TensorBoard-style); weight 0 = raw."""
    out, last = [], None
    for v in values:
        last = v if last is None else weight * last + (1 - weight) * v
        out.append(last)
    return out


def kept_checkpoint(rows: list[dict]) -> dict | None:
    """The evaluation a run keeps (or would keep if it ended now), ranked as the training loop ranks them."""
    best, best_rank = None, None
    for r in rows:
        if r.get("eval_accuracy") is not None and r.get("eval_loss") is not None:
            rank = checkpoint_rank(r["eval_accuracy"], r["eval_loss"])
            if best_rank is None or rank > best_rank:
                best, best_rank = r, rank
    return best


def with_seconds(rows: list[dict]) -> list[dict]:
    """Rows with `seconds` since the run began. Runs from before the run clock have only wall times and
    their loop's `elapsed`: there the first logged row says when training began (its time less its elapsed)."""
    if not rows or all("seconds" in r for r in rows):
        return rows
    origin = next((r["time"] - r["elapsed"] for r in rows if r.get("time") and r.get("elapsed") is not None), None)
    if origin is None:
        return rows
    return [r if "seconds" in r or not r.get("time") else {**r, "seconds": round(r["time"] - origin, 2)} for r in rows]


X_TITLES = {"step": "step", "epoch": "epoch", "seconds": "seconds since the run began"}


def curves_figure(
    series: dict[str, list[dict]],
    x: str = "step",
    smoothing: float = 0.0,
    names: dict[str, str] | None = None,
    methods: dict[str, str | None] | None = None,
    empty: str = "Select one or more runs",
) -> go.Figure:
    """Train loss, eval loss and eval accuracy; each run in its method's colour (a dash per run within the
    method, given `methods`), named by `names`; x is the step, the epoch, or the seconds since each run began
    (which method gets there first). `empty`: what the chart says with no run to draw."""
    fig = make_subplots(rows=1, cols=3, subplot_titles=[title for _, title in PANELS], horizontal_spacing=0.07)
    styles = method_styles(methods) if methods else {}
    for i, (run_id, rows) in enumerate(series.items()):
        style = styles.get(run_id) or {"color": PALETTE[i % len(PALETTE)]}
        name = (names or {}).get(run_id, run_id)
        rows = with_seconds(rows) if x == "seconds" else rows
        for col, (key, title) in enumerate(PANELS, start=1):
            points = [(r.get(x), r[key]) for r in rows if r.get(key) is not None and r.get(x) is not None]
            if not points:
                continue
            xs, ys = zip(*points)
            ys = smooth(list(ys), smoothing) if key == "loss" else list(ys)
            fig.add_trace(
                go.Scatter(
                    x=list(xs),
                    y=ys,
                    mode="lines+markers" if key != "loss" or len(xs) < 20 else "lines",
                    name=name,
                    legendgroup=run_id,
                    showlegend=not any(
                        t.legendgroup == run_id for t in fig.data
                    ),  # once, where the run first shows (an SVM has no train loss)
                    line=style,
                    marker={"size": 5},
                    hovertemplate=f"{name}<br>{x} %{{x}}<br>{title} %{{y:.4f}}<extra></extra>",
                ),
                row=1,
                col=col,
            )
        kept = kept_checkpoint(rows)
        if kept is not None and kept.get(x) is not None:
            for col, key in ((2, "eval_loss"), (3, "eval_accuracy")):
                fig.add_trace(
                    go.Scatter(
                        x=[kept[x]],
                        y=[kept[key]],
                        mode="markers",
                        name=name,
                        legendgroup=run_id,
                        showlegend=False,
                        marker={
                            "symbol": "star",
                            "size": 13,
                            "color": style["color"],
                            "line": {"width": 1, "color": "#333"},
                        },
                        hovertemplate=f"{name}: kept checkpoint (best so far)<br>{x} %{{x}}<br>{key} %{{y:.4f}}"
                        "<extra></extra>",
                    ),
                    row=1,
                    col=col,
                )
    fig.update_xaxes(title_text=X_TITLES.get(x, x))
    accuracies = [y for trace in fig.data if trace.xaxis == "x3" for y in trace.y]
    if accuracies:  # Plotly's autorange spreads one evaluation over 0-1.6; an accuracy lies in [0, 1]
        fig.update_yaxes(range=[max(0.0, min(accuracies) - 0.02), min(1.005, max(accuracies) + 0.02)], row=1, col=3)
    fig.update_layout(
        height=380,
        margin={"l": 40, "r": 10, "t": 40, "b": 40},
        template="plotly_white",
        legend={"orientation": "h", "y": -0.25},
        hovermode="closest",
    )
    if not series:  # no axes to read: their default ranges would be numbers that mean nothing
        fig.add_annotation(text=empty, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
    return fig


def positive_bar(rows: list[dict]) -> go.Figure:
    """P(positive class) per method, the same number as the table's; methods without an answer are left out.
    With more than two classes, where 0.5 decides nothing, each method's bar stacks every class's share."""
    answered = [r for r in rows if "probabilities" in r]
    if not answered:
        return nothing_to_show("No method answered: the table says why")
    if any(len(r["probabilities"]) > 2 for r in answered):
        return class_bars(answered)
    names = [bar_label(r["method"]) for r in answered]
    values = [p_positive(r["probabilities"]) for r in answered]
    fig = go.Figure(
        go.Bar(
            x=names,
            y=values,
            marker_color=["#54A24B" if v >= 0.5 else "#E45756" for v in values],
            text=[f"{v:.2f}" for v in values],
            textposition="outside",
            hovertemplate="%{x}: P(positive) %{y:.3f}<extra></extra>",
        )
    )
    fig.add_hline(y=0.5, line_dash="dot", line_color="#888")
    fig.update_layout(
        height=300,
        yaxis={"range": [0, 1.1], "title": "P(positive)"},
        template="plotly_white",
        margin={"l": 40, "r": 10, "t": 20, "b": 40},
    )
    return fig


def bar_label(method: str) -> str:
    """A method under its bar by the name the table beside it gives, on lines short enough for five bars."""
    return "<br>".join(textwrap.wrap(METHOD_LABELS.get(method, method), 12))


def nothing_to_show(message: str) -> go.Figure:
    """A blank chart saying why it is blank, rather than empty axes with numbers that mean nothing."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5, font={"size": 14})
    fig.update_layout(
        height=300, template="plotly_white", xaxis={"visible": False}, yaxis={"visible": False}, margin={"t": 20}
    )
    return fig


# A class colours by where its name sits on the sentiment scale, as the two-class bar does: negative red,
# neutral grey, positive green, darker for "very" and lighter for "somewhat" (five-class sets such as SST-5).
SCALE_COLOURS = {
    -2: "#A4302F",
    -1: "#E45756",
    -0.5: "#F4A6A5",
    0: "#BAB0AC",
    0.5: "#A6D49F",
    1: "#54A24B",
    2: "#2F6B29",
}
OTHER_COLOURS = ("#4C78A8", "#F58518", "#B279A2", "#72B7B2", "#EECA3B", "#9D755D", "#FF9DA6")
STRONG, MILD = {"very", "strongly", "extremely", "most"}, {"somewhat", "slightly", "mildly", "weakly", "rather"}


def scale_place(name: str) -> float | None:
    """Where a class name sits from very negative (-2) to very positive (2); None for a name that says neither."""
    words = re.findall(r"[a-z]+", name.lower())
    if any(w.startswith("neu") or w == "mixed" for w in words):
        return 0
    side = next((sign for w in words for prefix, sign in (("neg", -1), ("pos", 1)) if w.startswith(prefix)), None)
    if side is None:
        return None
    return side * (2 if STRONG & set(words) else 0.5 if MILD & set(words) else 1)


def class_bars(answered: list[dict]) -> go.Figure:
    """Each method's probabilities stacked, a colour per class: the most negative at the bottom, the most
    positive on top, classes whose names say neither in the middle in the order the runs name them."""
    classes = list(dict.fromkeys(c for r in answered for c in r["probabilities"]))
    places = {c: scale_place(c) for c in classes}
    classes.sort(key=lambda c: places[c] if places[c] is not None else 0)
    others = iter(OTHER_COLOURS * len(classes))
    colours = [SCALE_COLOURS[places[c]] if places[c] is not None else next(others) for c in classes]
    fig = go.Figure(
        [
            go.Bar(
                x=[bar_label(r["method"]) for r in answered],
                y=[r["probabilities"].get(c, 0.0) for r in answered],
                name=c,
                marker_color=colour,
                hovertemplate=f"%{{x}}: P({c}) %{{y:.3f}}<extra></extra>",
            )
            for c, colour in zip(classes, colours)
        ]
    )
    fig.update_layout(
        barmode="stack",
        height=300,
        yaxis={"range": [0, 1.02], "title": "P(class)"},
        template="plotly_white",
        margin={"l": 40, "r": 10, "t": 20, "b": 40},
        legend={"orientation": "h", "y": -0.2},
    )
    return fig
