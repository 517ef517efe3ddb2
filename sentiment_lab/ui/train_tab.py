"""Train tab: the run form beside the runs panel."""

from __future__ import annotations

import gradio as gr

from sentiment_lab.ui.runs_panel import runs_column, wire_runs
from sentiment_lab.ui.services import Services
from sentiment_lab.ui.train_form import FORM_FIELDS, form_column, wire_form


def build(services: Services, timer: gr.Timer) -> dict:
    gr.Markdown("Train any method in the background. Runs queue and survive reloads and restarts.")
    with gr.Row():
        with gr.Column(scale=2):
            form = form_column(services)
        with gr.Column(scale=3):
            panel = runs_column(services)
    fields = [getattr(form, name) for name in FORM_FIELDS]  # by name: the order is FORM_FIELDS', not the layout's
    restore = wire_form(services, form, fields)
    wire_runs(services, form, panel, fields, timer)
    return {"runs": panel.runs, "picked": panel.picked, "restore": restore}
