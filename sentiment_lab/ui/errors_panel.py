"""The Curves tab's test-set view: where finished runs go wrong, and whether one really beats another."""

from __future__ import annotations

import dataclasses

import gradio as gr

from sentiment_lab.serving.error_analysis import MAX_RUNS, MAX_SHOWN, SHOW
from sentiment_lab.ui.downloads import fresh
from sentiment_lab.ui.pickers import refreshed
from sentiment_lab.ui.services import Services, said_here

# Shares of each table's width: sized by content, the review column pushed the runs' answers, the
# point of the table, behind a horizontal scroll.
RUN_WIDTHS = {
    "run": "24%",
    "method": "10%",
    "test acc": "9%",
    "95% interval": "14%",
    "wrong": "8%",
    "wrong / sentences, by true label": "35%",
}
PAIR_WIDTHS = {
    "runs": "40%",
    "gap (pt)": "10%",
    "95% interval (pt)": "16%",
    "only first right": "11%",
    "only second right": "11%",
    "McNemar p": "12%",
}


def sentence_widths(runs: int) -> list[str]:
    """'#', review, true label, then one column per run: the review keeps at least half the width."""
    each = min(14.0, 37.0 / runs)
    return ["5%", f"{100 - 5 - 8 - each * runs:.0f}%", "8%"] + [f"{each:.1f}%"] * runs


def named(result, names: dict[str, str]):
    """The analysis with each run id in its tables and note replaced by the run's display name."""

    def swap(text: str) -> str:
        for run_id in sorted(names, key=len, reverse=True):  # a long id before an id it contains
            text = text.replace(run_id, names[run_id])
        return text

    runs = result.runs.assign(run=result.runs["run"].map(lambda r: names.get(r, r)))
    pairs = result.pairs.assign(runs=result.pairs["runs"].map(swap)) if len(result.pairs) else result.pairs
    sentences = result.sentences.rename(columns=names)
    return dataclasses.replace(result, runs=runs, pairs=pairs, sentences=sentences, note=swap(result.note))


def build(services: Services) -> dict:
    gr.Markdown(
        "### Where runs go wrong on the test set\nPick finished runs scored on the same test sentences: "
        "each one's errors by true label, every two runs' gap with its 95% interval over the sentences "
        "(and a McNemar test), and the sentences themselves."
    )
    with gr.Row():
        picked = gr.Dropdown(
            [], multiselect=True, max_choices=MAX_RUNS, label=f"Finished runs (up to {MAX_RUNS})", scale=4
        )
        show = gr.Radio([(label, key) for key, label in SHOW.items()], value="disagree", label="Sentences", scale=2)
        go = gr.Button("Show", variant="primary", scale=1)
    note = gr.Markdown()
    runs = gr.Dataframe(interactive=False, wrap=True, label="Each run", visible=False)
    pairs = gr.Dataframe(interactive=False, wrap=True, label="Every two runs (gap = first minus second)", visible=False)
    sentences = gr.Dataframe(interactive=False, wrap=True, max_height=480, label="Sentences (✗ = wrong)", visible=False)
    download = gr.DownloadButton("Download these sentences (CSV)", value=None, visible=False)

    def hidden():
        return gr.Dataframe(visible=False)

    @said_here("Not shown", hidden, hidden, hidden, lambda: gr.DownloadButton(value=None, visible=False))
    def run(run_ids, view):
        result = named(services.test_errors(run_ids, view), services.names())
        csv = fresh("test-errors", ".csv")
        result.sentences.to_csv(csv, index=False)
        shown = result.sentences.head(MAX_SHOWN)
        text = result.note + (
            f" The first {MAX_SHOWN} of {len(result.sentences):,} are below; the CSV has all."
            if len(result.sentences) > MAX_SHOWN
            else ""
        )
        return (
            text,
            gr.Dataframe(result.runs, visible=True, column_widths=[RUN_WIDTHS[c] for c in result.runs.columns]),
            gr.Dataframe(
                result.pairs,
                visible=len(result.pairs) > 0,
                column_widths=[PAIR_WIDTHS[c] for c in result.pairs.columns],
            ),
            gr.Dataframe(shown, visible=True, column_widths=sentence_widths(len(result.runs))),
            gr.DownloadButton(value=str(csv), visible=len(shown) > 0),
        )

    outputs = [note, runs, pairs, sentences, download]
    go.click(run, [picked, show], outputs, api_visibility="private")
    show.change(
        lambda ids, view: run(ids, view) if ids else (gr.skip(),) * len(outputs),
        [picked, show],
        outputs,
        api_visibility="private",
    )

    def refresh_choices(current):
        return refreshed(services.tested_runs(), current, [], services.names())

    return {"picked": picked, "refresh_choices": refresh_choices, "run": run}
