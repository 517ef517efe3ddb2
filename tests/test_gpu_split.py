"""Several runs at once on several GPUs: each has its own GPUs (the queue hides the others from it), so that two
runs never share a GPU when there are enough for both."""

from __future__ import annotations

import os
import signal

import pytest
from fakes.worker import fake_launcher
from test_jobs import state, wait_for

from sentiment_lab.runs import launch
from sentiment_lab.runs.launch import launch_command
from sentiment_lab.runs.liveness import group_alive
from sentiment_lab.runs.queue import JobManager
from sentiment_lab.training.config import RunConfig
from sentiment_lab.training.records import read_status


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """A JobManager of 2 slots over fake workers, on a machine whose GPUs the test names."""
    launched = {}

    def launcher(run_id, folder, args, gpus=None, runs=1):
        launched[run_id] = launch_command(run_id, folder, [], gpus=gpus, runs=runs)  # the real line, for its counts
        return fake_launcher(run_id, folder, args)

    def make(gpus: list[str]) -> JobManager:
        # The machine's GPUs as the app sees them; each worker gets them in its environment, so that a worker
        # moving the queue on when it ends splits them as the app would.
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", ",".join(gpus))
        monkeypatch.delenv(launch.ENV_APP_OWN, raising=False)
        return JobManager(tmp_path / "runs", max_running=2, launcher=launcher)

    monkeypatch.delenv("SENTIMENT_LAB_NUM_PROCESSES", raising=False)
    monkeypatch.delenv("SENTIMENT_LAB_ACCELERATE_CONFIG", raising=False)
    make.launched = launched
    yield make
    for folder in (tmp_path / "runs").iterdir():  # no orphans, whatever a test did
        pgid = read_status(folder).get("pgid")
        if group_alive(pgid) and pgid != os.getpgid(0):
            os.killpg(pgid, signal.SIGKILL)


def submit(jm, steps=400, **settings):
    return jm.submit(RunConfig.of(method="full", **settings), [str(steps), "0.05", "polite"])


def processes(cmd: list[str]) -> int:
    return int(cmd[cmd.index("--num_processes") + 1])


def test_two_runs_on_four_gpus_take_two_each_and_the_third_takes_the_first_ones_when_it_ends(machine):
    jm = machine(["0", "1", "2", "3"])
    first, second, third = submit(jm), submit(jm), submit(jm, steps=2)
    assert [state(jm, r) for r in (first, second, third)] == ["running", "running", "queued"]
    assert wait_for(lambda: all(read_status(jm.root / r).get("sees") is not None for r in (first, second)))
    assert [read_status(jm.root / r)["gpus"] for r in (first, second)] == [["0", "1"], ["2", "3"]]
    assert [read_status(jm.root / r)["sees"] for r in (first, second)] == ["0,1", "2,3"]  # each sees its own
    assert [processes(machine.launched[r]) for r in (first, second)] == [2, 2]
    assert "--multi_gpu" in machine.launched[first]
    jm.stop(first, wait=True)  # its worker, which sees only GPUs 0 and 1, moves the queue on as it ends
    assert wait_for(lambda: read_status(jm.root / third).get("sees") == "0,1")
    assert read_status(jm.root / third)["gpus"] == ["0", "1"]


def test_a_run_asking_more_gpus_than_are_free_waits_for_them(machine):
    jm = machine(["0", "1", "2", "3"])
    first = submit(jm)
    big = submit(jm, steps=2, processes=3)
    assert state(jm, first) == "running" and state(jm, big) == "queued"  # a slot is free, three GPUs are not
    jm.stop(first, wait=True)
    assert wait_for(lambda: read_status(jm.root / big).get("sees") == "0,1,2")
    assert processes(machine.launched[big]) == 3


def test_fewer_gpus_than_runs_are_shared_as_before(machine):
    jm = machine(["0"])
    first, second = submit(jm), submit(jm)
    assert wait_for(lambda: all(read_status(jm.root / r).get("pid") for r in (first, second)))
    assert [read_status(jm.root / r)["gpus"] for r in (first, second)] == [[], []]
    assert all(processes(machine.launched[r]) == 1 and "--cpu" not in machine.launched[r] for r in (first, second))


def test_what_a_run_takes_follows_its_process_count_and_a_users_own_config_splits_nothing(tmp_path, monkeypatch):
    from sentiment_lab.runs.launch import gpu_split

    monkeypatch.delenv("SENTIMENT_LAB_ACCELERATE_CONFIG", raising=False)
    monkeypatch.delenv("SENTIMENT_LAB_NUM_PROCESSES", raising=False)
    folder = tmp_path / "run"
    folder.mkdir()
    RunConfig.of().save(folder / "config.json")
    gpus = ["4", "5", "6", "7"]
    assert gpu_split(folder, gpus, gpus, slots=2) == ["4", "5"]  # an equal share
    assert gpu_split(folder, gpus, ["7"], slots=2) is None  # too few free: it waits
    assert gpu_split(folder, gpus, gpus, slots=1) == []  # one run at a time: every GPU, as before
    monkeypatch.setenv("SENTIMENT_LAB_NUM_PROCESSES", "1")
    assert gpu_split(folder, gpus, ["6", "7"], slots=2) == ["6"]
    RunConfig.of(processes=3).save(folder / "config.json")
    assert gpu_split(folder, gpus, gpus, slots=2) == ["4", "5", "6"]  # the run's own count wins
    monkeypatch.setenv("SENTIMENT_LAB_ACCELERATE_CONFIG", str(tmp_path / "accelerate.yaml"))
    assert gpu_split(folder, gpus, gpus, slots=2) == []  # the user's config places the processes
