"""Runs go by short names people can read, and each method keeps one colour."""

from sentiment_lab.ui.names import METHOD_COLOURS, display_names, method_styles, model_in_table, model_short
from sentiment_lab.ui.plots import curves_figure


def test_runs_are_named_by_method_model_and_counter_or_their_typed_name():
    rows = [  # newest first, as JobManager.list gives them
        {"id": "lora-minilm-20261205-120000-aaaa", "method": "lora", "model": "minilm", "submitted": 3},
        {"id": "mine-ffff", "method": "full", "model": "minilm", "submitted": 2, "run_name": "mine"},
        {"id": "lora-minilm-20261205-110000-bbbb", "method": "lora", "model": "minilm", "submitted": 1},
        {"id": "svm-x-cccc", "method": "svm", "model": "/models/deberta-v3-base-finetuned", "submitted": 4},
        {"id": "mine-eeee", "method": "full", "model": "minilm", "submitted": 5, "run_name": "mine"},
    ]
    assert display_names(rows) == {
        "lora-minilm-20261205-110000-bbbb": "LoRA minilm #1",
        "lora-minilm-20261205-120000-aaaa": "LoRA minilm #2",
        "mine-ffff": "mine",
        "svm-x-cccc": "SVM deberta-v3-ba… #1",
        "mine-eeee": "mine (eeee)",  # a typed name two runs share: the later one says which
    }
    assert model_short("sentence-transformers/all-MiniLM-L6-v2") == "all-MiniLM-L6…"
    assert model_short("checkpoints/imdb-full/artefacts") == model_short("checkpoints/imdb-full") == "imdb-full"
    assert model_in_table("distilbert/distilbert-base-uncased") == "distilbert/distilbert-base-uncased"
    assert (
        model_in_table("/home/me/models/deberta-v3-small") == model_in_table("./deberta-v3-small") == "deberta-v3-small"
    )


def test_a_method_keeps_its_colour_in_the_curves_and_its_runs_differ_by_dash():
    styles = method_styles({"a": "lora", "b": "full", "c": "lora"})
    assert styles["a"]["color"] == styles["c"]["color"] == METHOD_COLOURS["lora"] != styles["b"]["color"]
    assert styles["a"]["dash"] != styles["c"]["dash"]
    rows = [{"step": 1, "loss": 0.7}, {"step": 2, "eval_loss": 0.5, "eval_accuracy": 0.8}]
    fig = curves_figure({"a": rows, "c": rows}, names={"a": "LoRA minilm #1", "c": "LoRA minilm #2"},
                        methods={"a": "lora", "c": "lora"})  # fmt: skip
    shown = {t.name: t.line.color for t in fig.data if t.showlegend}
    assert shown == {"LoRA minilm #1": METHOD_COLOURS["lora"], "LoRA minilm #2": METHOD_COLOURS["lora"]}


def test_the_curves_open_on_the_newest_finished_run_of_each_method():
    from sentiment_lab.ui.curves_tab import opening_runs

    rows = [  # newest first
        {"id": "lora-2", "method": "lora", "state": "running"},
        {"id": "svm-2", "method": "svm", "state": "done"},
        {"id": "lora-1", "method": "lora", "state": "done"},
        {"id": "svm-1", "method": "svm", "state": "done"},
    ]
    assert opening_runs(rows) == ["svm-2", "lora-1"]
    assert opening_runs([{"id": "a", "state": "queued"}]) == ["a"]
