"""A stopped, killed or crashed run goes on from its saved training state as if it had never stopped."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import torch
from conftest import ROOT
from fakes.worker import fake_launcher
from safetensors.torch import load_file, save_file
from test_jobs import state, submit, wait_for

from sentiment_lab.runs.queue import JobError, JobManager
from sentiment_lab.training import methods
from sentiment_lab.training.backbone import INITIALISED_HERE
from sentiment_lab.training.config import RunConfig
from sentiment_lab.training.records import MetricsCursor, read_status, write_status
from sentiment_lab.training.runner import Runner
from sentiment_lab.training.state import STATE_FILE, ResumeError, load_state, save_state, trim_metrics
from sentiment_lab.ui.tables import runs_frame


def config(model, data, method, **extra) -> RunConfig:
    # bf16 off: accelerate keeps one state per process, and other tests run it in fp32. Train loss
    # logged every 3 steps, so stops fall between logs too.
    return RunConfig.of(
        method=method,
        model=str(model),
        dataset=str(data),
        batch_size=8,
        max_length=32,
        device="cpu",
        bf16="off",
        **{"epochs": 2, "log_every": 3, **extra},
    ).validated()


class StopAfter:
    """A should_stop that says stop once the loop has asked `steps` times (once per step)."""

    def __init__(self, steps: int):
        self.left = steps

    def __call__(self) -> bool:
        self.left -= 1
        return self.left < 0


def rows(folder) -> list[dict]:
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


def evals(folder) -> list[tuple]:
    return [(r["step"], round(r["eval_loss"], 6), r["eval_accuracy"]) for r in rows(folder) if "eval_loss" in r]


def weights(folder) -> dict:
    found = sorted((folder / "artefacts").rglob("*.safetensors"))
    assert found, list((folder / "artefacts").rglob("*"))
    return {f"{f.name}:{k}": v for f in found for k, v in load_file(f).items()}


# 8 steps an epoch, an evaluation every 4: stops at 3 (between evaluations), 4 (on one) and 10 (in epoch 2).
@pytest.mark.parametrize(
    "method, stop_at, kind",
    [
        ("full", 3, "bert"),
        ("full", 10, "distilbert"),
        ("lora", 4, "bert"),
        ("lora", 7, "distilbert"),
        ("adapters", 10, "bert"),
        ("adapters", 5, "distilbert"),
        ("freeze", 6, "bert"),
    ],
)
def test_a_stopped_run_resumed_ends_as_the_uninterrupted_run(method, stop_at, kind, tiny_models, tiny_data, tmp_path):
    cfg = config(tiny_models[kind], tiny_data, method)
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert Runner(cfg, whole, progress=False).run() == 0

    assert Runner(cfg, parts, should_stop=StopAfter(stop_at), progress=False).run() == 0
    assert read_status(parts)["state"] == "stopped" and (parts / STATE_FILE).is_file()
    assert (
        f"at step {stop_at} of " in read_status(parts)["error"]
        and f"goes on from step {stop_at}" in read_status(parts)["error"]
    )
    assert (
        max(r["step"] for r in rows(parts)) <= stop_at and not (parts / "results.json").exists()
    )  # no test score at a stop
    assert Runner(cfg, parts, progress=False, resume=True).run() == 0

    assert read_status(parts)["state"] == "done"
    seconds = [r["seconds"] for r in rows(parts)]
    assert seconds == sorted(seconds) and seconds[0] > 0  # the run's clock goes on from the saved state, never back
    assert not (parts / STATE_FILE).exists()  # done: nothing left to resume, and ~450 MB for a full MiniLM
    assert evals(parts) == evals(whole)  # every scheduled evaluation as before, none added by the stop
    losses = [[(r["step"], round(r["loss"], 6)) for r in rows(f) if "loss" in r] for f in (whole, parts)]
    assert losses[1] == losses[0]  # the train loss logged after a stop averages the steps before it too
    a, b = (json.loads((f / "results.json").read_text()) for f in (whole, parts))
    assert b["test"] == pytest.approx(a["test"], abs=1e-6) and b["best_step"] == a["best_step"]
    assert b["steps"] == a["steps"] and b["samples"] == a["samples"]
    answers = [json.loads((f / "validation_predictions.json").read_text()) for f in (whole, parts)]
    assert answers[1] == answers[0]  # the kept checkpoint's validation answers came through the saved state
    wa, wb = weights(whole), weights(parts)
    assert wa.keys() == wb.keys()
    for name in wa:
        torch.testing.assert_close(wb[name], wa[name], rtol=0, atol=1e-6, msg=name)


def test_resuming_needs_a_saved_state_and_the_same_settings(tiny_models, tiny_data, tmp_path):
    cfg = config(tiny_models["bert"], tiny_data, "adapters")
    folder = tmp_path / "run"
    assert Runner(cfg, folder, should_stop=StopAfter(0), progress=False).run() == 0  # stopped before any step
    assert not (folder / STATE_FILE).exists()
    assert Runner(cfg, folder, progress=False, resume=True).run() == 1
    assert "no saved training state" in read_status(folder)["error"]

    assert Runner(cfg, folder, should_stop=StopAfter(5), progress=False).run() == 0
    other = config(tiny_models["bert"], tiny_data, "adapters", lr=3e-3)
    with pytest.raises(ResumeError, match="settings changed"):
        load_state(folder, other.settings())
    # A snapshot from before a setting stopped counting for this method (the pooling of a full run) still fits.
    assert load_state(folder, {k: v for k, v in cfg.settings().items() if k != "batch_size"})["step"] == 5
    (folder / STATE_FILE).write_bytes(b"not a torch file")
    with pytest.raises(ResumeError, match="cannot be read"):
        load_state(folder, cfg.settings())


def test_a_run_whose_data_changed_since_it_stopped_does_not_resume_over_it(tiny_models, tiny_data, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    cfg = config(tiny_models["bert"], data, "lora")
    folder = tmp_path / "run"
    assert Runner(cfg, folder, should_stop=StopAfter(5), progress=False).run() == 0
    test = pd.read_parquet(data / "test.parquet")
    test.loc[0, "text"] = "a sentence edited since"
    test.to_parquet(data / "test.parquet")
    assert Runner(cfg, folder, progress=False, resume=True).run() == 1
    assert "data changed since its training state was saved" in read_status(folder)["error"]
    assert (folder / STATE_FILE).exists()  # refused, not spent: put the file back and the run goes on


@pytest.mark.parametrize("method", ["lora", "adapters"])
def test_a_snapshot_keeps_the_weights_that_train_not_the_frozen_backbone(method, tiny_models, tiny_data, tmp_path):
    """The frozen weights of the base model's file are loaded again on resume: written at every evaluation
    they only made the state as big as the model and the stop as slow. A frozen weight the file lacks (here
    the pooler, which BERT's head reads) was drawn at random: the snapshot keeps it."""
    model_folder = tmp_path / "no-pooler"
    shutil.copytree(tiny_models["bert"], model_folder)
    weights_file = model_folder / "model.safetensors"
    save_file({k: v for k, v in load_file(weights_file).items() if "pooler" not in k}, str(weights_file))
    cfg = config(model_folder, tiny_data, method)
    folder = tmp_path / "run"
    assert Runner(cfg, folder, should_stop=StopAfter(5), progress=False).run() == 0
    kept = set(torch.load(folder / STATE_FILE, weights_only=True)["model"])
    model = methods.get(method).build(cfg, {0: "neg", 1: "pos"})
    trains = {n for n, p in model.named_parameters() if p.requires_grad}
    drawn = {n for n, p in model.named_parameters() if getattr(p, INITIALISED_HERE, False)}
    assert any("pooler" in n for n in drawn - trains) == (method == "lora")  # frozen under LoRA, not from the file
    assert trains | drawn <= kept <= trains | drawn | {n for n, _ in model.named_buffers()}
    assert Runner(cfg, folder, progress=False, resume=True).run() == 0


def test_a_resume_over_a_base_model_changed_since_the_stop_is_refused(tiny_models, tiny_data, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(tiny_models["bert"], model)
    cfg = config(model, tiny_data, "lora")
    folder = tmp_path / "run"
    assert Runner(cfg, folder, should_stop=StopAfter(5), progress=False).run() == 0
    weights_file = model / "model.safetensors"
    changed = load_file(weights_file)
    name = next(k for k in changed if "encoder.layer.0.attention.self.query.weight" in k)
    changed[name] = changed[name] + 0.01
    save_file(changed, str(weights_file), metadata={"format": "pt"})
    assert Runner(cfg, folder, progress=False, resume=True).run() == 1
    assert "frozen weights of the run's model differ from those it trained on" in read_status(folder)["error"]
    assert (folder / STATE_FILE).exists()  # refused, not spent


def test_a_snapshot_that_kept_every_weight_still_resumes(tiny_models, tiny_data, tmp_path):
    """States saved before snapshots left the frozen weights out hold them all, and no checksum."""
    cfg = config(tiny_models["bert"], tiny_data, "lora")
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert Runner(cfg, whole, progress=False).run() == 0
    assert Runner(cfg, parts, should_stop=StopAfter(5), progress=False).run() == 0
    snapshot = torch.load(parts / STATE_FILE, weights_only=True)
    model = methods.get("lora").build(cfg, {0: "neg", 1: "pos"})
    everything = model.state_dict()
    everything.update(snapshot["model"])
    del snapshot["frozen"]
    save_state(parts, {**snapshot, "model": everything})
    assert Runner(cfg, parts, progress=False, resume=True).run() == 0
    a, b = (json.loads((f / "results.json").read_text()) for f in (whole, parts))
    assert b["test"] == pytest.approx(a["test"], abs=1e-6)


def test_trimming_keeps_what_the_snapshot_had_seen(tmp_path):
    path = tmp_path / "metrics.jsonl"
    lines = [
        {"step": 2, "loss": 0.7},
        {"step": 4, "eval_accuracy": 0.6, "eval_loss": 0.6},
        {"step": 6, "loss": 0.5},
        {"step": 6, "eval_accuracy": 0.7, "eval_loss": 0.5},
        {"step": 6, "test_accuracy": 0.7},
        {"step": 8, "loss": 0.4},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines) + "{half a line")
    cursor = MetricsCursor(path)
    assert len(cursor.read_new()) == 6
    trim_metrics(path, step=6, last_eval=4)  # a stop at 6: its evaluation and test row go; nothing after 6 stays
    assert [json.loads(x) for x in path.read_text().splitlines()] == lines[:3]
    again = cursor.read_new()
    assert cursor.restarted and again == lines[:3]  # a follower sees the file was replaced, not that nothing changed


def test_the_queue_resumes_a_stopped_run_at_the_back(tmp_path):
    jm = JobManager(tmp_path / "runs", max_running=1, launcher=fake_launcher)
    first = submit(jm, steps=200, step_s=0.05)
    jm.stop(first, wait=True)
    assert state(jm, first) == "stopped"
    with pytest.raises(JobError, match="no saved training state"):
        jm.resume(first)
    (jm.root / first / STATE_FILE).write_bytes(b"x")  # the fake worker saves none; the queue only looks for it
    blocker = submit(jm, steps=200, step_s=0.05)
    waiting = submit(jm, steps=2, step_s=0.01)
    assert jm.resume(first) == "queued to resume from its last saved state"  # one saved before steps were noted
    st = read_status(jm.root / first)
    assert st["state"] == "queued" and st["args"][-1] == "--resume" and st["finished"] is None and st["error"] is None
    assert st["spent_before"] > 0 and st["started"] is None
    queue = [r["id"] for r in sorted(jm.list(), key=lambda r: r["queued"]) if r["state"] == "queued"]
    assert queue == [waiting, first]  # behind the run queued before it, though submitted first
    jm.stop(blocker, wait=True)
    assert wait_for(lambda: state(jm, first) in ("running", "done"))
    assert wait_for(lambda: state(jm, first) == "done", timeout=30)
    assert read_status(jm.root / first)["args"].count("--resume") == 1


def test_a_resume_cancelled_while_it_waits_leaves_the_run_stopped_and_resumable(tmp_path):
    jm = JobManager(tmp_path / "runs", max_running=1, launcher=fake_launcher)
    blocker = submit(jm, steps=200, step_s=0.05)
    run = jm.submit(RunConfig.of(method="full"), ["1", "0", "polite"])
    write_status(jm.root / run, "stopped", started=100.0, finished=160.0)
    save_state(jm.root / run, {"step": 25, "model": {}})
    assert jm.resume(run) == "queued to resume from step 25"  # it waits behind the running one
    assert jm.stop(run) == "resume cancelled: the run stays stopped, and Resume goes on from step 25"
    (row,) = [r for r in jm.list() if r["id"] == run]
    assert row["state"] == "stopped" and row["resumable"] and row["resume_step"] == 25
    assert runs_frame([row])["time"].tolist() == ["1m00s"]  # the minute it trained, nothing added by the wait
    assert jm.resume(run) == "queued to resume from step 25"  # and its state goes on, not lost
    jm.stop(blocker, wait=True)


@pytest.mark.parametrize(
    "run_state, message", [("done", "only a stopped or failed run"), ("queued", "only a stopped or failed run")]
)
def test_only_stopped_or_failed_runs_resume(run_state, message, tmp_path):
    jm = JobManager(tmp_path / "runs", max_running=1, launcher=fake_launcher)
    run = jm.submit(RunConfig.of(method="full"), ["1", "0", "polite"])
    write_status(jm.root / run, run_state)
    (jm.root / run / STATE_FILE).write_bytes(b"x")
    with pytest.raises(JobError, match=message):
        jm.resume(run)


def test_an_svm_run_has_nothing_to_resume(tmp_path):
    jm = JobManager(tmp_path / "runs", max_running=1, launcher=fake_launcher)
    run = jm.submit(RunConfig.of(method="svm"), ["1", "0", "polite"])
    write_status(jm.root / run, "failed")
    with pytest.raises(JobError, match="SVM"):
        jm.resume(run)


def test_a_killed_worker_resumes_through_the_real_queue(tiny_models, tiny_data, tmp_path):
    """The app's path: a real worker, killed hard mid-run (as by a restart), resumed from the Jobs CLI."""
    root = tmp_path / "runs"
    env_cli = [sys.executable, "-m", "sentiment_lab.jobs"]
    import os

    env = {**os.environ, "SENTIMENT_LAB_CHECKPOINTS": str(root)}
    flags = [
        "--method",
        "full",
        "--model",
        str(tiny_models["distilbert"]),
        "--dataset",
        str(tiny_data),
        "--epochs",
        "40",
        "--batch_size",
        "8",
        "--max_length",
        "32",
        "--device",
        "cpu",
    ]
    run = subprocess.run(
        env_cli + ["submit", *flags], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    ).stdout.split()[-1]
    jm = JobManager(root)

    def now():
        return {r["id"]: r["state"] for r in jm.list()}[run]  # list() also marks a dead worker's run failed

    assert wait_for(lambda: (root / run / STATE_FILE).is_file(), timeout=120), jm.logs(run)
    os.killpg(read_status(root / run)["pgid"], 9)
    assert wait_for(lambda: now() == "failed", timeout=30)
    saved = torch.load(root / run / STATE_FILE, weights_only=True)["step"]
    out = subprocess.run(env_cli + ["resume", run], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "queued to resume" in out.stdout, out.stderr
    assert wait_for(lambda: now() == "done", timeout=300), jm.logs(run)
    assert f"resuming from step {saved}" in jm.logs(run)
    steps = [r["step"] for r in rows(root / run) if "loss" in r]
    assert steps == sorted(set(steps)) and steps[-1] == 320  # no step logged twice, none missing at the end
    assert not (root / run / STATE_FILE).exists()


def test_resume_flags_must_agree_with_the_runs_config(tiny_models, tiny_data, tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    config(tiny_models["bert"], tiny_data, "full").save(folder / "config.json")
    cmd = [sys.executable, "-m", "sentiment_lab.train", "--output_dir", str(folder), "--resume"]
    out = subprocess.run(cmd + ["--lr", "1e-3"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "differ from its config.json: resolved_lr" in out.stderr
    out = subprocess.run(cmd[:3] + ["--resume"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "--output_dir" in out.stderr


def test_a_state_that_cannot_be_written_does_not_fail_the_run(tiny_models, tiny_data, tmp_path, monkeypatch, capsys):
    import sentiment_lab.training.runner as runner

    def full_disk(folder, snapshot):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runner, "save_state", full_disk)
    folder = tmp_path / "run"
    assert Runner(config(tiny_models["bert"], tiny_data, "adapters"), folder, progress=False).run() == 0
    assert read_status(folder)["state"] == "done" and "training state at step 4 not saved" in capsys.readouterr().out


def test_the_run_list_shows_the_step_resume_goes_on_from(tmp_path):
    from sentiment_lab.training.state import drop_state, save_state, saved_step
    from sentiment_lab.ui.tables import runs_frame

    save_state(tmp_path, {"step": 25, "model": {}})
    assert saved_step(tmp_path) == 25
    row = {"id": "r", "state": "stopped", "step": 40, "total_steps": 50, "epoch": 0.8, "resumable": True}
    assert runs_frame([{**row, "resume_step": 25}])["progress"].tolist() == ["25/50 saved"]  # not the last logged 40
    drop_state(tmp_path)
    assert saved_step(tmp_path) is None and not list(tmp_path.iterdir())
