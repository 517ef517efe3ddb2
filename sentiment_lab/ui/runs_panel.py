"""The runs panel: the live run list, the picked run's Stop / Resume / Delete, its config and log, zip and Hub."""

from __future__ import annotations

import json
from types import SimpleNamespace

import gradio as gr

from sentiment_lab.runs.hub import push_run
from sentiment_lab.runs.queue import JobError
from sentiment_lab.training.config import RunConfig
from sentiment_lab.ui.access import visitor_key
from sentiment_lab.ui.forms import as_sentence, form_values
from sentiment_lab.ui.names import display_names
from sentiment_lab.ui.notices import own_runs, run_endings
from sentiment_lab.ui.pickers import refreshed
from sentiment_lab.ui.services import USER_ERRORS, Services, said_here, user_errors
from sentiment_lab.ui.tables import RUN_WIDTHS, matching_runs, runs_frame, runs_label
from sentiment_lab.ui.train_form import FORM_FIELDS, form_summary

# An imported run never replaces, unasked, the run that answers for its method.
ANSWERS_WHEN_PICKED = (
    "Compare answers with it once it is picked under *Which run answers for each method* (or when its method "
    "has no run trained here)."
)


def runs_column(services: Services) -> SimpleNamespace:
    """The run list, the picked run's actions, and its config, log, archive and Hub panels."""
    run_filter = gr.Textbox(
        label="Filter runs",
        placeholder="words a run's name, state, method, model or dataset holds: lora failed",
        max_lines=1,
    )
    runs = gr.Dataframe(
        runs_frame([]),
        label=runs_label(0, 0),
        interactive=False,
        wrap=True,
        max_height=420,
        column_widths=list(RUN_WIDTHS.values()),
    )
    # The run on a line of its own: ids run to 40 characters and more, and buttons beside them cut them short.
    picked = gr.Dropdown([], label="Run", allow_custom_value=False)
    with gr.Row():
        stop_btn = gr.Button("Stop / Cancel", variant="stop", scale=1)
        resume_btn = gr.Button("Resume", scale=1)
        delete_btn = gr.Button("Delete", scale=1)
    with gr.Row(visible=False) as confirm_row:  # deleting cannot be undone: ask once, naming the run
        confirm_text = gr.Markdown()
        confirm_btn = gr.Button("Delete it", variant="stop", scale=0)
        keep_btn = gr.Button("Keep it", scale=0)
    to_delete = gr.State(None)
    stop_msg = gr.Markdown()
    with gr.Accordion("Push the selected run to the Hugging Face Hub, or pull one back", open=False):
        gr.Markdown(
            "Spaces have no persistent disk: push finished runs to keep them, pull them back after a restart. A "
            "pushed run goes to a private repository with a model card that says how to load it without this app."
        )
        with gr.Row():
            repo = gr.Textbox(label="Repository", placeholder="user/sentiment-lab-run")
            token = gr.Textbox(label="Token (blank: $HF_TOKEN; write, to push)", type="password")
        with gr.Row():
            push_btn = gr.Button("Push the selected run")
            pull_btn = gr.Button(
                "Pull the repository's run", visible=services.demo is None
            )  # the demo takes no runs in
        push_msg = gr.Markdown()
    with gr.Accordion("Download the selected run, or import one (zip)", open=False):
        gr.Markdown(
            "A finished run as one zip (config, curves, results, weights): to keep it (a Space forgets "
            "its runs on restart) or to move it to another Sentiment Lab, where importing adds it as a "
            "finished run."
        )
        with gr.Row():
            export_btn = gr.Button("Zip the selected run", scale=1)
            export_file = gr.File(label="Run archive", interactive=False, height=90, scale=2)
        # The public demo takes no archives: hidden, so nobody uploads one only to be refused.
        import_file = gr.File(
            label="Import a run archive (.zip)", file_types=[".zip"], height=120, visible=services.demo is None
        )
        import_msg = gr.Markdown()
    with gr.Accordion("Config and log of the selected run", open=False):
        config_view = gr.Code(language="json", label="config.json")
        reuse_btn = gr.Button("Copy its settings to the form", size="sm")
        log_view = gr.Textbox(
            label="log tail", lines=12, max_lines=12, autoscroll=True, placeholder="nothing logged yet"
        )

    return SimpleNamespace(
        run_filter=run_filter,
        runs=runs,
        picked=picked,
        stop_btn=stop_btn,
        resume_btn=resume_btn,
        delete_btn=delete_btn,
        confirm_row=confirm_row,
        confirm_text=confirm_text,
        confirm_btn=confirm_btn,
        keep_btn=keep_btn,
        to_delete=to_delete,
        stop_msg=stop_msg,
        repo=repo,
        token=token,
        push_btn=push_btn,
        pull_btn=pull_btn,
        push_msg=push_msg,
        export_btn=export_btn,
        export_file=export_file,
        import_file=import_file,
        import_msg=import_msg,
        config_view=config_view,
        reuse_btn=reuse_btn,
        log_view=log_view,
    )


def wire_runs(services: Services, form: SimpleNamespace, panel: SimpleNamespace, fields: list, timer) -> None:
    """The run list's refresh and the picked run's actions, config, log, archive and Hub panels."""

    def refresh(request: gr.Request, current, seen=None, query=None):
        rows = services.jobs.list()
        ids, names = [r["id"] for r in rows], display_names(rows)
        rows = [{**r, "name": names[r["id"]]} for r in rows]
        messages, seen = run_endings(seen, own_runs(rows, visitor_key(request), services.demo is not None))
        for state, message in messages:  # a toast per run that ended since this page last looked
            (gr.Warning if state == "failed" else gr.Info)(message)
        # With nothing picked, the run training now (what Stop is most likely meant for), else the newest.
        default = next((r["id"] for r in rows if r["state"] == "running"), ids[0] if ids else None)
        shown = current if current in ids else default
        row = next((r for r in rows if r["id"] == shown), None)
        shown_rows = matching_runs(rows, query)  # the picker keeps every run: the picked one stays picked
        table = gr.Dataframe(runs_frame(shown_rows, names=names), label=runs_label(len(shown_rows), len(rows)))
        return table, refreshed(ids, current, default, names), seen, *action_states(row)

    def action_states(row: dict | None) -> list:
        """Stop, Resume and Delete enabled only where they apply to the picked run's state."""
        state = (row or {}).get("state")
        return [
            gr.Button(interactive=state in ("queued", "running")),
            gr.Button(interactive=state in ("stopped", "failed") and bool(row.get("resumable"))),
            gr.Button(interactive=state in ("done", "failed", "stopped", "cancelled")),
        ]

    def picked_actions(run_id):
        return action_states(next((r for r in services.jobs.list() if r["id"] == run_id), None))

    states = gr.State(None)  # per page: the run states it last saw
    refresh_inputs = [panel.picked, states, panel.run_filter]
    actions = [panel.stop_btn, panel.resume_btn, panel.delete_btn]
    timer.tick(
        refresh,
        refresh_inputs,
        [panel.runs, panel.picked, states, *actions],
        api_visibility="private",
        show_progress="hidden",
    )
    panel.run_filter.change(
        refresh,
        refresh_inputs,
        [panel.runs, panel.picked, states, *actions],
        api_visibility="private",
        show_progress="hidden",
    )
    panel.picked.change(picked_actions, panel.picked, actions, api_visibility="private", show_progress="hidden")

    def show(run_id):
        if not run_id:
            return "", ""
        try:
            cfg = RunConfig.load(services.jobs.folder(run_id) / "config.json")
            return json.dumps({"run_id": run_id, **cfg.own()}, indent=1), services.jobs.logs(run_id, 40)
        except Exception as e:  # a damaged folder shows its problem, not a traceback
            return "", f"cannot read run {run_id}: {e}"

    panel.picked.change(
        show, panel.picked, [panel.config_view, panel.log_view], api_visibility="private", show_progress="hidden"
    )
    timer.tick(lambda r: show(r)[1], panel.picked, panel.log_view, api_visibility="private", show_progress="hidden")

    @said_here("Not stopped")
    def do_stop(request: gr.Request, run_id):
        return f"{services.name_of(run_id)}: {services.stop(run_id, visitor_key(request))}"

    panel.stop_btn.click(do_stop, panel.picked, panel.stop_msg, api_visibility="private")

    @said_here("Not resumed")
    def do_resume(request: gr.Request, run_id):
        return f"{services.name_of(run_id)}: {services.resume(run_id, visitor_key(request))}"

    panel.resume_btn.click(do_resume, panel.picked, panel.stop_msg, api_visibility="private").then(
        refresh,
        refresh_inputs,
        [panel.runs, panel.picked, states, *actions],
        api_visibility="private",
        show_progress="hidden",
    )

    def ask_delete(run_id):
        if not run_id:
            raise gr.Error("choose a run first", print_exception=False)
        return (
            gr.Row(visible=True),
            f"Delete **{run_id}** with its checkpoint, curves and log? This cannot be undone.",
            run_id,
            "",
        )

    def do_delete(request: gr.Request, run_id):
        hide = gr.Row(visible=False)
        try:
            name = services.name_of(run_id)  # before the run is gone
            return hide, None, f"{name}: {services.delete(run_id, visitor_key(request))}"
        except USER_ERRORS as e:  # shown beside the buttons; the row closes either way
            return hide, None, f"**Not deleted:** {e}"

    panel.delete_btn.click(
        ask_delete,
        panel.picked,
        [panel.confirm_row, panel.confirm_text, panel.to_delete, panel.stop_msg],
        api_visibility="private",
    )
    panel.confirm_btn.click(
        do_delete, panel.to_delete, [panel.confirm_row, panel.to_delete, panel.stop_msg], api_visibility="private"
    ).then(
        refresh,
        refresh_inputs,
        [panel.runs, panel.picked, states, *actions],
        api_visibility="private",
        show_progress="hidden",
    )
    never_mind = (lambda: (gr.Row(visible=False), None, ""), None, [panel.confirm_row, panel.to_delete, panel.stop_msg])
    panel.keep_btn.click(*never_mind, api_visibility="private")
    panel.picked.input(
        *never_mind, api_visibility="private"
    )  # a question about another run than the one shown would mislead

    def reuse(run_id, upload):
        """Fill the form from a run's config.json, to train it again with a change (a seed, a rate)."""
        if not run_id:
            raise gr.Error("choose a run first", print_exception=False)
        try:
            cfg = RunConfig.load(services.jobs.folder(run_id) / "config.json")
        except (OSError, ValueError) as e:  # a damaged or foreign config names its problem
            raise gr.Error(f"cannot read the settings of {run_id}: {e}", print_exception=False) from None
        values, left_out = form_values(cfg, FORM_FIELDS)
        note = f"Settings of **{run_id}** copied to the form: change what you like, then Train."
        if left_out:
            note += " Not in the form, so not copied: " + ", ".join(f"`{x}`" for x in left_out) + "."
        # The summary comes in the same answer: the Dataset box may not change, and its event would not fire.
        flat = cfg.flat()
        summary = form_summary(services, flat["dataset"], upload, flat["text_column"], flat["label_column"])
        return *values, note, summary

    panel.reuse_btn.click(
        reuse, [panel.picked, form.upload], [*fields, form.submit_msg, form.data_summary], api_visibility="private"
    )

    @user_errors
    def do_export(run_id):
        zipped = services.export(run_id)
        if note := services.copy_note(run_id):
            gr.Warning(as_sentence(note))
        return zipped

    @user_errors
    def do_import(path):
        return (
            f"Imported as **{services.import_archive(path)}**: it is in the run list and Curves; {ANSWERS_WHEN_PICKED}"
        )

    panel.export_btn.click(do_export, panel.picked, panel.export_file, api_visibility="private")
    # Public endpoints (/export_run, /import_run), so gradio_client moves the files both ways. Export reads
    # a plain run id: the Run dropdown refuses any value outside the choices its page was last sent.
    # Import answers a program with the new run's id, and the page with a sentence.
    with gr.Row(visible=False):
        api_run, api_export = gr.Textbox(), gr.Button()
        api_archive, api_import, api_new_run = gr.File(), gr.Button(), gr.Textbox()
    api_export.click(do_export, api_run, panel.export_file, api_name="export_run")
    api_import.click(user_errors(services.import_archive), api_archive, api_new_run, api_name="import_run")
    panel.import_file.upload(do_import, panel.import_file, panel.import_msg, api_visibility="private")

    @said_here("Not pushed")
    def do_push(run_id, repo_id, tok):
        if not run_id:
            raise JobError("choose a run first")
        pushed = f"Pushed to {push_run(services.jobs, run_id, repo_id.strip(), tok)}"
        note = services.copy_note(run_id)
        return pushed + (f"\n\n⚠ {as_sentence(note)}" if note else "")

    panel.push_btn.click(do_push, [panel.picked, panel.repo, panel.token], panel.push_msg, api_visibility="private")

    @said_here("Not pulled")
    def do_pull(repo_id, tok):
        return f"Pulled as **{services.pull(repo_id, tok)}**: it is in the run list and Curves; {ANSWERS_WHEN_PICKED}"

    panel.pull_btn.click(do_pull, [panel.repo, panel.token], panel.push_msg, api_visibility="private")
