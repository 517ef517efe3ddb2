"""The job runner with fake workers: queue order, concurrency, cancel, stop, crashes, restarts."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT
from fakes.worker import fake_launcher

from sentiment_lab.runs.liveness import group_alive
from sentiment_lab.runs.queue import JobError, JobManager
from sentiment_lab.training.config import RunConfig
from sentiment_lab.training.records import read_status, write_status
from sentiment_lab.training.state import save_state


def wait_for(predicate, timeout=15.0, every=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False


def submit(jm, steps=3, step_s=0.1, mode="polite", name=None):
    return jm.submit(RunConfig.of(method="full", run_name=name), [str(steps), str(step_s), mode])


def state(jm, run_id):
    return read_status(jm.root / run_id).get("state")


@pytest.fixture
def jm(tmp_path):
    manager = JobManager(tmp_path / "runs", max_running=1, launcher=fake_launcher)
    yield manager
    for folder in manager.root.iterdir():  # no orphans, whatever a test did
        pgid = read_status(folder).get("pgid")
        if group_alive(pgid) and pgid != os.getpgid(0):
            os.killpg(pgid, signal.SIGKILL)


def test_runs_queue_in_order_one_at_a_time(jm):
    ids = [submit(jm, steps=4, step_s=0.1, name=f"r{i}") for i in range(3)]
    assert [state(jm, i) for i in ids] == ["running", "queued", "queued"]
    assert wait_for(lambda: all(state(jm, i) == "done" for i in ids))
    starts = [read_status(jm.root / i)["started"] for i in ids]
    finishes = [read_status(jm.root / i)["finished"] for i in ids]
    assert starts == sorted(starts)
    assert starts[1] >= finishes[0] and starts[2] >= finishes[1], "a run started before the previous one ended"


def test_concurrency_limit_is_a_setting(tmp_path):
    jm = JobManager(tmp_path, max_running=2, launcher=fake_launcher)
    ids = [submit(jm, steps=20, step_s=0.1) for _ in range(3)]
    assert [state(jm, i) for i in ids] == ["running", "running", "queued"]
    for i in ids:
        jm.stop(i, wait=True)


def test_cancel_a_queued_run(jm):
    first, second = submit(jm, steps=30), submit(jm)
    assert jm.stop(second) == "cancelled" and state(jm, second) == "cancelled"
    jm.stop(first, wait=True)
    assert state(jm, second) == "cancelled"


def test_polite_stop_keeps_partial_metrics_and_starts_the_next(jm):
    first, second = submit(jm, steps=200, step_s=0.05), submit(jm, steps=2)
    assert wait_for(lambda: len(jm.metrics(first)) >= 3)
    t = time.monotonic()
    jm.stop(first)
    assert wait_for(lambda: state(jm, first) == "stopped", timeout=5)
    assert time.monotonic() - t < 5
    assert 3 <= len(jm.metrics(first)) < 200
    assert wait_for(lambda: state(jm, second) == "done")


def test_forced_stop_kills_a_worker_that_ignores_sigterm(jm):
    run = submit(jm, steps=500, step_s=0.05, mode="stubborn")
    assert wait_for(lambda: len(jm.metrics(run)) >= 1)
    pgid = read_status(jm.root / run)["pgid"]
    jm.stop(run, wait=True, grace=1.0)
    assert state(jm, run) == "stopped" and "killed" in read_status(jm.root / run)["error"]
    assert not group_alive(pgid)


def test_a_worker_that_ended_counts_as_ended_though_another_process_launched_it():
    """The app that launched a run reaps its worker only on its next refresh: a stop from the command line
    meanwhile must not wait out the grace for a process that has already ended."""
    ended = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True)
    try:
        assert wait_for(lambda: open(f"/proc/{ended.pid}/stat").read().split(") ")[1][0] == "Z")  # not reaped
        assert not group_alive(ended.pid) and group_alive(running.pid)
    finally:
        running.kill()
        ended.wait(), running.wait()


def test_the_stop_command_says_how_the_run_ended(jm, monkeypatch, capsys):
    """`jobs stop` waits for the run to end, then says how (it said "stopping" after the run had stopped)."""
    from sentiment_lab import jobs

    monkeypatch.setattr(jobs, "JobManager", lambda: jm)
    running, queued = submit(jm, steps=500, step_s=0.05), submit(jm)
    assert jobs.main(["stop", queued]) == 0 and capsys.readouterr().out == "cancelled\n"
    assert wait_for(lambda: len(jm.metrics(running)) >= 1)
    assert jobs.main(["stop", running]) == 0
    assert re.fullmatch(r"stopped by the user at step \d+\n", capsys.readouterr().out)  # the worker's own words
    blocker, waiting = submit(jm, steps=500, step_s=0.05), submit(jm)
    write_status(jm.root / waiting, "stopped")
    save_state(jm.root / waiting, {"step": 7, "model": {}})
    assert jm.resume(waiting) == "queued to resume from step 7"  # it waits behind the running one
    assert jobs.main(["stop", waiting]) == 0  # a resume cancelled: the run stays stopped, and says so
    assert capsys.readouterr().out == "resume cancelled: the run stays stopped, and Resume goes on from step 7\n"
    jm.stop(blocker, wait=True)


def test_sigkilled_worker_reads_failed_with_its_log_tail(jm):
    run, nxt = submit(jm, steps=500, step_s=0.05), submit(jm, steps=2)
    assert wait_for(lambda: len(jm.metrics(run)) >= 1)
    with open(jm.root / run / "log.txt", "a") as log:
        log.write("last words of the worker\n")
    os.killpg(read_status(jm.root / run)["pgid"], signal.SIGKILL)
    assert wait_for(
        lambda: not group_alive(read_status(jm.root / run)["pgid"]) or jm._reap_children() or False, timeout=5
    )
    rows = {r["id"]: r for r in jm.list()}
    assert rows[run]["state"] == "failed" and "last words" in rows[run]["error"]
    assert wait_for(lambda: state(jm, nxt) == "done")


def test_crashed_worker_is_failed_and_the_queue_moves(jm):
    run, nxt = submit(jm, steps=10, mode="crash"), submit(jm, steps=2)
    assert wait_for(lambda: [jm.advance(), state(jm, run)][1] == "failed")
    assert wait_for(lambda: [jm.advance(), state(jm, nxt)][1] == "done")


def test_a_new_manager_over_the_same_folder_sees_every_run(jm):
    done = submit(jm, steps=1)
    assert wait_for(lambda: state(jm, done) == "done")
    running, queued = submit(jm, steps=100, step_s=0.05), submit(jm, steps=1)
    fresh = JobManager(jm.root, max_running=1, launcher=fake_launcher)  # the app restarted
    rows = {r["id"]: r["state"] for r in fresh.list()}
    assert rows == {done: "done", running: "running", queued: "queued"}
    fresh.stop(running, wait=True)
    assert wait_for(lambda: state(fresh, queued) == "done")


def test_progress_is_read_incrementally(jm):
    run = submit(jm, steps=5, step_s=0.05)
    assert wait_for(lambda: state(jm, run) == "done")
    row = jm.describe(run)
    assert row["step"] == 5 and row["total_steps"] == 5
    with open(jm.root / run / "metrics.jsonl", "a") as f:
        f.write('{"step": 6, "eval_accuracy": 0.9}\n{"step": 7, "trunc')  # a half-written line
    row = jm.describe(run)
    assert row["step"] == 6 and row["best_eval_accuracy"] == 0.9


@pytest.mark.parametrize("bad", ["../x", "a/b", "", "x" * 500, "nul\x00byte", "no-such-run"])
def test_unknown_or_unsafe_run_ids_are_refused(jm, bad):
    with pytest.raises(JobError):
        jm.stop(bad)


def test_cli_submit_list_stop_logs(tmp_path, tiny_models, tiny_data):
    """The headless CLI over a real accelerate launch of a tiny run."""
    env = {**os.environ, "SENTIMENT_LAB_CHECKPOINTS": str(tmp_path)}
    cli = [sys.executable, "-m", "sentiment_lab.jobs"]
    sub = subprocess.run(
        cli
        + [
            "submit",
            "--method",
            "full",
            "--model",
            str(tiny_models["bert"]),
            "--dataset",
            str(tiny_data),
            "--epochs",
            "1",
            "--batch_size",
            "8",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert sub.returncode == 0, sub.stderr
    run = sub.stdout.strip().splitlines()[-1]

    def listed():
        out = subprocess.run(cli + ["list", "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        return {r["id"]: r for r in json.loads(out.stdout)}

    assert run in listed()
    assert wait_for(lambda: listed()[run]["state"] in ("done", "failed"), timeout=180, every=1)
    row = listed()[run]
    assert row["state"] == "done", subprocess.run(
        cli + ["logs", run], cwd=ROOT, env=env, capture_output=True, text=True
    ).stdout
    results = json.loads((tmp_path / run / "results.json").read_text())
    assert results["steps"] == 8
    logs = subprocess.run(cli + ["logs", run], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert "test accuracy" in logs.stdout
    bad = subprocess.run(cli + ["stop", "../etc"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "invalid run id" in bad.stderr


def test_a_queued_run_trains_with_the_config_it_was_submitted_with(tmp_path, monkeypatch, tiny_models, tiny_data):
    """A default changed while a run waits in the queue does not reach it: the worker reads the saved config,
    trains with it, and its records say the value it was queued with."""
    import sentiment_lab.training.config as config
    from sentiment_lab.runs.queue import JobManager
    from sentiment_lab.runs.worker import main, parse_args
    from sentiment_lab.training.config import RunConfig

    started = []
    jobs = JobManager(
        tmp_path, launcher=lambda run_id, folder, args, **_: started.append(args) or [sys.executable, "-c", "pass"]
    )
    # fp32: this process's accelerator state may already be set up by other tests, and cannot change precision
    tiny = {"model": str(tiny_models["bert"]), "dataset": str(tiny_data), "bf16": "off"}
    submitted = RunConfig.of(method="lora", epochs=1, **tiny)
    run_id = jobs.submit(submitted.validated())
    monkeypatch.setitem(config.DEFAULT_LR, "lora", 9e-3)  # the default changes while the run waits
    assert RunConfig.of(method="lora").learning_rate == 9e-3
    args = [*started[0], "--output_dir", str(tmp_path / run_id)]
    cfg = parse_args(args).cfg
    assert (cfg.method, cfg.optimisation.epochs, cfg.learning_rate) == ("lora", 1, 2e-3)  # as queued, not today's
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        assert main(args) == 0  # the worker trains it, here in this process
    finally:
        for sig, handler in handlers.items():  # the worker's stop handlers are not pytest's
            signal.signal(sig, handler)
    results = json.loads((tmp_path / run_id / "results.json").read_text())
    saved = json.loads((tmp_path / run_id / "config.json").read_text())
    assert results["lr"] == saved["resolved_lr"] == 2e-3


def test_the_run_list_reads_a_runs_dataset_from_its_sections(tmp_path):
    jm = JobManager(tmp_path / "runs")
    jm.advance = lambda: []  # queued only: nothing trains
    jm.submit(RunConfig.of(method="lora", dataset="some/data"))
    assert jm.list()[0]["dataset"] == "some/data"
    own = RunConfig.of(method="lora").validated().own()  # what the app's config view shows
    assert {"data", "optimisation", "lora"} <= set(own) and not {"adapters", "svm", "features"} & set(own)


def test_a_log_tail_of_no_lines_is_refused(capsys):
    from sentiment_lab import jobs

    with pytest.raises(SystemExit):
        jobs.main(["logs", "some-run", "--lines", "-5"])  # printed nothing at all
    assert (
        capsys.readouterr()
        .err.splitlines()[-1]
        .endswith("argument --lines: must be a whole number of at least 1, got '-5'")
    )


def test_submit_help_lists_the_run_flags_and_not_the_workers_own(capsys, monkeypatch, tmp_path):
    from sentiment_lab import jobs

    monkeypatch.setenv("SENTIMENT_LAB_CHECKPOINTS", str(tmp_path))
    with pytest.raises(SystemExit) as done:
        jobs.main(["submit", "--help"])  # showed only -h: the run's flags went unlisted
    assert done.value.code == 0
    shown = capsys.readouterr().out
    assert "--lora_r" in shown and "--method" in shown and "--output_dir" not in shown
    # The queue picks the folder and starts afresh: these were overridden in silence or failed on /dev/null.
    for flag in ("--output_dir", "--resume"):
        with pytest.raises(SystemExit):
            jobs.main(["submit", "--method", "svm", flag, *(["x"] if flag == "--output_dir" else [])])
        assert f"unrecognized arguments: {flag}" in capsys.readouterr().err


def test_the_log_of_a_run_that_has_logged_nothing_says_so(tmp_path, monkeypatch, capsys):
    from sentiment_lab import jobs

    jm = JobManager(tmp_path, launcher=lambda run_id, folder, args, **_: [sys.executable, "-c", ""])
    run_id = jm.submit(RunConfig.of(method="svm").validated())
    monkeypatch.setenv("SENTIMENT_LAB_CHECKPOINTS", str(tmp_path))
    assert jobs.main(["logs", run_id]) == 0
    assert capsys.readouterr().out == "(nothing logged yet)\n"  # was one blank line


def test_the_run_list_gives_a_queued_runs_place_and_a_finished_runs_test_accuracy(tmp_path, monkeypatch, capsys):
    from sentiment_lab import jobs

    rows = [
        {"id": "b", "state": "queued", "submitted": 20.0, "step": 0, "total_steps": None},
        {"id": "a", "state": "queued", "submitted": 10.0, "step": 0, "total_steps": None},
        {"id": "r", "state": "running", "step": 4, "total_steps": 10, "best_eval_accuracy": 0.61},
        {"id": "d", "state": "done", "step": 10, "total_steps": 10, "best_eval_accuracy": 0.7, "test_accuracy": 0.65},
    ]
    lines = [" ".join(line.split()) for line in jobs.run_lines(rows)]
    # a queued run read "step 0/? best -", and no list gave a test accuracy
    assert lines == [
        "b queued (#2) - best -",
        "a queued (next) - best -",
        "r running step 4/10 best 0.610",
        "d done step 10/10 best 0.700 test 0.650",
    ]
    monkeypatch.setenv("SENTIMENT_LAB_CHECKPOINTS", str(tmp_path))
    assert jobs.main(["list"]) == 0 and "no runs in" in capsys.readouterr().out  # was one blank line


def test_a_listing_whose_reader_has_gone_ends_quietly(tmp_path):
    reader, writer = os.pipe()
    os.close(reader)  # as `jobs list | head -1` once head has its line
    env = {**os.environ, "SENTIMENT_LAB_CHECKPOINTS": str(tmp_path)}
    cli = [sys.executable, "-m", "sentiment_lab.jobs", "list"]
    try:
        done = subprocess.run(cli, cwd=ROOT, env=env, stdout=writer, stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(writer)
    assert done.stderr == ""  # was "error: [Errno 32] Broken pipe"
