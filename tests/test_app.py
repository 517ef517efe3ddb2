"""The app's pure pieces, and a real gradio_client session against a launched app."""

from __future__ import annotations

import json
import re
import socket
import sys
import time

import pandas as pd
import pytest
from conftest import ROOT

from sentiment_lab.training.config import ConfigError
from sentiment_lab.ui.forms import every_method_configs, form_to_config
from sentiment_lab.ui.plots import curves_figure, positive_bar, smooth
from sentiment_lab.ui.tables import matching_runs, on_screen, results_frame, runs_frame, runs_label


def test_build_app_without_launching(tmp_path):
    from sentiment_lab.ui.app import build_app

    app = build_app(tmp_path)
    names = {d.get("api_name") for d in app.config["dependencies"]}
    assert {
        "start_training",
        "stop_run",
        "resume_run",
        "delete_run",
        "list_runs",
        "run_metrics",
        "compare",
        "explain",
        "compare_many",
        "test_errors",
    } <= names


def test_curves_with_no_run_at_all_point_to_the_train_tab(tmp_path):
    from sentiment_lab.runs.queue import JobManager
    from sentiment_lab.training.config import RunConfig
    from sentiment_lab.ui.app import build_app

    app = build_app(tmp_path)
    (update,) = {f.fn for f in app.fns.values() if f.fn.__module__.endswith("curves_tab") and f.fn.__name__ == "update"}

    def said():
        return [
            a.text for a in update([], "step", 0.6, {})[0].layout.annotations if " runs" in a.text or "run" in a.text
        ]

    assert said() == ["No runs yet: train one in the Train tab"]
    JobManager(tmp_path, launcher=lambda run_id, folder, args, **_: [sys.executable, "-c", ""]).submit(
        RunConfig.of(method="svm")
    )  # a run that does nothing
    assert said() == ["Select one or more runs"]


def test_form_to_config_uses_defaults_for_blanks():
    cfg = form_to_config({"method": "lora", "model": "minilm", "lr": "", "epochs": 2, "lora_r": 4.0, "run_name": " "})
    assert (
        cfg.method == "lora"
        and cfg.optimisation.lr is None
        and cfg.learning_rate == 2e-3
        and cfg.lora.r == 4
        and cfg.run_name is None
    )
    advanced = form_to_config(
        {
            "method": "lora",
            "lora_dora": True,
            "lora_targets": "all",
            "adapter_dim": "32",
            "pooling": "cls",
            "patience": 2,
            "max_train_samples": " ",
        }
    )
    assert (
        advanced.lora.dora,
        advanced.lora.targets,
        advanced.adapters.dim,
        advanced.features.pooling,
        advanced.optimisation.patience,
        advanced.data.max_train_samples,
    ) == (True, "all", 64, "mean", 2, None)  # LoRA reads neither the adapter width nor the pooling: defaults


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("lr", "-1", "Learning rate must be in"),
        ("epochs", 0, "Epochs must be in"),
        ("batch_size", 0, "Batch size must be in"),
        ("batch_size", 100000, "Batch size must be in"),
        ("max_length", 0, "Max length must be in"),
        ("lora_r", 0, "LoRA r must be in"),
        ("adapter_dim", 0, "Adapter bottleneck size must be in"),
        ("lr", "fast", "Learning rate must be a number"),
        ("run_name", "../../x", "run name may hold only"),
        ("run_name", "x" * 500, "at most"),
        ("method", "magic", "Method must be one of"),
        ("model", "   ", None),
        ("lora_dropout", 1, "LoRA dropout must be in"),
        ("adapter_dropout", -1, "Adapter dropout must be in"),
        ("lora_dora", "maybe", "DoRA must be true or false"),
        ("lora_targets", "mlp", "LoRA on must be one of"),
        ("pooling", "mean_concat", "Features (SVM, freeze) must be one of"),
        ("patience", "-1", "Stop early after must be in"),
        ("epochs", None, "Epochs: enter a number"),  # what the browser sends for "abc" in a number box
        ("lora_r", None, "LoRA r: enter a number"),
    ],
)
def test_form_refuses_bad_values_naming_the_field(field, value, message):
    # the method that reads the field (the form hides, and ignores, the others' settings)
    method = {"lora_": "lora", "adapter_": "adapters", "pooling": "svm"}
    form = {"method": next((m for p, m in method.items() if field.startswith(p)), "full"), "model": "minilm"}
    form[field] = value
    if message is None:  # a blank model falls back to the default rather than failing
        assert form_to_config(form).model == "minilm"
        return
    with pytest.raises(ConfigError, match=re.escape(message)):
        form_to_config(form)


@pytest.mark.parametrize("values", ["lora", ["method", "lora"], 3, None])
def test_settings_that_are_not_an_object_are_refused_by_what_they_are(values):
    with pytest.raises(ConfigError, match=f"must be a JSON object.*; got {type(values).__name__}$"):
        form_to_config(values)


def test_the_form_ignores_what_the_method_does_not_read():
    """The SVM's form hides Epochs and the other methods' settings: whatever they hold does not refuse it."""
    cfg = form_to_config({"method": "svm", "epochs": None, "batch_size": None, "lora_r": 0, "pooling": "cls"})
    assert cfg.optimisation.epochs == 3 and cfg.lora.r == 8 and cfg.features.pooling == "cls"
    with pytest.raises(ConfigError, match="Epochs: enter a number"):
        form_to_config({"method": "freeze", "epochs": None})


def test_train_all_five_names_a_setting_the_shown_form_hides():
    """With the SVM shown, Epochs is hidden, yet the other four read it: a word left there names the box and
    how to see it, instead of an 'Epochs' refusal the user cannot find on the page."""
    form = {"method": "svm", "epochs": None, "seed": "1, 2"}
    with pytest.raises(ConfigError, match=r"^Epochs: enter a number\. The SVM on frozen features form hides Epochs"):
        every_method_configs(form)
    configs = every_method_configs({**form, "epochs": 2, "lr": "1e-3"})
    assert [c.method for c in configs[::2]] == ["svm", "full", "lora", "freeze", "adapters"]
    assert {c.optimisation.lr for c in configs[2:]} != {1e-3}  # each method its own learning rate
    with pytest.raises(ConfigError, match=r"^Epochs: enter a number$"):
        every_method_configs({"method": "full", "epochs": None})  # shown: the plain message


def test_the_run_filter_keeps_runs_holding_every_word():
    rows = [
        {"id": "a-1", "name": "LoRA minilm #1", "state": "failed", "method": "lora", "model": "minilm"},
        {"id": "b-2", "name": "LoRA minilm #2", "state": "done", "method": "lora", "model": "minilm"},
        {"id": "c-3", "name": "SVM bert #1", "state": "failed", "method": "svm", "model": "/tmp/bert"},
    ]
    assert [r["id"] for r in matching_runs(rows, "LORA Failed")] == ["a-1"]
    assert [r["id"] for r in matching_runs(rows, "bert")] == ["c-3"]
    assert matching_runs(rows, "  ") == rows and matching_runs(rows, None) == rows
    assert runs_label(1, 3).endswith("1 of 3 match the filter") and "of" not in runs_label(3, 3)


def test_an_empty_run_list_says_where_a_first_run_comes_from():
    assert runs_label(0, 0).endswith("none yet. Pick a method in the form and press Train (or Train all five)")


def test_curves_overlay_several_runs_and_smooth():
    rows = [{"step": s, "epoch": s / 10, "loss": 1 / s} for s in range(1, 11)] + [
        {"step": 10, "epoch": 1.0, "eval_loss": 0.3, "eval_accuracy": 0.8}
    ]
    fig = curves_figure({"a": rows, "b": rows[:5]}, x="epoch", smoothing=0.5)
    names = {t.name for t in fig.data}
    assert (
        names == {"a", "b"} and len(fig.data) == 6
    )  # a: loss, eval loss, eval acc, its kept checkpoint on both; b: loss only
    stars = [t for t in fig.data if t.marker.symbol == "star"]
    assert [(t.x, t.y) for t in stars] == [((1.0,), (0.3,)), ((1.0,), (0.8,))]


def test_curves_with_no_run_picked_say_so_without_axes():
    fig = curves_figure({})
    assert not fig.data and [a.text for a in fig.layout.annotations if a.text.startswith("Select")] == [
        "Select one or more runs"
    ]
    assert fig.layout.xaxis.visible is False and fig.layout.yaxis.visible is False  # no -1..4 over nothing
    assert curves_figure({"a": [{"step": 1, "loss": 0.5}]}).layout.xaxis.visible is not False


def test_curves_by_time_since_each_run_began_older_runs_from_their_wall_times():
    from sentiment_lab.ui.plots import with_seconds

    new = [
        {"step": 20, "seconds": 14.0, "loss": 0.6},
        {"step": 40, "seconds": 21.5, "eval_loss": 0.4, "eval_accuracy": 0.8},
    ]
    # Before the run clock: the loop's elapsed on train-loss rows, wall time on every row.
    old = [
        {"step": 20, "time": 1000.0, "elapsed": 5.0, "loss": 0.6},
        {"step": 40, "time": 1012.5, "eval_loss": 0.5, "eval_accuracy": 0.7},
    ]
    assert [r["seconds"] for r in with_seconds(old)] == [5.0, 17.5] and with_seconds(new) == new
    fig = curves_figure({"new": new, "old": old}, x="seconds")
    xs = {(t.name, t.xaxis): list(t.x) for t in fig.data if t.marker.symbol != "star"}
    assert xs[("new", "x")] == [14.0] and xs[("new", "x3")] == [21.5] and xs[("old", "x3")] == [17.5]
    assert fig.layout.xaxis.title.text == "seconds since the run began"


def test_the_kept_checkpoint_is_the_one_the_training_loop_keeps():
    from sentiment_lab.ui.plots import kept_checkpoint

    evals = [
        {"step": 1, "eval_accuracy": 0.8, "eval_loss": 0.5},
        {"step": 2, "eval_accuracy": 0.85, "eval_loss": 0.6},
        {"step": 3, "eval_accuracy": 0.85, "eval_loss": 0.4},
        {"step": 4, "eval_accuracy": 0.85, "eval_loss": 0.4},
    ]
    assert kept_checkpoint(evals)["step"] == 3  # accuracy first, then loss; a tie keeps the earlier
    assert kept_checkpoint([{"step": 1, "loss": 0.7}]) is None


def test_a_run_without_train_loss_still_has_its_legend_entry():
    fig = curves_figure(
        {"svm": [{"step": 1, "eval_loss": 0.45, "eval_accuracy": 0.78}], "full": [{"step": 1, "loss": 0.7}]}
    )
    assert sorted(t.name for t in fig.data if t.showlegend) == [
        "full",
        "svm",
    ]  # the SVM evaluates once and never logs a train loss
    assert smooth([1, 0], 0.5) == [1, 0.5] and smooth([1, 0], 0) == [1, 0]


def test_tables_from_rows():
    frame = results_frame(
        [
            (
                "r1",
                {
                    "method": "lora",
                    "model": "m",
                    "test": {"accuracy": 0.8, "f1": 0.79, "loss": 0.4},
                    "trainable_parameters": 10,
                    "total_parameters": 1000,
                    "train_seconds": 5,
                    "samples_per_second": 20,
                },
            ),
            (
                "r2",
                {
                    "method": "full",
                    "test": {"accuracy": 0.9, "f1": 0.9, "loss": 0.3},
                    "trainable_parameters": 1000,
                    "total_parameters": 1000,
                },
            ),
            (
                "r3",
                {"method": "full", "model": "/m/runs/imdb/artefacts", "dataset": "/d/zzz.csv", "test": {"accuracy": 1}},
            ),
        ]
    )
    # best first within a dataset, a dataset's runs together: a toy file's 1.0 does not top the table
    assert list(frame["run"]) == ["r2", "r1", "r3"] and frame.loc[1, "% of total"] == 1.0
    assert frame["dataset"].tolist() == ["", "", "zzz.csv"]
    assert on_screen(frame)["trainable"].tolist() == ["1,000", "10", "0"]
    assert on_screen(frame)["model"].tolist()[2] == "imdb" and frame["model"].tolist()[2] == "/m/runs/imdb/artefacts"
    assert frame["trainable"].tolist() == [1000, 10, 0]
    assert on_screen(frame)["test acc"].tolist() == ["0.9000", "0.8000", "1.0000"]  # the digits line up
    named = results_frame([("r", {"model": "deberta-v3", "dataset": "/d/rotten_tomatoes", "test": {"accuracy": 1}})])
    # a narrow column wraps a name after its underscore or dash, not mid-word ("rotten_tomato|es"); the CSV as it is
    assert on_screen(named).loc[0, ["model", "dataset"]].tolist() == ["deberta-\u200bv3", "rotten_\u200btomatoes"]
    assert named.loc[0, "dataset"] == "rotten_tomatoes"
    runs = runs_frame(
        [
            {
                "id": "x",
                "state": "running",
                "step": 5,
                "total_steps": 10,
                "epoch": 0.5,
                "started": 100.0,
                "elapsed": 10.0,
            }
        ],
        now=110.0,
    )
    assert runs.loc[0, "progress"] == "5/10 · ep 0.50" and runs.loc[0, "time"] == "10s · 10s left"
    flat = runs_frame(
        [{"id": "y", "state": "done", "warning": "warning: the model did not learn: ..."}, {"id": "z", "state": "done"}]
    )
    assert list(flat["state"]) == ["done · did not learn", "done"]
    bar = positive_bar([{"method": "svm", "probabilities": {"neg": 0.2, "pos": 0.8}}, {"method": "full", "error": "x"}])
    assert bar.data[0].y == (0.8,) and bar.data[0].x == ("SVM on<br>frozen<br>features",)  # the table's name


def test_a_run_scored_on_part_of_the_test_split_ranks_apart_and_says_how_much():
    whole = {"method": "full", "dataset": "/d/rotten_tomatoes", "test_sentences": 1066, "test_split": 1066}
    part = {**whole, "method": "lora", "test_sentences": 200}
    frame = results_frame([("all", {**whole, "test": {"accuracy": 0.8}}), ("cut", {**part, "test": {"accuracy": 0.9}})])
    assert frame[["run", "dataset"]].values.tolist() == [
        ["all", "rotten_tomatoes"],  # the whole split first, though the other's score is higher
        ["cut", "rotten_tomatoes · test 200 of 1,066"],
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_app(tmp_path):
    from sentiment_lab.ui.app import build_app

    app = build_app(tmp_path / "runs")
    port = free_port()
    app.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield app, f"http://127.0.0.1:{port}/"
    app.close()


def test_gradio_client_trains_reads_metrics_and_compares(live_app, tiny_models, tiny_data):
    from gradio_client import Client

    app, url = live_app
    client = Client(url, verbose=False)
    run_id = client.predict(
        {"method": "full", "model": str(tiny_models["bert"]), "dataset": str(tiny_data), "epochs": 1, "batch_size": 8},
        api_name="/start_training",
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        state = {r["id"]: r["state"] for r in client.predict(api_name="/list_runs")}[run_id]
        if state not in ("queued", "running"):
            break
        time.sleep(1)
    assert state == "done", app.services.jobs.logs(run_id)
    rows = client.predict(run_id, 0, api_name="/run_metrics")
    assert any("eval_accuracy" in r for r in rows) and any("loss" in r for r in rows)
    answers = {r["method"]: r for r in client.predict("a good movie", api_name="/compare")}
    assert answers["full"]["label"] in ("neg", "pos") and 0.5 <= answers["full"]["probability"] <= 1
    saved = json.loads((app.services.jobs.folder(run_id) / "results.json").read_text())
    assert answers["full"]["test_accuracy"] == saved["test"]["accuracy"]  # the answering run's own score
    assert "no finished lora run" in answers["lora"]["error"]
    pulls = client.predict("a good movie", api_name="/explain")
    assert [w[0] for w in pulls["full"]["words"]] == ["a", "good", "movie"] and "no finished lora run" in pulls["lora"][
        "error"
    ]
    assert pulls["full"]["probability"] == pytest.approx(
        answers["full"]["probabilities"]["pos"], abs=0.02
    )  # bf16 batch vs one review
    # The test-set view rebuilds the run's test sentences and lines them up with the answers it saved.
    errors = client.predict([run_id], "any", api_name="/test_errors")
    assert client.predict(run_id, "any", api_name="/test_errors") == errors  # one id needs no list
    (run,) = errors["runs"]
    test_texts = set(pd.read_parquet(tiny_data / "test.parquet")["text"])
    assert run["wrong"] == len(errors["sentences"]) == round(16 * (1 - run["test acc"]))
    assert {s["review"] for s in errors["sentences"]} <= test_texts and all(
        s[run_id].endswith("✗") for s in errors["sentences"]
    )
    # A run goes out as a zip and comes back as a second finished run, through the public endpoints.
    from gradio_client import handle_file

    archive = client.predict(run_id, api_name="/export_run")
    new_id = client.predict(handle_file(archive), api_name="/import_run")
    assert new_id.startswith(f"{run_id}-imported-")  # the id itself, for a program to use
    assert sum(r["id"].startswith(run_id) and r["state"] == "done" for r in client.predict(api_name="/list_runs")) == 2
    with pytest.raises(Exception, match="review is empty"):
        client.predict("   ", api_name="/compare")
    with pytest.raises(Exception, match="invalid run id"):
        client.predict("../../etc", api_name="/stop_run")
    with pytest.raises(Exception, match="is done: only a stopped or failed run can be resumed"):
        client.predict(run_id, api_name="/resume_run")
    with pytest.raises(Exception, match="Learning rate must be in"):
        client.predict({"method": "full", "lr": -1}, api_name="/start_training")
    # What a program may send that the form never does: each refused by what is wrong with it.
    with pytest.raises(Exception, match="must be a JSON object of setting names and values.*; got str"):
        client.predict("full", api_name="/start_training")
    with pytest.raises(Exception, match=r"Method must be text, got \['full'\]"):
        client.predict({"method": ["full"]}, api_name="/start_training")
    with pytest.raises(Exception, match="since must be how many rows were already read .*, got 'abc'"):
        client.predict(run_id, "abc", api_name="/run_metrics")
    assert client.predict(run_id, len(rows) - 1, api_name="/run_metrics") == rows[-1:]


def test_app_serves_no_file_outside_its_folders(live_app, tmp_path):
    import urllib.error
    import urllib.request

    app, url = live_app
    secret = tmp_path / "runs" / "secret.json"
    secret.write_text("{}")
    for target in ("/etc/passwd", str(secret), str(ROOT / "README.md"), "../../../../etc/passwd"):
        try:
            status = urllib.request.urlopen(f"{url}gradio_api/file={target}", timeout=10).status
        except urllib.error.HTTPError as e:
            status = e.code
        assert status in (403, 404), (target, status)


def test_login_and_demo_limits_through_the_api(tmp_path):
    import httpx
    from fakes.runs import finished_run
    from gradio_client import Client

    from sentiment_lab.ui.access import DemoLimits
    from sentiment_lab.ui.app import build_app

    app = build_app(tmp_path / "runs", demo=DemoLimits())
    port = free_port()
    app.queue().launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, auth=[("ann", "pw")]
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        assert httpx.get(url + "config").status_code == 401  # no app config, hence no API, without a login
        with pytest.raises(ValueError, match="credentials were not provided"):
            Client(url, verbose=False).predict(api_name="/list_runs")
        client = Client(url, auth=("ann", "pw"), verbose=False)
        assert client.predict(api_name="/list_runs") == []
        with pytest.raises(Exception, match="demo mode: epochs"):
            client.predict({"method": "lora", "epochs": 3}, api_name="/start_training")
        with pytest.raises(Exception, match="only the bundled model"):
            client.predict({"method": "lora", "epochs": 1, "model": "bert-base-uncased"}, api_name="/start_training")
        finished_run(tmp_path / "runs", "full-someone-else", "full", 100.0, owner="another visitor")
        with pytest.raises(Exception, match="only whoever started run full-someone-else can delete it"):
            client.predict("full-someone-else", api_name="/delete_run")
        with pytest.raises(Exception, match="only whoever started run full-someone-else can resume it"):
            client.predict("full-someone-else", api_name="/resume_run")
        assert (tmp_path / "runs" / "full-someone-else" / "config.json").is_file()
        many = client.predict("a fine film\nawful", api_name="/compare_many")  # Compare stays open in the demo
        assert many["note"] == "No method answered: train some in the Train tab." and [
            r["review"] for r in many["reviews"]
        ] == ["a fine film", "awful"]
        assert many["methods"][0] == {
            "method": "svm",
            "run": "no finished svm run yet: train one in the Train tab",
            "ms per review": None,
        }
        assert many["methods"][1]["run"].startswith(
            "run full-someone-else could not be used"
        )  # a fake run without weights
        with pytest.raises(Exception, match="no reviews"):
            client.predict(" \n", api_name="/compare_many")
    finally:
        app.close()


def test_compare_rows_say_why_a_method_did_not_answer_in_the_run_column():
    from sentiment_lab.ui.compare_tab import rows_frame

    frame = rows_frame(
        [
            {
                "method": "full",
                "label": "pos",
                "probability": 0.9123,
                "probabilities": {"neg": 0.0877, "pos": 0.9123},
                "ms": 10.04,
                "run": "full-a",
                "test_accuracy": 0.83412,
            },
            {"method": "lora", "run": None, "error": "no finished lora run yet"},
            {"method": "svm", "run": "svm-b", "error": "run svm-b could not be used: OSError"},
        ]
    )
    assert list(frame.columns) == [
        "method",
        "label",
        "confidence in label",
        "P(positive)",
        "test acc",
        "ms",
        "run",
    ]  # nothing past the visible columns
    assert frame["test acc"].tolist()[0] == 0.834
    assert frame["run"].tolist() == ["full-a", "no finished lora run yet", "run svm-b could not be used: OSError"]
    assert frame["confidence in label"].tolist()[0] == 0.912 and frame["label"].tolist()[1:] == ["—", "—"]


def test_a_runs_settings_fill_the_form_and_train_the_same_run_again():
    from sentiment_lab.training.config import RunConfig
    from sentiment_lab.ui.forms import form_to_config, form_values
    from sentiment_lab.ui.train_form import FORM_FIELDS

    saved = RunConfig.of(
        method="lora",
        lr=3e-4,
        max_train_samples=500,
        lora_r=16,
        lora_dora=True,
        lora_targets="all",
        epochs=1.5,
        seed=7,
        run_name="mine",
        warmup_ratio=0.1,
        svm_c=0.1,
        pooling="cls",
    ).validated()
    values, left_out = form_values(saved, FORM_FIELDS)
    form = dict(zip(FORM_FIELDS, values))
    assert form["lr"] == "0.0003" and form["max_train_samples"] == "500" and form["run_name"] == ""
    again = form_to_config(form)
    # What LoRA reads comes back whole (the SVM's C and the pooling are not LoRA's, so the form leaves them)
    assert {**again.settings(), "warmup_ratio": 0.1} == saved.settings()
    assert left_out == ["warmup_ratio=0.1"]  # said beside the form, not silently dropped
    default_values, nothing = form_values(RunConfig().validated(), FORM_FIELDS)
    assert dict(zip(FORM_FIELDS, default_values))["lr"] == "" and nothing == []


def test_the_accuracy_panel_spans_the_accuracies_not_plotlys_guess():
    from sentiment_lab.ui.plots import curves_figure

    one = curves_figure({"r": [{"step": 10, "loss": 0.7}, {"step": 20, "eval_loss": 0.5, "eval_accuracy": 0.83}]})
    assert one.layout.yaxis3.range == pytest.approx((0.81, 0.85))
    many = curves_figure({"a": [{"step": 1, "eval_accuracy": 0.5}], "b": [{"step": 1, "eval_accuracy": 1.0}]})
    assert (
        many.layout.yaxis3.range == pytest.approx((0.48, 1.005)) and many.layout.yaxis.range is None
    )  # the loss panels autorange


def test_queued_runs_show_their_place_and_ended_runs_say_so_once():
    from sentiment_lab.ui.notices import run_endings

    rows = [
        {"id": "c", "state": "queued", "submitted": 3.0},
        {"id": "b", "state": "queued", "submitted": 2.0},
        {"id": "a", "state": "running", "submitted": 1.0, "started": 1.0},
    ]
    assert list(runs_frame(rows, now=5.0)["state"]) == ["queued · #2", "queued · next", "running"]
    resumed = [
        {"id": "c", "state": "queued", "submitted": 3.0},
        {"id": "b", "state": "queued", "submitted": 1.0, "queued": 4.0},
        {"id": "s", "state": "stopped", "resumable": True},
        {"id": "f", "state": "failed", "resumable": False},
        {"id": "d", "state": "done", "started": 100.0, "finished": 130.0, "spent_before": 40.0},
    ]
    frame = runs_frame(resumed, now=5.0)
    assert list(frame["state"]) == ["queued · next", "queued · #2", "stopped · resumable", "failed", "done"]
    assert frame["time"].iloc[-1] == "1m10s"  # a resumed run's time counts its first stretch too

    messages, seen = run_endings(None, rows)
    assert messages == [] and seen == {"c": "queued", "b": "queued", "a": "running"}  # the first look: nothing is news
    later = [
        {"id": "c", "state": "cancelled"},
        {"id": "b", "state": "failed", "error": "model 'x' could not be loaded\ntrace"},
        {"id": "a", "state": "done", "test_accuracy": 0.83412},
        {"id": "d", "state": "done"},
    ]
    messages, seen = run_endings(seen, later)
    assert [text for _, text in messages] == [
        "c was cancelled",
        "b failed: model 'x' could not be loaded",
        "a finished: test accuracy 0.8341",
    ]
    assert [state for state, _ in messages] == ["cancelled", "failed", "done"]
    assert run_endings(seen, later)[0] == []  # said once
    from sentiment_lab.ui.notices import own_runs

    runs = [{"id": "a", "owner": "me"}, {"id": "b", "owner": "you"}, {"id": "c"}]
    assert [r["id"] for r in own_runs(runs, "me", demo=True)] == ["a"] and own_runs(runs, "me", demo=False) == runs


def test_a_bad_dataset_or_column_is_refused_before_anything_is_queued(tmp_path, tiny_data):
    from sentiment_lab.ui.services import Services

    services = Services(tmp_path / "runs")
    services.jobs.advance = lambda: []  # were anything queued, it would not train
    for form, message in (
        ({"dataset": str(tmp_path / "nope.csv")}, "nope.csv"),
        ({"dataset": str(tiny_data), "text_column": "review"}, "review"),
    ):
        with pytest.raises(ConfigError, match=message):
            services.queue([form_to_config({"method": "svm", **form})])
    assert services.jobs.list() == []  # nothing queued, nothing to fail later


def test_a_failed_runs_notice_is_shortened_at_a_word():
    from sentiment_lab.ui.notices import run_endings

    reason = "dataset could not be loaded " + "because of a very long reason " * 20
    messages, _ = run_endings({"r": "running"}, [{"id": "r", "state": "failed", "error": reason}])
    text = messages[0][1]
    assert text.endswith(" …") and len(text) < 420 and text.removesuffix(" …").split()[-1] in reason.split()


def test_a_refusal_is_said_beside_its_button_and_clears_the_other_outputs():
    from sentiment_lab.ui.services import said_here

    made = []

    @said_here("Not queued", lambda: made.append(1) or "cleared", None)
    def refuse(x):
        raise ConfigError(f"Epochs must be in (0, 1000], got {x}")

    assert not made  # what clears is made when a refusal happens, not when the page is built
    assert refuse(-1) == ("**Not queued:** Epochs must be in (0, 1000], got -1", "cleared", None) and made == [1]
    assert said_here("Not stopped")(lambda: "stopping")() == "stopping"
