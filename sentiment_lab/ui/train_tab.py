"""Train tab: the run form, the live run list, a run's config and log, Stop / Cancel."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import gradio as gr

from sentiment_lab.runs.hub import push_run
from sentiment_lab.runs.launch import most_processes
from sentiment_lab.runs.queue import JobError
from sentiment_lab.training.columns import pick_columns, table_columns
from sentiment_lab.training.config import METHODS, RunConfig
from sentiment_lab.training.data import DEFAULT_DATASET, EXTENSIONS
from sentiment_lab.ui.access import visitor_key
from sentiment_lab.ui.forms import FIELD_LABELS, LR_INFO, METHOD_LABELS, form_values, lr_hint
from sentiment_lab.ui.names import display_names
from sentiment_lab.ui.notices import own_runs, run_endings
from sentiment_lab.ui.pickers import refreshed
from sentiment_lab.ui.services import USER_ERRORS, Queued, Services, said_here, user_errors
from sentiment_lab.ui.tables import RUN_WIDTHS, matching_runs, runs_frame, runs_label

# An imported run never replaces, unasked, the run that answers for its method.
ANSWERS_WHEN_PICKED = (
    "Compare answers with it once it is picked under *Which run answers for each method* (or when its method "
    "has no run trained here)."
)
FORM_FIELDS = (
    "method",
    "model",
    "dataset",
    "text_column",
    "label_column",
    "epochs",
    "batch_size",
    "lr",
    "max_length",
    "seed",
    "max_train_samples",
    "lora_r",
    "lora_alpha",
    "lora_dropout",
    "lora_targets",
    "lora_dora",
    "adapter_dim",
    "adapter_dropout",
    "run_name",
    "patience",
    "pooling",
    "processes",
)


def queued_message(done: Queued, names: dict[str, str], several: str = "") -> str:
    """What the Train buttons answer: the runs queued by name, then what they will do otherwise than asked
    or what may mislead their scores."""
    said = (
        f"Queued **{names.get(done.ids[0], done.ids[0])}**."
        if len(done.ids) == 1
        else f"Queued {len(done.ids)} runs{several}: " + ", ".join(f"`{names.get(i, i)}`" for i in done.ids)
    )
    return said + "".join(f"\n\n⚠ {as_sentence(w)}" for w in done.warnings)


def as_sentence(clause: str) -> str:
    """A message clause ('its base model is…') as a sentence of its own."""
    return f"{clause[0].upper()}{clause[1:]}."


def _form_column(services: Services) -> SimpleNamespace:
    """The Train form: method, data, budget, the method's own settings, and the two Train buttons."""
    d = RunConfig().flat()  # the defaults, by the form fields' names
    method = gr.Radio([(METHOD_LABELS[m], m) for m in METHODS], value="lora", label=FIELD_LABELS["method"])
    with gr.Row():
        model = gr.Textbox(
            d["model"],
            label=FIELD_LABELS["model"],
            info="'minilm' (bundled, offline), a Hub id, a local folder or a finished full run's folder",
            elem_classes="wide-on-phone",
        )
        dataset = gr.Textbox(
            DEFAULT_DATASET,
            label=FIELD_LABELS["dataset"],
            info="Hub id or local folder / file with text and label columns",
            elem_classes="wide-on-phone",
        )
    dataset_info = gr.Markdown(services.note_for(DEFAULT_DATASET))
    with gr.Accordion("…or upload your own data (CSV / TSV / JSON lines / parquet, 50 MB max)", open=False):
        upload = gr.File(label="Data file", file_types=list(EXTENSIONS), height=120)
    with gr.Row():  # filled with a local file's columns when it is named or uploaded; any name can be typed
        text_column, label_column = (
            gr.Dropdown([d[name]], value=d[name], label=FIELD_LABELS[name], info=info, allow_custom_value=True)
            for name, info in (
                ("text_column", "the column holding each review"),
                ("label_column", "its class: ids (0, 1, ...) or names"),
            )
        )
    with gr.Row():
        epochs = gr.Number(d["epochs"], label=FIELD_LABELS["epochs"], minimum=0)
        batch_size = gr.Number(d["batch_size"], label=FIELD_LABELS["batch_size"], precision=0)
        lr = gr.Textbox("", label=FIELD_LABELS["lr"], placeholder=lr_hint("lora"), info=LR_INFO)
    with gr.Row():
        seed = gr.Textbox(str(d["seed"]), label=FIELD_LABELS["seed"], info="several (42, 43, 44): one run each")
        run_name = gr.Textbox("", label=FIELD_LABELS["run_name"], placeholder="letters, digits, - _ .")
    with gr.Column(visible=True) as lora_row:
        with gr.Row():
            lora_r = gr.Number(d["lora_r"], label=FIELD_LABELS["lora_r"], precision=0)
            lora_alpha = gr.Number(d["lora_alpha"], label=FIELD_LABELS["lora_alpha"], precision=0)
            lora_dropout = gr.Number(d["lora_dropout"], label=FIELD_LABELS["lora_dropout"])
        with gr.Row():
            lora_targets = gr.Radio(
                [("attention projections", "attention"), ("every linear layer", "all")],
                value=d["lora_targets"],
                label=FIELD_LABELS["lora_targets"],
                info="the LoRA paper adapts the attention projections",
            )
            lora_dora = gr.Checkbox(
                d["lora_dora"], label=FIELD_LABELS["lora_dora"], info="PEFT's weight-decomposed LoRA; slower"
            )
    with gr.Row(visible=False) as adapter_row:
        adapter_dim = gr.Number(
            d["adapter_dim"],
            label=FIELD_LABELS["adapter_dim"],
            precision=0,
            info="two adapters per layer, after attention and feed-forward (Houlsby)",
        )
        adapter_dropout = gr.Number(d["adapter_dropout"], label=FIELD_LABELS["adapter_dropout"])
    with gr.Row(visible=False) as features_row:
        pooling = gr.Radio(
            [("token mean", "mean"), ("[CLS] state", "cls")],
            value=d["pooling"],
            label=FIELD_LABELS["pooling"],
            info="what the SVM and the head read from the frozen model's last layer",
        )
    with gr.Accordion("More settings", open=False):
        with gr.Row():
            max_length = gr.Number(d["max_length"], label=FIELD_LABELS["max_length"], precision=0)
            max_train_samples = gr.Textbox("", label=FIELD_LABELS["max_train_samples"], placeholder="blank = all")
        patience = gr.Number(
            d["patience"],
            label=FIELD_LABELS["patience"],
            precision=0,
            minimum=0,
            info="evaluations in a row without a better checkpoint; 0 = train the whole budget",
        )
        processes = gr.Number(
            d["processes"],
            label=FIELD_LABELS["processes"],
            precision=0,
            minimum=0,
            info=f"data-parallel, Batch size shared among them; 0 = one per GPU, or one (this machine: up to "
            f"{most_processes()})",
        )
    # Kept in view at the bottom of the screen while the form scrolls: the buttons and what they answered.
    with gr.Column(elem_id="train-actions"):
        with gr.Row():
            train_btn = gr.Button("Train", variant="primary")
            all_btn = gr.Button("Train all five")
        submit_msg = gr.Markdown()
    return SimpleNamespace(
        method=method,
        model=model,
        dataset=dataset,
        dataset_info=dataset_info,
        upload=upload,
        text_column=text_column,
        label_column=label_column,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        max_length=max_length,
        seed=seed,
        max_train_samples=max_train_samples,
        run_name=run_name,
        lora_row=lora_row,
        lora_r=lora_r,
        lora_alpha=lora_alpha,
        lora_dropout=lora_dropout,
        lora_targets=lora_targets,
        lora_dora=lora_dora,
        adapter_row=adapter_row,
        adapter_dim=adapter_dim,
        adapter_dropout=adapter_dropout,
        features_row=features_row,
        pooling=pooling,
        patience=patience,
        processes=processes,
        train_btn=train_btn,
        all_btn=all_btn,
        submit_msg=submit_msg,
    )


def _runs_column(services: Services) -> SimpleNamespace:
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


def build(services: Services, timer: gr.Timer) -> dict:
    gr.Markdown("Train any method in the background. Runs queue and survive reloads and restarts.")
    with gr.Row():
        with gr.Column(scale=2):
            form = _form_column(services)
        with gr.Column(scale=3):
            panel = _runs_column(services)
    fields = [getattr(form, name) for name in FORM_FIELDS]  # by name: the order is FORM_FIELDS', not the layout's
    restore = _wire_form(services, form, fields)
    _wire_runs(services, form, panel, fields, timer)
    return {"runs": panel.runs, "picked": panel.picked, "restore": restore}


def _wire_form(services: Services, form: SimpleNamespace, fields: list) -> tuple:
    """The form's events: remembering it in the browser, the method's own settings, Train and Train all five.
    Returns the (function, input, outputs) that restore the form when the page loads."""

    def as_form(*values) -> dict:
        return dict(zip(FORM_FIELDS, values))

    # The form keeps the user's last values across a reload, in this browser's storage only.
    # Kept as JSON text: a dict returned by an event is read by Gradio as updates keyed by component.
    saved_form = gr.BrowserState("", storage_key="sentiment-lab-train-form")

    def remember(*values) -> str:
        return json.dumps(as_form(*values))

    gr.on([f.change for f in fields], remember, fields, saved_form, api_visibility="private", show_progress="hidden")

    def restore(saved: str):
        try:
            values = json.loads(saved) if saved else {}
        except ValueError:
            values = {}
        return [values[name] if isinstance(values, dict) and name in values else gr.update() for name in FORM_FIELDS]

    def on_method(m):
        """Only the settings the method reads: the SVM fits in one go (no epochs, batches, rate or patience)."""
        loop = m != "svm"
        return (
            gr.Column(visible=m == "lora"),
            gr.Row(visible=m == "adapters"),
            gr.Row(visible=m in ("svm", "freeze")),
            gr.Textbox(placeholder=lr_hint(m), visible=loop),
            gr.Number(visible=loop),
            gr.Number(visible=loop),
            gr.Number(visible=loop),
        )

    form.method.change(
        on_method,
        form.method,
        [form.lora_row, form.adapter_row, form.features_row, form.lr, form.epochs, form.batch_size, form.patience],
        api_visibility="private",
    )

    offered = gr.State([])  # per page: the columns of the table the column boxes were last filled from

    def on_data(dataset: str, upload: str | None, text: str, label: str, before: list[str]):
        """The note on what the run will read, and the table's columns to pick from, a likely pair picked."""
        columns = table_columns(upload or dataset or "")
        note = (
            f"The run reads the uploaded file, {Path(upload).name}, in place of the Dataset box."
            if upload
            else services.note_for(dataset or "")
        )
        text, label = pick_columns(columns, text, label, before or [])
        return (
            note,
            gr.Dropdown(choices=columns or [text], value=text),
            gr.Dropdown(choices=columns or [label], value=label),
            columns,
        )

    data_inputs = [form.dataset, form.upload, form.text_column, form.label_column, offered]
    data_outputs = [form.dataset_info, form.text_column, form.label_column, offered]
    gr.on([form.dataset.change, form.upload.change], on_data, data_inputs, data_outputs, api_visibility="private")

    @said_here("Not queued")
    def do_train(request: gr.Request, up, *values):
        done = services.submit(as_form(*values), up, visitor_key(request))
        return queued_message(done, services.names(), ", one per learning rate and seed")

    @said_here("Not queued")
    def do_all(request: gr.Request, up, *values):
        return queued_message(services.submit_all(as_form(*values), up, visitor_key(request)), services.names())

    form.train_btn.click(do_train, [form.upload, *fields], form.submit_msg, api_visibility="private")
    form.all_btn.click(do_all, [form.upload, *fields], form.submit_msg, api_visibility="private")
    return restore, saved_form, fields


def _wire_runs(services: Services, form: SimpleNamespace, panel: SimpleNamespace, fields: list, timer) -> None:
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

    def reuse(run_id):
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
        return *values, note

    panel.reuse_btn.click(reuse, panel.picked, [*fields, form.submit_msg], api_visibility="private")

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
