"""How long a queued run may take, said where finished runs with the same model, data and budget took that long."""

from __future__ import annotations

import json
import sys

from sentiment_lab.runs.pace import about, expected_seconds
from sentiment_lab.runs.queue import JobManager
from sentiment_lab.training.config import RunConfig
from sentiment_lab.training.records import write_status


def finished(seconds: float, device: str = "cpu", processes: int = 1) -> dict:
    return {"test": {"accuracy": 0.8}, "total_seconds": seconds, "device": device, "processes": processes}


def test_only_runs_with_the_same_model_data_and_budget_on_this_kind_of_device_count():
    cfg = RunConfig.of(method="lora", epochs=2, seed=1).validated()
    sweep = RunConfig.of(method="lora", epochs=2, seed=2, lr=1e-3, lora_r=16).validated()  # seed, rate, r: alike
    runs = [(finished(30), sweep), (finished(50), sweep), (finished(40), sweep)]
    assert expected_seconds(cfg, runs, "cpu", 1) == 40  # the median
    unlike = [
        (finished(99), RunConfig.of(method="lora", epochs=3).validated()),
        (finished(99), RunConfig.of(method="full", epochs=2).validated()),
        (finished(99), RunConfig.of(method="lora", epochs=2, max_train_samples=100).validated()),
        (finished(99, device="cuda:0"), sweep),
        (finished(99, processes=2), sweep),
    ]
    assert expected_seconds(cfg, unlike, "cpu", 1) is None
    assert expected_seconds(cfg, runs + unlike, "cpu", 1) == 40
    svm = RunConfig.of(method="svm", epochs=1).validated()  # the SVM reads no epochs or batch size
    assert expected_seconds(svm, [(finished(12), RunConfig.of(method="svm", epochs=3).validated())], "cpu", 1) == 12


def test_durations_read_as_roughly_as_they_are_known():
    assert [about(s) for s in (3, 44, 95, 600, 5400, 7300)] == [
        "10 s",
        "40 s",
        "2 min",
        "10 min",
        "1 h 30 min",
        "2 h 02 min",
    ]


def test_the_train_form_and_jobs_submit_say_how_long_runs_like_it_took(
    tiny_models, tiny_data, tmp_path, monkeypatch, capsys
):
    from sentiment_lab import jobs
    from sentiment_lab.ui.services import Services
    from sentiment_lab.ui.train_form import queued_message

    root = tmp_path / "runs"
    common = dict(model=str(tiny_models["bert"]), dataset=str(tiny_data), device="cpu", method="lora", epochs=1)
    done = root / "done-run"
    done.mkdir(parents=True)
    RunConfig.of(seed=1, **common).validated().save(done / "config.json")
    (done / "results.json").write_text(json.dumps(finished(150)))
    write_status(done, "done")
    services = Services(root)
    services.jobs = JobManager(root, launcher=lambda run_id, folder, args, **_: [sys.executable, "-c", ""])
    queued = services.queue([RunConfig.of(seed=2, lr=1e-3, **common).validated()])
    assert "Runs with the same model, data and budget took about 2 min here." in queued_message(queued, {})
    longer = services.queue([RunConfig.of(seed=2, **{**common, "epochs": 2}).validated()])
    assert "took about" not in queued_message(longer, {})  # no run like it: nothing guessed
    monkeypatch.setenv("SENTIMENT_LAB_CHECKPOINTS", str(root))
    monkeypatch.setattr(JobManager, "advance", lambda self: [])
    flags = [f"--{k}={v}" for k, v in {**common, "seed": 3}.items()]
    assert jobs.main(["submit", *flags]) == 0
    assert "note: runs with the same model, data and budget took about 2 min here" in capsys.readouterr().err
