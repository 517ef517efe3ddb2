"""Faults: damaged run folders, interrupted saves, a full disk, two managers at once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading

import pytest
from conftest import ROOT
from fakes.worker import fake_launcher

from sentiment_lab.runs.queue import JobManager
from sentiment_lab.storage import atomic_dir, write_json_atomic
from sentiment_lab.training.config import RunConfig
from sentiment_lab.training.records import read_status, write_status


def tiny_run(root, method, model, data, *extra):
    env = {**os.environ, "SENTIMENT_LAB_CHECKPOINTS": str(root)}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "sentiment_lab.train",
            "--method",
            method,
            "--model",
            str(model),
            "--dataset",
            str(data),
            "--epochs",
            "1",
            *extra,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_interrupted_saves_never_look_complete(tmp_path):
    target = tmp_path / "artefacts"
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(target) as tmp:
            (tmp / "weights.safetensors").write_bytes(b"half")
            raise KeyboardInterrupt  # the process dies mid-save
    assert not target.exists() and not list(tmp_path.iterdir())
    write_json_atomic(tmp_path / "results.json", {"ok": 1})
    real_replace = os.replace
    try:
        os.replace = lambda *a: (_ for _ in ()).throw(OSError("killed"))
        with pytest.raises(OSError):
            write_json_atomic(tmp_path / "results.json", {"ok": 2})
    finally:
        os.replace = real_replace
    assert json.loads((tmp_path / "results.json").read_text()) == {"ok": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_missing_status_and_damaged_weights_leave_other_runs_answering(tmp_path, finished_runs):
    from sentiment_lab.serving.predict import Predictor

    shutil.copytree(finished_runs, tmp_path, dirs_exist_ok=True)
    jm = JobManager(tmp_path)
    runs = {r["method"]: r["id"] for r in jm.list()}
    (tmp_path / runs["freeze"] / "artefacts" / "head.safetensors").write_bytes(b"garbage")
    (tmp_path / runs["svm"] / "status.json").unlink()
    rows = {r["id"]: r for r in jm.list()}
    assert rows[runs["svm"]]["state"] == "failed" and "status.json is missing" in rows[runs["svm"]]["error"]
    answers = {
        r["method"]: r for r in Predictor(jm).predict("a good movie", {"full": runs["full"], "freeze": runs["freeze"]})
    }
    assert "label" in answers["full"]
    assert "could not be used" in answers["freeze"]["error"]
    assert "no finished svm run" in answers["svm"]["error"]
    assert json.loads((tmp_path / runs["full"] / "results.json").read_text())["test"]["accuracy"] >= 0


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mount"), reason="needs root to mount a small tmpfs")
def test_disk_full_during_save_fails_the_run_cleanly(tmp_path, tiny_models, tiny_data):
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)]).returncode != 0:
        pytest.skip("cannot mount tmpfs here")
    try:
        other = disk / "other"
        other.mkdir()
        write_json_atomic(other / "results.json", {"test": {"accuracy": 0.9}})
        filler = disk / "filler"
        filler.write_bytes(b"\0" * (256 * 1024 - 64 * 1024))  # leaves ~64 KB: logs fit, the model does not
        proc = tiny_run(tmp_path, "full", tiny_models["bert"], tiny_data, "--output_dir", str(disk / "run"))
        status = read_status(disk / "run")
        said = "the disk holding the run is full (no space left on device)"
        assert proc.returncode == 1 and status["state"] == "failed" and said in status["error"], proc.stdout[-1500:]
        assert "MB free on its disk); a resume starts from the last state saved" in proc.stdout  # a snapshot too big
        assert not (disk / "run" / "artefacts").exists()
        assert not [p for p in (disk / "run").iterdir() if p.name.endswith(".tmp")]
        assert json.loads((other / "results.json").read_text()) == {"test": {"accuracy": 0.9}}
    finally:
        subprocess.run(["umount", str(disk)])


def test_two_managers_never_start_the_same_run_twice(tmp_path):
    a = JobManager(tmp_path, max_running=1, launcher=fake_launcher)
    b = JobManager(tmp_path, max_running=1, launcher=fake_launcher)
    ids = [
        a.submit(RunConfig(), ["300", "0.05", "polite"]) if i % 2 else b.submit(RunConfig(), ["300", "0.05", "polite"])
        for i in range(4)
    ]
    threads = [threading.Thread(target=m.advance) for m in (a, b) * 5]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    states = [read_status(tmp_path / i)["state"] for i in ids]
    assert states.count("running") == 1 and states.count("queued") == 3
    for i in ids:
        (a if i in a.children else b).stop(i, wait=True)


def test_the_app_and_a_worker_writing_a_runs_status_at_once_keep_each_others_fields(tmp_path):
    """The app writes a run's pid and stop request while its worker writes its phase each second: a read and
    write of one, unlocked, could drop a field the other had just written (a lost pid reads as a dead run)."""
    folder = tmp_path / "run"
    folder.mkdir()
    write_status(folder, "running")
    writer = (
        "import sys; from pathlib import Path; from sentiment_lab.training.records import write_status\n"
        "for i in range(300): write_status(Path(sys.argv[1]), 'running', **{f'{sys.argv[2]}{i}': i})"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", writer, str(folder), who], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}
        )
        for who in ("app", "worker")
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    status = read_status(folder)
    assert {f"{who}{i}" for who in ("app", "worker") for i in range(300)} <= set(status)


@pytest.mark.parametrize("state, after", [("running", "stopped"), ("failed", "failed"), ("done", "done")])
def test_a_stop_before_the_loop_asks_stops_only_a_run_still_going(state, after, tmp_path, monkeypatch):
    """SIGTERM before the loop's first check ends the process at once. The launcher also sends it to the other
    processes when one has failed, and it may reach a run (an SVM's, which never asks) that has just ended:
    neither's words are replaced by "stopped by the user"."""
    from sentiment_lab.runs import worker
    from sentiment_lab.training.records import read_status, write_status

    write_status(
        tmp_path, state, error="out of cuda memory at step 3 in one of 2 processes" if state == "failed" else None
    )
    monkeypatch.setattr(worker.os, "_exit", lambda code: None)
    worker.StopFlag(tmp_path)._on_signal()
    status = read_status(tmp_path)
    assert status["state"] == after
    if state == "failed":
        assert status["error"].startswith("out of cuda memory")
