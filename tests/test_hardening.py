"""Bad input from visitors: reviews, run names, uploads, demo limits, auth, pushing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ROOT
from hypothesis import given, settings
from hypothesis import strategies as st

from sentiment_lab.runs.hub import PushError, push_run
from sentiment_lab.runs.paths import RunIdError, check_run_name, new_run_id, run_dir
from sentiment_lab.runs.queue import JobError, JobManager
from sentiment_lab.serving.predict import MAX_REVIEW_CHARS, ReviewError, check_review
from sentiment_lab.training.config import ConfigError, RunConfig
from sentiment_lab.training.data import DatasetError, load_dataset
from sentiment_lab.ui.access import DemoLimits, parse_auth


@given(st.text(max_size=6000))
@settings(max_examples=300, deadline=None)
def test_any_review_is_accepted_as_text_or_refused_clearly(text):
    try:
        out = check_review(text)
    except ReviewError as e:
        assert "review" in str(e)
        return
    assert out and out == out.strip() and len(out) <= MAX_REVIEW_CHARS and "\x00" not in out


@pytest.mark.parametrize(
    "text,message",
    [("", "empty"), ("   \n\t", "empty"), ("x" * 1_000_000, "1,000,000 characters"), (None, "must be text")],
)
def test_bad_reviews(text, message):
    with pytest.raises(ReviewError, match=message):
        check_review(text)


@pytest.mark.parametrize(
    "text", ["😀 great film 🎬", "فيلم رائع", "שלום a good movie 很好", "<script>alert(1)</script><b>ok</b>"]
)
def test_unusual_reviews_pass_through_unchanged(text):
    assert check_review(text) == text


@given(st.text(max_size=600))
@settings(max_examples=500, deadline=None)
def test_no_run_name_escapes_the_runs_folder(tmp_path_factory, name):
    root = tmp_path_factory.getbasetemp() / "root"
    try:
        check_run_name(name)
        run_id = new_run_id("full", "minilm", name)
        folder = run_dir(run_id, root)
    except RunIdError:
        return
    assert folder.parent == root and "/" not in run_id and ".." not in run_id and "\x00" not in run_id


@pytest.mark.parametrize("name", ["a/b", "../../x", "..", "x\x00y", "x" * 500, "/etc/passwd", ".hidden"])
def test_unsafe_run_names_are_refused(name):
    with pytest.raises(RunIdError):
        check_run_name(name)


def test_stopping_a_run_that_does_not_exist(tmp_path):
    with pytest.raises(JobError, match="no run named"):
        JobManager(tmp_path).stop("full-minilm-20260101-000000-abcd")


@pytest.mark.parametrize(
    "content,name,message",
    [
        ("text,label\nonly,1\nones,1\n", "one.csv", "only one class"),
        ("review,label\ngood,1\nbad,0\n", "col.csv", "no column 'text'"),
        ("text,label\ngood,0.5\nbad,0.25\n", "frac.csv", "fractional"),
        ("", "empty.csv", "is empty"),
        ("\x00\x01\x02 not a table", "bin.parquet", "could not be read as a table"),
        (
            "PK workbook",
            "reviews.xlsx",
            r"unsupported file type '.xlsx'; .* \(from a spreadsheet: save it as CSV UTF-8\)",
        ),
    ],
)
def test_bad_datasets_give_one_clear_message(tmp_path, content, name, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DatasetError, match=message):
        load_dataset(str(path))


@pytest.mark.parametrize("name", ["reviews.csv", "my reviews.parquet", "data/train.jsonl", "sheet.xlsx"])
def test_a_data_file_that_is_not_there_is_named_not_looked_up_on_the_hub(name, monkeypatch):
    monkeypatch.chdir(os.path.dirname(__file__))  # where no such file is
    monkeypatch.setattr("sentiment_lab.training.data.read_hub", lambda _: pytest.fail("looked up on the Hub"))
    with pytest.raises(DatasetError, match=f"there is no data file '{name}' here"):
        load_dataset(name)


def test_non_utf8_csv_is_named(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(("text,label\n" + "".join(f"d\xe9j\xe0 vu {i},{i % 2}\n" for i in range(30))).encode("latin-1"))
    ds = load_dataset(str(path))
    assert ds.splits["train"].texts[0].startswith("déjà vu") and "not UTF-8" in ds.warnings[0]


def test_demo_limits():
    demo = DemoLimits()
    cfg = demo.check(RunConfig.of(method="lora", epochs=1).validated(), busy=1)
    assert cfg.data.max_train_samples == demo.max_train_samples
    for bad, message in (
        ({"epochs": 3}, "epochs"),
        ({"model": "bert-base-uncased"}, "bundled"),
        ({"batch_size": 512}, "batch_size"),
    ):
        with pytest.raises(ConfigError, match=message):
            demo.check(RunConfig.of(**{"epochs": 1, **bad}).validated(), busy=1)


def test_a_demo_visitor_trains_on_the_default_data_or_an_upload_never_on_the_servers_files(tmp_path):
    from sentiment_lab.ui.services import Services

    services = Services(tmp_path / "runs", demo=DemoLimits())
    server_file = tmp_path / "private.csv"
    server_file.write_text("text,label\nsecret one,0\nsecret two,1\n")
    uploaded = services.uploads / "reviews-0123.csv"
    uploaded.parent.mkdir(parents=True)
    uploaded.write_text(server_file.read_text())
    for dataset in (str(server_file), str(services.uploads / ".." / ".." / "private.csv"), "someone/data"):
        with pytest.raises(ConfigError, match="or a file you upload \\(no other dataset, nor the server's files\\)"):
            services.submit({"method": "svm", "dataset": dataset})
        assert not services.may_read(dataset, None)  # nor does the form read its columns or classes
    assert services.may_read(str(server_file), "/tmp/gradio/upload.csv")  # an upload is the visitor's own file
    demo = DemoLimits()
    for allowed in ("cornell-movie-review-data/rotten_tomatoes", str(uploaded)):
        cfg = RunConfig.of(method="svm", dataset=allowed).validated()
        assert demo.check(cfg, busy=1, uploads=services.uploads) is cfg
    assert Services(tmp_path / "own").may_read(str(server_file), None)  # outside the demo, any local table


def test_auth_parsing(monkeypatch):
    assert parse_auth("ann:pw,bob:x:y") == [("ann", "pw"), ("bob", "x:y")]
    monkeypatch.delenv("SENTIMENT_LAB_AUTH", raising=False)
    assert parse_auth(None) is None
    with pytest.raises(ValueError, match="user:password"):
        parse_auth("nopassword")


def test_push_says_clearly_why_nothing_can_be_pushed(tmp_path, monkeypatch):
    jm = JobManager(tmp_path)
    folder = tmp_path / "full-minilm-20260101-000000-abcd"
    folder.mkdir()
    RunConfig().validated().save(folder / "config.json")
    with pytest.raises(PushError, match="not finished"):
        push_run(jm, folder.name, "me/repo", "tok")
    (folder / "artefacts").mkdir()
    (folder / "status.json").write_text('{"state": "done"}')
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(PushError, match="no Hugging Face token"):
        push_run(jm, folder.name, "me/repo", None)
    with pytest.raises(PushError, match="cannot be reached"):
        push_run(jm, folder.name, "me/repo", "tok")


def test_demo_counts_runs_per_visitor_and_in_all():
    demo = DemoLimits()
    ok = RunConfig.of(epochs=1).validated()
    assert demo.check(ok, busy=5, mine=5) is ok
    with pytest.raises(ConfigError, match="per visitor"):
        demo.check(ok, busy=6, mine=6)
    with pytest.raises(ConfigError, match="in all"):
        demo.check(ok, busy=11, mine=1)


def test_visitor_key_prefers_the_proxy_header():
    from types import SimpleNamespace

    from sentiment_lab.ui.access import visitor_key

    a = SimpleNamespace(headers={"x-forwarded-for": "1.2.3.4, 10.0.0.1"}, client=SimpleNamespace(host="10.0.0.1"))
    b = SimpleNamespace(headers={}, client=SimpleNamespace(host="1.2.3.4"))
    c = SimpleNamespace(headers={}, client=SimpleNamespace(host="5.6.7.8"))
    assert visitor_key(a) == visitor_key(b) != visitor_key(c) and "1.2.3.4" not in visitor_key(a)


@pytest.mark.parametrize(
    "env, flags, message",
    [
        ({}, ["--max-runs", "0"], "--max-runs must be a whole number of at least 1, got 0"),
        (
            {"SENTIMENT_LAB_MAX_RUNS": "two"},
            [],
            "SENTIMENT_LAB_MAX_RUNS must be a whole number of at least 1, got 'two'",
        ),
        ({"SENTIMENT_LAB_NUM_PROCESSES": "-2"}, [], "SENTIMENT_LAB_NUM_PROCESSES must be a whole number of at least 1"),
        ({"SENTIMENT_LAB_NUM_PROCESSES": "999"}, [], "SENTIMENT_LAB_NUM_PROCESSES must be at most"),
        ({"SENTIMENT_LAB_ACCELERATE_CONFIG": "no-such.yaml"}, [], "names 'no-such.yaml', which is not a file"),
    ],
)
def test_the_app_and_the_jobs_cli_refuse_bad_launch_settings_at_start(env, flags, message, tmp_path):
    """A queue of -1 or 0 slots never started a run, and a bad count of processes failed every launch: each is
    one message naming the setting, before anything starts."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("SENTIMENT_LAB_")}
    env = {**base, "SENTIMENT_LAB_CHECKPOINTS": str(tmp_path), "CUDA_VISIBLE_DEVICES": "", **env}
    commands = [["app.py", "--port", "0", *flags]] + ([["-m", "sentiment_lab.jobs", "list"]] if not flags else [])
    for command in commands:
        done = subprocess.run(
            [sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr[-2000:]


def test_the_app_refuses_a_bad_setting_before_it_loads_gradio_or_torch(tmp_path):
    """A refusal comes in a moment, not after the seconds the web app's imports take."""
    probe = (
        "import runpy, sys\n"
        "sys.argv = ['app.py', '--max-runs', '0']\n"
        "try:\n    runpy.run_path('app.py', run_name='__main__')\n"
        "except SystemExit as e:\n    print(e.code, sorted({'gradio', 'torch'} & set(sys.modules)))\n"
    )
    env = {**os.environ, "SENTIMENT_LAB_CHECKPOINTS": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "2 []" and "--max-runs must be a whole number" in done.stderr, done.stderr[-2000:]


def test_a_rate_far_above_the_methods_default_is_said_before_queueing(tiny_data, tmp_path, monkeypatch, capsys):
    """LoRA's rate left in the form after switching to full fine-tuning: queued, with a warning beside it."""
    from sentiment_lab import jobs
    from sentiment_lab.ui.services import Services

    services = Services(tmp_path / "runs")
    services.jobs = JobManager(tmp_path / "runs", launcher=lambda run_id, folder, args, **_: [sys.executable, "-c", ""])
    form = {"model": "minilm", "dataset": str(tiny_data)}
    said = services.submit({**form, "method": "full", "lr": "2e-3"}).warnings
    assert "learning rate 0.002 is 40x the full default (5e-05): this far above it a run usually stops learning " \
        "(a rate meant for another method?)" in said  # fmt: skip
    assert not any("learning rate" in w for w in services.submit({**form, "method": "lora", "lr": "2e-3"}).warnings)
    assert not any("learning rate" in w for w in services.submit({**form, "method": "full"}).warnings)
    monkeypatch.setattr(JobManager, "advance", lambda self: [])  # were anything queued, it would not train
    argv = ["submit", "--method", "adapters", "--lr", "0.05", "--dataset", str(tiny_data)]
    assert jobs.main(argv) == 0
    assert "warning: learning rate 0.05 is 50x the adapters default (0.001)" in capsys.readouterr().err


def test_a_runs_log_says_its_rate_is_far_above_the_default_however_it_was_started(
    tiny_models, tiny_data, tmp_path, capsys
):
    from sentiment_lab.training.runner import Runner

    cfg = RunConfig.of(
        method="freeze",
        model=str(tiny_models["bert"]),
        dataset=str(tiny_data),
        lr=0.01,
        epochs=1,
        device="cpu",
        bf16="off",
        max_train_samples=32,
    ).validated()
    assert Runner(cfg, tmp_path / "run", progress=False).run() == 0
    assert "warning: learning rate 0.01 is 20x the freeze default (0.0005)" in capsys.readouterr().out
