"""Early stopping: a run ends once `patience` evaluations in a row bring no better checkpoint."""

from __future__ import annotations

import json

import pytest
from test_resume import StopAfter, config, rows

import sentiment_lab.training.loop as train_loop
from sentiment_lab.training.config import ConfigError, RunConfig
from sentiment_lab.training.records import read_status
from sentiment_lab.training.runner import Runner


class Scripted:
    """Validation accuracy by evaluation, in order (the loss stays put): which evaluation is best is ours to say."""

    def __init__(self, accuracies):
        self.accuracies, self.calls = list(accuracies), 0

    def __call__(self, model, batches, accelerator, num_labels):
        self.calls += 1
        answers = [0] * sum(len(y) for _, y in batches.eval())  # one per sentence, as the real evaluation gives
        return {"loss": 0.5, "accuracy": self.accuracies[self.calls - 1], "f1": 0.5, "pred": answers, "prob": None}


# 8 steps an epoch, 3 epochs: evaluations at steps 4, 8, ... 24. The best comes at step 8.
ACCURACIES = [0.6, 0.7, 0.65, 0.66, 0.9, 0.9]


def test_a_run_stops_once_evaluations_stop_improving(tiny_models, tiny_data, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(train_loop, "evaluate", Scripted(ACCURACIES))
    folder = tmp_path / "run"
    assert (
        Runner(config(tiny_models["bert"], tiny_data, "full", epochs=3, patience=2), folder, progress=False).run() == 0
    )
    results = json.loads((folder / "results.json").read_text())
    assert results["early_stop"] == 16 and results["steps"] == 16 and results["best_step"] == 8
    assert read_status(folder)["state"] == "done" and max(r["step"] for r in rows(folder)) == 16
    assert (
        "early stop at step 16: 2 evaluation(s) in a row without a better checkpoint (kept: step 8)"
        in capsys.readouterr().out
    )


def test_without_patience_the_whole_budget_trains(tiny_models, tiny_data, tmp_path, monkeypatch):
    monkeypatch.setattr(train_loop, "evaluate", Scripted(ACCURACIES))
    folder = tmp_path / "run"
    assert Runner(config(tiny_models["bert"], tiny_data, "full", epochs=3), folder, progress=False).run() == 0
    results = json.loads((folder / "results.json").read_text())
    assert results["early_stop"] is None and results["steps"] == 24 and results["best_step"] == 20


def test_a_resumed_run_remembers_how_long_it_went_without_a_better_checkpoint(
    tiny_models, tiny_data, tmp_path, monkeypatch
):
    script = Scripted(ACCURACIES)  # one script across the stop: evaluations 1-3 before it, 4 after
    monkeypatch.setattr(train_loop, "evaluate", script)
    cfg, folder = config(tiny_models["bert"], tiny_data, "full", epochs=3, patience=2), tmp_path / "run"
    assert (
        Runner(cfg, folder, should_stop=StopAfter(12), progress=False).run() == 0
    )  # stopped right after the evaluation at 12
    assert read_status(folder)["state"] == "stopped" and script.calls == 3
    assert Runner(cfg, folder, progress=False, resume=True).run() == 0
    assert (
        json.loads((folder / "results.json").read_text())["early_stop"] == 16
    )  # one more without a better one was enough


def test_patience_is_checked():
    with pytest.raises(ConfigError, match="patience"):
        RunConfig.of(method="full", patience=-1).validated()
