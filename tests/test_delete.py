"""Deleting a run: only ended runs, only that run, never half of it; in the demo only your own."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ROOT
from fakes.runs import finished_run
from fakes.worker import fake_launcher

from sentiment_lab.runs.liveness import group_alive
from sentiment_lab.runs.queue import JobError, JobManager
from sentiment_lab.training.config import RunConfig
from sentiment_lab.training.records import read_status


def snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_deleting_an_ended_run_removes_it_and_nothing_else(tmp_path):
    jm = JobManager(tmp_path, launcher=fake_launcher)
    gone = finished_run(tmp_path, "full-a", "full", 100.0)
    kept = finished_run(tmp_path, "lora-b", "lora", 200.0)
    (gone / "artefacts" / "model.safetensors").write_bytes(b"x" * 1000)
    before = snapshot(kept)
    assert jm.delete("full-a") == "deleted"
    assert not gone.exists() and [r["id"] for r in jm.list()] == ["lora-b"]
    assert snapshot(kept) == before
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".queue")) == ["lora-b"]  # no trash left
    with pytest.raises(JobError, match="no run named"):
        jm.delete("full-a")


@pytest.mark.parametrize("bad", ["../x", "a/b", "", ".", "nul\x00byte"])
def test_unsafe_ids_delete_nothing(tmp_path, bad):
    jm = JobManager(tmp_path / "runs", launcher=fake_launcher)
    finished_run(jm.root, "full-a", "full", 100.0)
    with pytest.raises(JobError):
        jm.delete(bad)
    assert (jm.root / "full-a" / "config.json").is_file() and tmp_path.joinpath("runs").is_dir()


def test_running_and_queued_runs_must_be_stopped_first(tmp_path):
    jm = JobManager(tmp_path, max_running=1, launcher=fake_launcher)
    running = jm.submit(RunConfig.of(method="full"), ["200", "0.05", "polite"])
    queued = jm.submit(RunConfig.of(method="full"), ["1", "0.05", "polite"])
    pgid = read_status(tmp_path / running)["pgid"]
    try:
        with pytest.raises(JobError, match="running: stop it first"):
            jm.delete(running)
        with pytest.raises(JobError, match="queued: cancel it first"):
            jm.delete(queued)
        assert (
            read_status(tmp_path / running)["state"] == "running"
            and read_status(tmp_path / queued)["state"] == "queued"
        )
        jm.stop(queued)
        assert jm.delete(queued) == "deleted"
    finally:
        jm.stop(running, wait=True)
    assert jm.delete(running) == "deleted" and not (tmp_path / running).exists()
    assert not group_alive(pgid)


def test_demo_visitors_stop_and_delete_only_their_own_runs(tmp_path):
    from sentiment_lab.ui.access import DemoLimits
    from sentiment_lab.ui.services import Services

    demo = Services(tmp_path, demo=DemoLimits())
    finished_run(tmp_path, "full-ann", "full", 100.0, owner="ann")
    finished_run(tmp_path, "full-bob", "full", 100.0, owner="bob")
    with pytest.raises(JobError, match="only whoever started run full-bob can delete"):
        demo.delete("full-bob", "ann")
    with pytest.raises(JobError, match="can stop"):
        demo.stop("full-bob", "ann")
    assert demo.delete("full-ann", "ann") == "deleted"
    assert [r["id"] for r in demo.jobs.list()] == ["full-bob"]
    with pytest.raises(JobError, match="choose a run first"):
        demo.delete(None, "ann")
    assert Services(tmp_path).delete("full-bob", "ann") == "deleted"  # outside the demo whoever uses the app may


def test_compare_forgets_a_deleted_run_and_answers_with_the_one_before(tmp_path):
    from sentiment_lab.ui.services import Services

    services = Services(tmp_path)
    finished_run(tmp_path, "lora-old", "lora", 100.0)
    finished_run(tmp_path, "lora-new", "lora", 200.0)
    assert services.predictor.latest_runs()["lora"] == "lora-new"
    services.predictor.models["lora-new"] = ("a loaded model",)  # as after one Compare
    services.delete("lora-new")
    assert "lora-new" not in services.predictor.models and "lora-new" not in services.predictor.methods
    assert services.predictor.latest_runs()["lora"] == "lora-old"


def test_cli_delete(tmp_path):
    finished_run(tmp_path, "svm-a", "svm", 100.0)
    env = {**os.environ, "SENTIMENT_LAB_CHECKPOINTS": str(tmp_path)}
    cli = [sys.executable, "-m", "sentiment_lab.jobs"]
    out = subprocess.run(cli + ["delete", "svm-a"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "deleted" and not (tmp_path / "svm-a").exists()
    again = subprocess.run(cli + ["delete", "svm-a"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "no run named 'svm-a'" in again.stderr


def test_a_run_that_cannot_be_moved_stays_whole_and_says_why(tmp_path, monkeypatch):
    from pathlib import Path

    jm = JobManager(tmp_path, launcher=fake_launcher)
    folder = finished_run(tmp_path, "full-a", "full", 100.0)
    before = snapshot(folder)

    def refuse(self, target):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "rename", refuse)
    with pytest.raises(JobError, match="run full-a could not be deleted: Permission denied"):
        jm.delete("full-a")
    monkeypatch.undo()
    assert snapshot(folder) == before and [r["id"] for r in jm.list()] == ["full-a"]
