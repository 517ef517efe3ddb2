"""Curves tab: live loss / accuracy curves of several runs overlaid, and the results table."""

from __future__ import annotations

import gradio as gr

from sentiment_lab.storage import write_bytes_atomic
from sentiment_lab.training.records import MetricsCursor
from sentiment_lab.ui import errors_panel
from sentiment_lab.ui.downloads import folder
from sentiment_lab.ui.pickers import refreshed
from sentiment_lab.ui.plots import curves_figure
from sentiment_lab.ui.services import Services
from sentiment_lab.ui.tables import RESULT_WIDTHS, SETTING_WIDTHS, on_screen, results_frame, settings_frame


def read_series(services: Services, run_ids: list[str], cache: dict) -> dict:
    """Rows per run, reading only bytes added since the last tick (offsets kept in the session cache)."""
    series = {}
    for run_id in run_ids or []:
        try:
            folder = services.jobs.folder(run_id)
        except Exception:
            continue
        offset, inode, rows = cache.get(run_id, (0, None, []))
        cursor = MetricsCursor(folder / "metrics.jsonl", offset, inode)
        new = cursor.read_new()
        rows = new if cursor.restarted else rows + new  # a resumed run trimmed its file: read it whole again
        cache[run_id] = (cursor.offset, cursor.inode, rows)
        series[run_id] = rows
    for stale in set(cache) - set(run_ids or []):
        del cache[stale]
    return series


def opening_runs(rows: list[dict]) -> list[str]:
    """What the tab opens on: the newest finished run of each method (a *Train all five* once it is done),
    else the three newest runs."""
    newest: dict[str, str] = {}
    for r in rows:  # newest first
        if r.get("state") == "done" and r.get("method") not in newest:
            newest[r.get("method")] = r["id"]
    return list(newest.values()) or [r["id"] for r in rows[:3]]


def build(services: Services, timer: gr.Timer) -> dict:
    cache = gr.State({})
    with gr.Row():
        chosen = gr.Dropdown([], multiselect=True, label="Runs to overlay", scale=4)
        x_axis = gr.Radio(["step", "epoch", ("time", "seconds")], value="step", label="x-axis", scale=1)
        smoothing = gr.Slider(0, 0.95, value=0.6, step=0.05, label="Smoothing (train loss)", scale=1)
    plot = gr.Plot(curves_figure({}), label="Curves", elem_id="curves-plot")
    with gr.Row():
        gr.Markdown("### Results of finished runs")
        per = gr.Radio(
            [("each run", "run"), ("each setting, over its seeds", "setting")],
            value="run",
            show_label=False,
            container=False,
            scale=0,
            min_width=420,
        )
    table = gr.Dataframe(
        results_frame([]),
        interactive=False,
        wrap=True,
        column_widths=list(RESULT_WIDTHS.values()),
        elem_id="results-table",
    )
    download = gr.DownloadButton("Download CSV", value=None)
    errors = errors_panel.build(services)

    def update(run_ids, x, smooth, state):
        series = read_series(services, run_ids, state)
        names, methods = services.labels()
        empty = "Select one or more runs" if names else "No runs yet: train one in the Train tab"
        return curves_figure(series, x, smooth, names, {i: methods.get(i) for i in series}, empty), state

    def refresh_choices(current):
        rows = services.jobs.list()
        ids = [r["id"] for r in rows]
        return refreshed(ids, current, opening_runs(rows), services.names())

    def refresh_table(view="run"):
        if view == "setting":
            frame, widths = settings_frame(services.results_with_configs()), SETTING_WIDTHS
        else:
            frame, widths = results_frame(services.results(), services.names()), RESULT_WIDTHS
        # One file per view, rewritten every 5 s by every open page with the same rows: atomically, so a
        # download never reads one half-written (a file per refresh would pile up 720 an hour per page).
        path = folder() / f"results-by-{view}.csv"
        write_bytes_atomic(path, frame.to_csv(index=False).encode())
        return gr.Dataframe(on_screen(frame), column_widths=list(widths.values())), gr.DownloadButton(
            value=str(path) if len(frame) else None
        )

    for trigger in (chosen.change, x_axis.change, smoothing.change):
        trigger(
            update, [chosen, x_axis, smoothing, cache], [plot, cache], api_visibility="private", show_progress="hidden"
        )
    timer.tick(
        update, [chosen, x_axis, smoothing, cache], [plot, cache], api_visibility="private", show_progress="hidden"
    )
    # What the slow timer refreshes, and the app when the tab opens (a hidden tab's timer does not tick).
    on_open = [
        (refresh_choices, chosen, chosen),
        (refresh_table, per, [table, download]),
        (errors["refresh_choices"], errors["picked"], errors["picked"]),
    ]
    slow = gr.Timer(5)
    for refresh, inputs, outputs in on_open:
        slow.tick(refresh, inputs, outputs, api_visibility="private", show_progress="hidden")
    per.change(refresh_table, per, [table, download], api_visibility="private", show_progress="hidden")
    return {"on_open": on_open}
