"""Compare tab: one review, every method's prediction side by side; or many reviews, where they disagree."""

from __future__ import annotations

import html

import gradio as gr
import pandas as pd

from sentiment_lab.serving.predict import p_positive
from sentiment_lab.serving.review_batch import MAX_REVIEWS, loading_note
from sentiment_lab.serving.review_notes import review_notes
from sentiment_lab.serving.run_notes import data_note, part_note
from sentiment_lab.serving.word_influence import MAX_WORDS
from sentiment_lab.training.config import METHODS
from sentiment_lab.training.tables import EXTENSIONS
from sentiment_lab.ui.downloads import fresh
from sentiment_lab.ui.forms import METHOD_LABELS
from sentiment_lab.ui.influence_html import influence_html
from sentiment_lab.ui.names import display_names
from sentiment_lab.ui.plots import positive_bar
from sentiment_lab.ui.services import USER_ERRORS, Services, said_here

EXAMPLES = [
    "A gorgeous, funny and deeply moving film that earns every one of its tears.",
    "The plot is a mess, the jokes fall flat and two hours have never felt longer.",
    "Not the best movie of the year, but the cast is charming enough to carry it.",
    "It's not bad, exactly; it's just not anything at all.",
]
LATEST = "newest trained here (default)"  # imported runs answer when picked, or when a method has nothing else
# The columns and their share of the width (sized by content: a 1024 px window cut the run column, and a label
# such as "positive" must fit whole beside the chart).
COMPARE_WIDTHS = {
    "method": "15%",
    "label": "14%",
    "confidence in label": "15%",
    "P(positive)": "16%",
    "test acc": "9%",
    "ms": "7%",
    "run": "24%",
}
# A run that closes less than this share of the gap between always answering its test set's commonest class
# and a perfect score answers little better than chance (0.6 on two balanced classes).
NEAR_CHANCE = 0.2


def _rounded(p: float | None) -> float | None:
    return None if p is None else round(p, 3)


def rows_frame(rows: list[dict], names: dict[str, str] | None = None) -> pd.DataFrame:
    """One line per method. A method without an answer says why in its run cell: a column of its own for
    that sat past the table's right edge, where nobody saw it."""
    lines = []
    for r in rows:
        if "error" in r:
            # the error names the run if there is one
            lines.append([METHOD_LABELS[r["method"]], "—", None, None, None, None, r["error"]])
        else:
            accuracy = r.get("test_accuracy")
            lines.append(
                [
                    METHOD_LABELS[r["method"]],
                    r["label"] + (" ⚠ near chance" if near_chance(r) else ""),
                    round(r["probability"], 3),
                    _rounded(p_positive(r["probabilities"])),  # blank where no class is the positive one
                    round(accuracy, 3) if accuracy is not None else None,  # as the other columns: fits at half width
                    round(r["ms"], 1 if r["ms"] < 10 else None),  # a tenth of a millisecond is noise past ten
                    (names or {}).get(r["run"], r["run"]),
                ]
            )
    return pd.DataFrame(lines, columns=list(COMPARE_WIDTHS))


def near_chance(row: dict) -> bool:
    """Scored on its test set little above answering the commonest class (or, for a run that did not save its
    answers, above guessing among its classes)."""
    if row.get("test_accuracy") is None:
        return False
    chance = row.get("chance") or 1 / len(row["probabilities"])
    return row["test_accuracy"] < chance + NEAR_CHANCE * (1 - chance)


def summary_note(rows: list[dict], text: str) -> str:
    """How many answered, which are near chance, and what to know about the review itself."""
    answered = [r for r in rows if "error" not in r]
    total = sum(r["ms"] for r in answered)
    note = f"{len(answered)} of {len(rows)} methods answered in {total:.0f} ms." + loading_note(rows)
    missing = [METHOD_LABELS[r["method"]] for r in rows if "error" in r]
    if not answered:
        note = "No method answered: the run column says why."
        if all(r["error"].startswith("no finished") for r in rows):  # a new user's first Compare: what to do
            note += " *Train all five* in the Train tab trains one of each."
    elif missing:
        note += " Without an answer: " + ", ".join(missing) + " (the run column says why; train them in the Train tab)."
    weak = [f"{METHOD_LABELS[r['method']]} ({r['test_accuracy']:.2f})" for r in answered if near_chance(r)]
    if weak:  # one line for all of them: several lines would push the answers below the fold
        note += (
            f"\n\n⚠ Close to chance on its test set, so read its answer as noise or pick another run above: "
            f"{', '.join(weak)}."
        )
    for extra in (data_note(answered, METHOD_LABELS.get), part_note(answered, METHOD_LABELS.get)):
        if extra:
            note += f"\n\n⚠ {extra}"
    for extra in review_notes(text):
        note += f"\n\n⚠ {extra}"
    return note


def build(services: Services) -> dict:
    review = gr.Textbox(label="Review", lines=3, placeholder="Type a movie review…", max_length=5000)
    gr.Examples(EXAMPLES, review, label="Examples")
    with gr.Accordion("Which run answers for each method", open=False):
        pickers = {m: gr.Dropdown([LATEST], value=LATEST, label=METHOD_LABELS[m]) for m in METHODS}
        refresh = gr.Button("Refresh run lists", size="sm")
    go = gr.Button("Compare", variant="primary")
    summary = gr.Markdown()
    # Side by side where both fit; below that the chart goes under the table, which then takes the whole width
    # rather than breaking its headers and numbers mid-word.
    with gr.Row():
        table = gr.Dataframe(
            rows_frame([]),
            interactive=False,
            wrap=True,
            scale=3,
            min_width=720,
            column_widths=list(COMPARE_WIDTHS.values()),
        )
        bars = gr.Plot(label="Probabilities", scale=2, min_width=320)

    def chosen(picks) -> dict[str, str | None]:
        return {m: (p if p and p != LATEST else None) for m, p in zip(METHODS, picks)}

    @said_here("No answer", rows_frame([]), None)
    def run(text, *picks):
        rows = services.compare(text, chosen(picks))
        return summary_note(rows, text), rows_frame(rows, services.names()), positive_bar(rows)

    go.click(run, [review, *pickers.values()], [summary, table, bars], api_visibility="private")
    review.submit(run, [review, *pickers.values()], [summary, table, bars], api_visibility="private")

    with gr.Accordion("Which words decided it", open=False):
        gr.Markdown(
            f"The review is scored again with each word left out in turn (up to {MAX_WORDS} words), "
            "through every method at once."
        )
        explain_go = gr.Button("Show each word's pull")
        explained = gr.HTML()

    def show_pulls(text, *picks):
        """The words' pulls, or the reason there are none in their place (never the last review's pulls)."""
        try:
            return influence_html(services.explain(text, chosen(picks)))
        except USER_ERRORS as e:
            return f"<p><b>Not explained:</b> {html.escape(str(e))}</p>"

    explain_go.click(show_pulls, [review, *pickers.values()], explained, api_visibility="private")

    with gr.Accordion("Many reviews at once", open=False):
        gr.Markdown(
            f"One review per line, or a file: CSV / TSV / JSON / parquet with a `text` (or `review`, `sentence`) "
            f"column and, for accuracy, a `label` column; or plain text. Up to {MAX_REVIEWS:,} reviews."
        )
        with gr.Row():
            many_text = gr.Textbox(label="Reviews, one per line", lines=6, scale=3)
            many_file = gr.File(
                label="…or a file (50 MB max)",
                file_types=[*EXTENSIONS, ".txt"],
                height=150,
                scale=2,
            )
        many_go = gr.Button("Compare all")
        many_note = gr.Markdown()
        # Hidden until there are answers: an empty table would show placeholder headers ("1 2 3").
        many_summary = gr.Dataframe(interactive=False, wrap=True, label="Each method", visible=False)
        many_rows = gr.Dataframe(
            interactive=False, wrap=True, max_height=400, label="Each review (disagreements first)", visible=False
        )
        many_download = gr.DownloadButton("Download each review's answers (CSV)", value=None)

    def hidden():
        return gr.Dataframe(visible=False)

    @said_here("Not compared", hidden, hidden, lambda: gr.DownloadButton(value=None))
    def run_many(typed, upload, *picks):
        summary, per_review, note = services.compare_many(upload, typed, chosen(picks))
        csv = fresh("reviews", ".csv")
        per_review.to_csv(csv, index=False)
        shown = (gr.Dataframe(frame, visible=True) for frame in (summary, per_review))
        return note, *shown, gr.DownloadButton(value=str(csv))

    many_go.click(
        run_many,
        [many_text, many_file, *pickers.values()],
        [many_note, many_summary, many_rows, many_download],
        api_visibility="private",
    )

    def choices():
        rows = services.jobs.list()
        names = display_names(rows)
        by_method = {m: [LATEST] for m in METHODS}
        for r in rows:
            if r["state"] == "done" and r.get("method") in by_method:
                by_method[r["method"]].append((names[r["id"]], r["id"]))
        return [gr.Dropdown(choices=by_method[m]) for m in METHODS]

    refresh.click(choices, None, list(pickers.values()), api_visibility="private")
    return {"review": review, "on_open": [(choices, None, list(pickers.values()))]}
