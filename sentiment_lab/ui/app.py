"""Assemble the three tabs and the named API endpoints into one Blocks app."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from sentiment_lab.ui import compare_tab, curves_tab, train_tab
from sentiment_lab.ui.access import DemoLimits, visitor_key
from sentiment_lab.ui.forms import form_to_config
from sentiment_lab.ui.services import Services, user_errors

CSS = """
/* clip, not hidden: a hidden overflow would make the page's frame the scroller and stop #train-actions sticking */
.gradio-container {max-width: 1400px !important; overflow: clip !important}
#train-actions {position: sticky; bottom: 0; z-index: 100; background: var(--body-background-fill);
  padding: 6px 0; box-shadow: 0 -8px 8px -8px rgba(0, 0, 0, 0.25)}
/* a phone: tables keep readable columns and scroll sideways, rather than breaking words letter by letter */
/* and a model id or a dataset path gets the whole width, not half of it in three broken lines */
@media (max-width: 700px) {table {min-width: 760px !important}
  th * {word-break: normal !important; overflow-wrap: normal !important}
  .wide-on-phone {min-width: 100% !important}
  #curves-plot {overflow-x: auto !important} #curves-plot > div {min-width: 900px}}
"""


def build_app(root: Path | None = None, max_running: int | None = None, demo: DemoLimits | None = None) -> gr.Blocks:
    """Build (not launch) the app over the runs in `root` (default: checkpoints/)."""
    services = Services(root, max_running, demo)
    # Every 30 min, Gradio's copies of files it served or received (run zips of ~90 MB, CSVs, uploads,
    # which we copy to our own folders first) go once two hours old: a long-lived Space's disk stays bounded.
    with gr.Blocks(title="Sentiment Lab", delete_cache=(1800, 7200)) as app:
        gr.Markdown(
            "# Sentiment Lab\nFine-tune sentiment classifiers and compare SVM, full fine-tuning, LoRA, "
            "freeze and adapters on movie reviews. Programs can do the same through the API (*Use via API*, "
            "at the bottom of the page)."
        )
        if demo:
            gr.Markdown(f"**{demo.describe()}**")
        timer = gr.Timer(2)
        with gr.Tabs():
            with gr.Tab("Train"):
                train = train_tab.build(services, timer)
            with gr.Tab("Curves") as curves_page:
                curves = curves_tab.build(services, timer)
            with gr.Tab("Compare") as compare_page:
                compare = compare_tab.build(services)
        _api(services)
        restore, saved, fields = train["restore"]
        app.load(restore, saved, fields, api_visibility="private", show_progress="hidden")
        # The curves and results are there when the page opens, not after the first 5-second tick.
        for refresh, inputs, outputs in curves["on_open"][:2]:  # the run pickers and the results table
            app.load(refresh, inputs, outputs, api_visibility="private")
        # A tab's timers tick only once it is shown: runs that ended while another tab was shown are listed at once.
        for page, parts in ((curves_page, curves), (compare_page, compare)):
            for refresh, inputs, outputs in parts["on_open"]:
                page.select(refresh, inputs, outputs, api_visibility="private", show_progress="hidden")
    app.services = services
    return app


def _api(services: Services) -> None:
    """Named endpoints for gradio_client: everything a person can do in the tabs."""

    @user_errors
    def start_training(config: dict, request: gr.Request) -> str:
        """Queue a run from a dict of train settings (same names as the CLI flags); return its id."""
        return services.queue([form_to_config(config)], visitor_key(request)).ids[0]

    @user_errors
    def stop_run(run_id: str, request: gr.Request) -> str:
        """Stop a running run or cancel a queued one."""
        return services.stop(run_id, visitor_key(request))

    @user_errors
    def resume_run(run_id: str, request: gr.Request) -> str:
        """Queue a stopped or failed run to go on from its last evaluation."""
        return services.resume(run_id, visitor_key(request))

    @user_errors
    def delete_run(run_id: str, request: gr.Request) -> str:
        """Delete an ended run: its checkpoint, metrics and log."""
        return services.delete(run_id, visitor_key(request))

    def list_runs() -> list[dict]:
        """Every run with state, progress and best validation accuracy."""
        return services.jobs.list()

    @user_errors
    def run_metrics(run_id: str, since: int = 0) -> list[dict]:
        """Metric rows of a run after the first `since` rows."""
        try:
            rows_read = int(since)
        except (TypeError, ValueError):
            rows_read = -1
        if rows_read < 0:
            raise ValueError(f"since must be how many rows were already read (0 or more), got {since!r}")
        return services.jobs.metrics(run_id, rows_read)

    @user_errors
    def compare(review: str) -> list[dict]:
        """Each method's prediction for one review (latest finished run of each)."""
        return services.compare(review)

    @user_errors
    def explain(review: str) -> dict:
        """How much each word of the review pulls each method toward its positive class (left out in turn)."""
        return services.explain(review)

    @user_errors
    def compare_many(reviews: str) -> dict:
        """Many reviews, one per line: each method's label for each, and where they disagree."""
        summary, per_review, note = services.compare_many(None, reviews)
        return {
            "note": note,
            "methods": summary.astype(object).where(summary.notna(), None).to_dict("records"),
            "reviews": per_review.to_dict("records"),
        }

    @user_errors
    def test_errors(run_ids: list[str], show: str = "disagree") -> dict:
        """Where finished runs go wrong on their shared test set: each run, every two runs' paired test, the
        sentences."""
        result = services.test_errors([run_ids] if isinstance(run_ids, str) else run_ids, show)  # one id, or a list
        return {
            "note": result.note,
            "runs": result.runs.to_dict("records"),
            "pairs": result.pairs.to_dict("records"),
            "sentences": result.sentences.to_dict("records"),
        }

    for fn in (
        start_training,
        stop_run,
        resume_run,
        delete_run,
        list_runs,
        run_metrics,
        compare,
        explain,
        compare_many,
        test_errors,
    ):
        gr.api(fn, api_name=fn.__name__)
