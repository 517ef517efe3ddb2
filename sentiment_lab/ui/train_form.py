"""The Train form: method, model, data, budget and the method's own settings; Train and Train all five."""

from __future__ import annotations

import json
from types import SimpleNamespace

import gradio as gr

from sentiment_lab.runs.launch import most_processes
from sentiment_lab.runs.pace import about
from sentiment_lab.training.columns import pick_columns, table_head
from sentiment_lab.training.config import METHODS, ConfigError, Features, RunConfig
from sentiment_lab.training.data import DEFAULT_DATASET
from sentiment_lab.training.tables import EXTENSIONS
from sentiment_lab.ui.access import visitor_key
from sentiment_lab.ui.data_summary import data_summary
from sentiment_lab.ui.forms import FIELD_LABELS, LR_INFO, METHOD_LABELS, as_sentence, lr_hint
from sentiment_lab.ui.services import Queued, Services, said_here
from sentiment_lab.ui.uploads import upload_names

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
    return said + pace_note(done, names) + "".join(f"\n\n⚠ {as_sentence(w)}" for w in done.warnings)


def pace_note(done: Queued, names: dict[str, str]) -> str:
    """How long the queued runs may take, where finished runs like them took that long here."""
    expected = done.expected or {}
    if not expected:
        return ""
    if len(done.ids) == 1:
        return f" Runs with the same model, data and budget took about {about(expected[done.ids[0]])} here."
    each = [f"`{names.get(i, i)}` about {about(expected[i])}" for i in done.ids if i in expected]
    return f". Runs with the same model, data and budget took here: {', '.join(each)}."


def form_column(services: Services) -> SimpleNamespace:
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
            info="Hub id (a config after a colon: nyu-mll/glue:sst2), or a local folder / file with text and labels",
            elem_classes="wide-on-phone",
        )
    dataset_info = gr.Markdown(services.note_for(DEFAULT_DATASET))
    with gr.Accordion("…or upload your own data (CSV / TSV / JSON / parquet, 50 MB max)", open=False):
        upload = gr.File(
            label="Data file, or one per split (train.csv, test.csv...)",
            file_types=list(EXTENSIONS),
            file_count="multiple",
            height=120,
        )
    with gr.Row():  # filled with a local file's columns when it is named or uploaded; any name can be typed
        text_column, label_column = (
            gr.Dropdown([d[name]], value=d[name], label=FIELD_LABELS[name], info=info, allow_custom_value=True)
            for name, info in (
                ("text_column", "the column holding each review"),
                ("label_column", "its class: ids (0, 1, ...) or names"),
            )
        )
    data_summary_md = gr.Markdown(elem_classes="data-summary")  # a local table's splits and classes, once picked
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
            info="what the SVM and the head read from the frozen model's last layer (on MiniLM the mean beat [CLS])",
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
        data_summary=data_summary_md,
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


def form_summary(services: Services, dataset: str, upload: list[str] | None, text: str, label: str) -> str:
    """The line under the column boxes for these picks; empty where a public demo may not read the table."""
    if not services.may_read(dataset or "", upload):
        return ""
    try:
        stored = services.upload_to_read(upload)
    except ConfigError as e:
        return f"⚠ {as_sentence(str(e))}"
    return data_summary(dataset or "", stored, text, label, services.hub_online)


def wire_form(services: Services, form: SimpleNamespace, fields: list) -> tuple:
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
        """The saved values, and the summary of the data they name (a page shows it before anything changes)."""
        try:
            values = json.loads(saved) if saved else {}
        except ValueError:
            values = {}
        values = values if isinstance(values, dict) else {}
        defaults = RunConfig().flat()
        picked = [str(values.get(name) or defaults[name]) for name in ("dataset", "text_column", "label_column")]
        summary = on_columns(picked[0], None, picked[1], picked[2])
        return [values[name] if name in values else gr.update() for name in FORM_FIELDS] + [summary]

    def on_method(m):
        """Only the settings the method reads: the SVM fits in one go (no epochs, batches, rate or patience)."""
        loop = m != "svm"
        return (
            gr.Column(visible=m == "lora"),
            gr.Row(visible=m == "adapters"),
            gr.Row(visible=m in Features.READ_BY),  # the pooling, for the methods that read it
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

    def on_columns(dataset: str, upload: list[str] | None, text: str, label: str) -> str:
        return form_summary(services, dataset, upload, text, label)

    def on_data(dataset: str, upload: list[str] | None, text: str, label: str, before: list[str]):
        """The note on what the run will read, and the table's columns to pick from, a likely pair picked."""
        try:
            stored = services.upload_to_read(upload)
        except ConfigError:
            stored = None  # the summary under the column boxes says why
        head = table_head(stored or dataset or "") if services.may_read(dataset or "", upload) else None
        columns = [] if head is None else [str(c) for c in head.columns]
        names = upload_names(upload)
        note = (
            f"The run reads the uploaded file{'s' * (len(names) > 1)}, {' and '.join(names)}, in place of the "
            "Dataset box."
            if names
            else services.note_for(dataset or "")
        )
        text, label = pick_columns(columns, text, label, before or [], head)
        return (
            note,
            gr.Dropdown(choices=columns or [text], value=text),
            gr.Dropdown(choices=columns or [label], value=label),
            columns,
            on_columns(dataset, upload, text, label),  # in the same answer: a chained event would hold new edits back
        )

    data_inputs = [form.dataset, form.upload, form.text_column, form.label_column, offered]
    data_outputs = [form.dataset_info, form.text_column, form.label_column, offered, form.data_summary]

    gr.on([form.dataset.change, form.upload.change], on_data, data_inputs, data_outputs, api_visibility="private")
    gr.on(  # a column typed or picked; "always_last": a second pick while the first is answered is answered after it
        [form.text_column.input, form.label_column.input],
        on_columns,
        [form.dataset, form.upload, form.text_column, form.label_column],
        form.data_summary,
        api_visibility="private",
        trigger_mode="always_last",
    )

    @said_here("Not queued")
    def do_train(request: gr.Request, up, *values):
        done = services.submit(as_form(*values), up, visitor_key(request))
        return queued_message(done, services.names(), ", one per learning rate and seed")

    @said_here("Not queued")
    def do_all(request: gr.Request, up, *values):
        return queued_message(services.submit_all(as_form(*values), up, visitor_key(request)), services.names())

    form.train_btn.click(do_train, [form.upload, *fields], form.submit_msg, api_visibility="private")
    form.all_btn.click(do_all, [form.upload, *fields], form.submit_msg, api_visibility="private")
    return restore, saved_form, [*fields, form.data_summary]
