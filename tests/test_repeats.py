"""A run queued with the settings of one already here is said to repeat it, beside the queued run: a second
click, a finished run trained again, or a stopped one that Resume would take on."""

from __future__ import annotations

import json

import pytest

from sentiment_lab.runs.queue import JobManager
from sentiment_lab.training.records import write_status
from sentiment_lab.training.state import STATE_FILE


@pytest.fixture
def services(tmp_path, monkeypatch):
    from sentiment_lab.ui.services import Services

    monkeypatch.setattr(JobManager, "advance", lambda self: [])  # nothing starts: queued runs stay queued
    return Services(tmp_path / "runs")


def warnings_of(services, form) -> list[str]:
    return services.submit(form).warnings


def test_a_second_click_finished_run_and_stopped_run_are_each_said(services, tiny_data):
    form = {"method": "svm", "dataset": str(tiny_data), "run_name": "first"}
    assert not any("same settings" in w for w in warnings_of(services, form))
    # The same settings under another name: still a repeat, named as the run list names it.
    (said,) = [w for w in warnings_of(services, {**form, "run_name": "again"}) if "same settings" in w]
    assert (
        said == "`first` has the same settings and is still to end: if this was a second click, Stop / Cancel the copy"
    )
    assert not any("same settings" in w for w in warnings_of(services, {**form, "seed": "7"}))  # another seed

    ids = {services.name_of(r["id"]): r["id"] for r in services.jobs.list()}
    first, again = (services.jobs.folder(ids[n]) for n in ("first", "again"))
    write_status(first, "done", finished=1.0)
    (first / "results.json").write_text(json.dumps({"labels": ["neg", "pos"], "test": {"accuracy": 0.8125}}))
    write_status(again, "stopped")
    (again / STATE_FILE).write_bytes(b"saved state")  # the list only asks that there is one
    said = warnings_of(services, form)
    assert (
        "`first` already trained the same settings (test accuracy 0.8125): another seed shows how far a run "
        "lands from it" in said
    )
    assert (
        "`again` stopped with the same settings and can go on: Resume takes it from where it stopped "
        "instead of from the start" in said
    )


def test_a_run_that_failed_with_the_same_settings_is_said_with_its_reason(services, tiny_data):
    form = {"method": "svm", "dataset": str(tiny_data)}
    services.submit(form)
    (row,) = services.jobs.list()
    write_status(services.jobs.folder(row["id"]), "failed", error="out of cpu memory at step 3: lower Max length")
    assert (
        f"`{services.name_of(row['id'])}` failed with the same settings (out of cpu memory at step 3: lower Max "
        "length): unless what failed it has changed since, this run may fail the same way"
        in warnings_of(services, form)
    )


def test_every_run_a_form_queues_is_checked_and_several_repeats_are_said_once(services, tiny_data):
    form = {"method": "svm", "dataset": str(tiny_data), "seed": "1, 2"}
    services.submit(form)
    (said,) = [w for w in warnings_of(services, form) if "same settings" in w]
    assert (
        said == "`SVM minilm s2` and `SVM minilm s1` have the same settings and are still to end: if this was a second "
        "click, Stop / "
        "Cancel the copies"
    )


def test_the_jobs_cli_warns_of_a_repeat_before_it_queues(tiny_data, isolated_checkpoints, monkeypatch, capsys):
    from sentiment_lab import jobs

    monkeypatch.setattr(JobManager, "advance", lambda self: [])
    argv = ["submit", "--method", "svm", "--dataset", str(tiny_data)]
    assert jobs.main(argv) == 0
    first = capsys.readouterr().out.strip()
    assert jobs.main(argv) == 0
    assert f"warning: `{first}` has the same settings and is still to end" in capsys.readouterr().err
