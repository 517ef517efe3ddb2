"""A run whose encoder trains writes the whole model into its training state, twice over as each snapshot is
written beside the last: queued onto a disk short of that, it is said, before hours of training end in a
failed save."""

from __future__ import annotations

import collections
import errno
import shutil

import pytest
import torch
from test_resume import StopAfter, config
from transformers import AutoConfig, AutoModelForSequenceClassification

from sentiment_lab import jobs
from sentiment_lab.runs.queue import JobManager
from sentiment_lab.training import methods, runner
from sentiment_lab.training.config import RunConfig
from sentiment_lab.training.records import read_status, write_status
from sentiment_lab.training.runner import Runner
from sentiment_lab.training.state import STATE_FILE, save_state
from sentiment_lab.ui.services import Services

Usage = collections.namedtuple("Usage", "total used free")


def weights_of(model_folder) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in AutoModelForSequenceClassification.from_config(
            AutoConfig.from_pretrained(model_folder)).parameters())  # fmt: skip


def test_the_need_is_what_a_full_run_holds_while_a_snapshot_replaces_the_last(tiny_models, tiny_data, tmp_path):
    cfg = config(tiny_models["bert"], tiny_data, "full")
    folder = tmp_path / "run"
    assert Runner(cfg, folder, should_stop=StopAfter(5), progress=False).run() == 0  # after an evaluation: a kept copy
    state = (folder / STATE_FILE).stat().st_size
    need = methods.PEAK_COPIES * 4 * weights_of(tiny_models["bert"])
    assert need / 2 <= state <= need / 2 + 100_000  # the four copies, and the counters and random state besides


def test_a_full_run_onto_a_disk_short_of_its_need_is_said_and_the_others_are_not(tiny_models):
    model = tiny_models["bert"]
    need = methods.PEAK_COPIES * 4 * weights_of(model)
    full = config(model, model, "full")
    (said,) = methods.check(full, free_bytes=need - 1)
    assert said.startswith(
        f"the disk holding the runs has 0.0 GB free, and a full run of {str(model)!r} holds up to "
    ) and said.endswith(
        "while it trains (its training state, written anew at each evaluation): delete runs you no longer need, "
        "or it may fail when it saves"
    )
    assert methods.check(full, free_bytes=need) == [] and methods.check(full) == []
    for method in ("lora", "adapters", "freeze", "svm"):  # a frozen encoder stays out of the state
        assert methods.check(config(model, model, method), free_bytes=0) == []


@pytest.mark.parametrize("free, said", [(1000, True), (10**12, False)])
def test_the_train_form_and_jobs_submit_say_it(free, said, tiny_models, tiny_data, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(JobManager, "advance", lambda self: [])  # nothing starts: queued runs stay queued
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(2 * free, free, free))
    services = Services(tmp_path / "runs")
    form = {"method": "full", "model": str(tiny_models["bert"]), "dataset": str(tiny_data)}
    warnings = services.submit(form).warnings
    assert any(w.startswith("the disk holding the runs has") for w in warnings) == said
    monkeypatch.setenv("SENTIMENT_LAB_CHECKPOINTS", str(tmp_path / "cli"))
    args = ["submit", "--method", "full", "--model", str(tiny_models["bert"]), "--dataset", str(tiny_data)]
    assert jobs.main(args) == 0
    assert ("warning: the disk holding the runs has" in capsys.readouterr().err) == said


def test_a_run_whose_disk_fills_as_it_saves_says_so_and_resumes_once_there_is_room(
    tiny_models, tiny_data, tmp_path, monkeypatch
):
    cfg = config(tiny_models["bert"], tiny_data, "full")
    folder = tmp_path / "run"
    save = methods.full.save

    def no_room(model, path, *args):
        raise OSError(errno.ENOSPC, "No space left on device", str(path / "model.safetensors"))

    monkeypatch.setattr(methods.full, "save", no_room)
    assert Runner(cfg, folder, progress=False).run() == 1
    status = read_status(folder)
    assert status["error"] == (
        "the disk holding the run is full (no space left on device): delete runs you no longer need, then Resume "
        "goes on from step 12"
    )
    assert not (folder / "artefacts").exists()  # nothing half-written in the model's place
    monkeypatch.setattr(methods.full, "save", save)
    assert Runner(cfg, folder, progress=False, resume=True).run() == 0
    assert read_status(folder)["state"] == "done" and (folder / "artefacts" / "model.safetensors").is_file()


def test_a_snapshot_that_cannot_be_written_is_said_with_the_room_left_and_the_run_goes_on(
    tiny_models, tiny_data, tmp_path, monkeypatch, capsys
):
    def torch_on_a_full_disk(folder, snapshot):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534")

    monkeypatch.setattr(runner, "save_state", torch_on_a_full_disk)
    assert Runner(config(tiny_models["bert"], tiny_data, "lora"), tmp_path / "run", progress=False).run() == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note: training state")]
    assert len(notes) == 3 and all("MB free on its disk); a resume starts from the last state" in n for n in notes)


@pytest.mark.parametrize("free, said", [(1000, True), (10**12, False)])
def test_a_resume_onto_a_disk_short_of_its_next_snapshot_is_said(free, said, tmp_path, monkeypatch):
    monkeypatch.setattr(JobManager, "advance", lambda self: [])  # nothing starts: the resume stays queued
    jm = JobManager(tmp_path / "runs", max_running=1)
    run = jm.submit(RunConfig.of(method="full"))
    write_status(jm.root / run, "stopped")
    save_state(jm.root / run, {"step": 7, "model": {"w": torch.zeros(10_000)}})
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(2 * free, free, free))
    answer = jm.resume(run)
    assert answer.startswith("queued to resume from step 7")
    assert ("; the disk holding the run has 0.0 GB free, and its next training state" in answer) == said
