"""A run as one zip and back: a round trip, and archives that must not become runs."""

from __future__ import annotations

import json
import zipfile

import pytest
from fakes.runs import finished_run

from sentiment_lab.runs.archive import ArchiveError, export_run, import_run
from sentiment_lab.runs.queue import JobError, JobManager
from sentiment_lab.storage import write_json_atomic
from sentiment_lab.training.records import read_status


def run_with_weights(root, name="lora-a"):
    folder = finished_run(root, name, "lora", 5.0)
    (folder / "artefacts" / "adapter_model.safetensors").write_bytes(b"\0weights" * 100)
    (folder / "artefacts" / "adapter_config.json").write_text("{}")
    (folder / "metrics.jsonl").write_text('{"step": 1, "loss": 0.5}\n')
    write_json_atomic(folder / "test_predictions.json", {"pred": [0, 1], "label": [0, 0]})
    write_json_atomic(folder / "validation_predictions.json", {"pred": [1, 1], "label": [0, 1]})
    return folder


def test_a_run_goes_out_and_comes_back_whole(tmp_path):
    source = run_with_weights(tmp_path / "here")
    archive = export_run(JobManager(tmp_path / "here"), "lora-a", tmp_path / "out")
    assert archive.name == "lora-a.zip"
    there = JobManager(tmp_path / "there")
    assert import_run(there, archive) == "lora-a"
    folder = there.folder("lora-a")
    for name in (
        "config.json",
        "results.json",
        "metrics.jsonl",
        "test_predictions.json",
        "validation_predictions.json",
        "artefacts/adapter_model.safetensors",
    ):
        assert (folder / name).read_bytes() == (source / name).read_bytes(), name
    status = read_status(folder)
    assert status["state"] == "done" and status["imported_from"] == "lora-a" and "pid" not in status
    again = import_run(there, archive)  # the name is taken: a new one, the first run untouched
    assert again.startswith("lora-a-imported-") and sorted(r["id"] for r in there.list()) == ["lora-a", again]
    assert not list((tmp_path / "there").glob(".importing-*"))


def test_only_a_finished_run_with_weights_exports(tmp_path):
    finished_run(tmp_path, "no-weights", "full", 1.0)
    with pytest.raises(JobError, match="has not finished with saved weights"):
        export_run(JobManager(tmp_path), "no-weights", tmp_path / "out")
    folder = run_with_weights(tmp_path, "full-x")
    write_json_atomic(folder / "status.json", {"state": "running"})
    with pytest.raises(JobError, match="has not finished"):
        export_run(JobManager(tmp_path), "full-x", tmp_path / "out")


def archive_of(path, files: dict[str, bytes]):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return path


GOOD = {
    "r/config.json": b'{"method": "lora"}',
    "r/results.json": b'{"labels": ["neg", "pos"]}',
    "r/artefacts/a.safetensors": b"x",
}


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"r/../../evil.json": b"{}"}, "'r/../../evil.json' is not a file a run holds"),
        ({"r/artefacts/model.bin": b"pickle"}, "'r/artefacts/model.bin' is not a file a run holds"),  # would unpickle
        (
            {"r/status.json": b'{"pgid": 1}'},
            "'r/status.json' is not a file a run holds",
        ),  # a pid to signal: never taken
        ({"/etc/cron.d/x": b""}, "is not a file a run holds"),
        ({"r/config.json": b'{"method": "evil"}'}, "config or results cannot be read: method must be one of"),
        ({"r/results.json": b"[]"}, "names no labels"),
    ],
)
def test_archives_that_are_not_runs_are_refused_and_leave_nothing(tmp_path, extra, message):
    jobs = JobManager(tmp_path / "runs")
    with pytest.raises(ArchiveError, match=message):
        import_run(jobs, archive_of(tmp_path / "a.zip", {**GOOD, **extra}))
    assert list((tmp_path / "runs").iterdir()) == []  # no run, no half-unpacked folder


def test_missing_parts_and_non_archives_are_named(tmp_path):
    jobs = JobManager(tmp_path / "runs")
    without_weights = {k: v for k, v in GOOD.items() if "artefacts" not in k}
    with pytest.raises(ArchiveError, match="no artefacts/"):
        import_run(jobs, archive_of(tmp_path / "a.zip", without_weights))
    with pytest.raises(ArchiveError, match="no config.json"):
        import_run(jobs, archive_of(tmp_path / "b.zip", {"results.json": b"{}", "artefacts/a.json": b"{}"}))
    (tmp_path / "c.zip").write_text("not a zip")
    with pytest.raises(ArchiveError, match="c.zip is not a zip archive"):
        import_run(jobs, tmp_path / "c.zip")
    with pytest.raises(ArchiveError, match="no archive at"):
        import_run(jobs, tmp_path / "missing.zip")


def test_a_flat_archive_gets_a_fresh_run_id_and_the_demo_refuses_imports(tmp_path):
    from sentiment_lab.ui.access import DemoLimits
    from sentiment_lab.ui.services import Services

    flat = archive_of(tmp_path / "flat.zip", {k.removeprefix("r/"): v for k, v in GOOD.items()})
    run_id = import_run(JobManager(tmp_path / "runs"), flat)
    assert run_id.startswith("lora-minilm-") and read_status(tmp_path / "runs" / run_id)["imported_from"] == "flat.zip"
    with pytest.raises(JobError, match="demo mode: importing runs is off"):
        Services(tmp_path / "demo", demo=DemoLimits()).import_archive(str(flat))
    with pytest.raises(JobError, match="demo mode: pulling runs in is off"):
        Services(tmp_path / "demo", demo=DemoLimits()).pull("someone/run")


def test_a_damaged_archive_is_named_and_leaves_nothing(tmp_path):
    good = archive_of(tmp_path / "good.zip", {**GOOD, "r/artefacts/big.safetensors": b"w" * 4000})
    data = bytearray(good.read_bytes())
    at = data.find(b"w" * 100)
    data[at : at + 100] = b"x" * 100  # the weights' bytes no longer match their checksum
    (tmp_path / "bad.zip").write_bytes(bytes(data))
    jobs = JobManager(tmp_path / "runs")
    with pytest.raises(ArchiveError, match="bad.zip could not be unpacked"):
        import_run(jobs, tmp_path / "bad.zip")
    assert list((tmp_path / "runs").iterdir()) == []


def fake_hub(monkeypatch, repo_folder, seen):
    """snapshot_download over a local folder, with the Hub's pattern matching (fnmatch: '*' crosses '/')."""
    import fnmatch
    import shutil

    import huggingface_hub

    import sentiment_lab.runs.hub as hub

    def snapshot_download(repo_id, repo_type, local_dir, token, allow_patterns):
        seen.append(repo_id)
        local_dir.mkdir(parents=True, exist_ok=True)
        for file in repo_folder.rglob("*"):
            place = file.relative_to(repo_folder).as_posix()
            if file.is_file() and any(fnmatch.fnmatch(place, p) for p in allow_patterns):
                (local_dir / place).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(file, local_dir / place)
        (local_dir / ".cache").mkdir(exist_ok=True)  # the download's own bookkeeping
        (local_dir / ".cache" / "x.lock").write_text("")
        return str(local_dir)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.setattr(hub, "hub_reachable", lambda: True)


def test_a_pushed_run_is_pulled_back_with_only_its_own_files(tmp_path, monkeypatch):
    from sentiment_lab.runs.hub import PushError, pull_run

    repo = run_with_weights(tmp_path / "pushed")  # the folder a push uploads, plus what a repository may hold
    (repo / "README.md").write_text("# a model card")
    (repo / "artefacts" / "pytorch_model.bin").write_bytes(b"a pickle")
    (repo / "artefacts" / "deeper").mkdir()
    (repo / "artefacts" / "deeper" / "x.json").write_text("{}")
    seen = []
    fake_hub(monkeypatch, repo, seen)
    jobs = JobManager(tmp_path / "runs")
    run_id = pull_run(jobs, "someone/lora-a")
    folder = jobs.folder(run_id)
    assert run_id == "lora-a" and seen == ["someone/lora-a"]
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == [
        "artefacts/adapter_config.json",
        "artefacts/adapter_model.safetensors",
        "config.json",
        "metrics.jsonl",
        "results.json",
        "status.json",
        "test_predictions.json",
        "validation_predictions.json",
    ]
    assert read_status(folder)["imported_from"] == "hf.co/someone/lora-a"
    with pytest.raises(PushError, match="repository must look like user/name"):
        pull_run(jobs, "../x")
    empty = tmp_path / "empty"
    empty.mkdir()
    fake_hub(monkeypatch, empty, seen)
    with pytest.raises(ArchiveError, match="someone/nothing holds no Sentiment Lab run"):
        pull_run(jobs, "someone/nothing")
    model = tmp_path / "model"  # a transformers model's repository: its config.json is no run's
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "distilbert", "architectures": ["X"]}))
    fake_hub(monkeypatch, model, seen)
    with pytest.raises(ArchiveError, match="distilbert/sst2 is a model, not a Sentiment Lab run: to train from it"):
        pull_run(jobs, "https://huggingface.co/distilbert/sst2")  # its address pasted: read as the id
    assert sorted(p.name for p in (tmp_path / "runs").iterdir() if p.is_dir()) == [
        "lora-a"
    ]  # nothing half-pulled left behind


def test_export_carries_only_what_an_import_takes(tmp_path):
    run_with_weights(tmp_path / "here")
    (tmp_path / "here" / "lora-a" / "artefacts" / "stray.bin").write_bytes(b"a pickle")
    archive = export_run(JobManager(tmp_path / "here"), "lora-a", tmp_path / "out")
    assert "lora-a/artefacts/stray.bin" not in zipfile.ZipFile(archive).namelist()
    assert import_run(JobManager(tmp_path / "there"), archive) == "lora-a"  # the zip imports whole


def test_the_command_line_names_a_place_it_cannot_write(tmp_path, monkeypatch, capsys):
    """An --out that is a file (or a --csv in no folder) was a traceback."""
    from sentiment_lab import compare, jobs

    run_with_weights(tmp_path / "runs")
    monkeypatch.setenv("SENTIMENT_LAB_CHECKPOINTS", str(tmp_path / "runs"))
    (tmp_path / "taken.zip").write_text("a file")
    assert jobs.main(["export", "lora-a", "--out", str(tmp_path / "taken.zip")]) == 2
    assert capsys.readouterr().err == f"error: cannot write {tmp_path / 'taken.zip'}: File exists\n"
    assert compare.main(["a", "b", "--csv", str(tmp_path / "no" / "dir" / "answers.csv")]) == 2
    assert capsys.readouterr().err.startswith("error: Cannot save file into a non-existent directory")
