"""Two processes over gloo on this CPU, as `SENTIMENT_LAB_NUM_PROCESSES=2` launches them: each training
sentence once an epoch, every evaluation sentence once in the run's answers, one writer, the same training
as one process at the same global batch, and stop / resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import ROOT

from sentiment_lab.runs.launch import ENV_NUM_PROCESSES, launch_command
from sentiment_lab.training.loop import shares
from sentiment_lab.training.records import read_status

# 64 training sentences in global batches of 6 (the last one 4), 15 validation and test sentences:
# neither divides by two processes.
FLAGS = [
    "--epochs",
    "2",
    "--batch_size",
    "6",
    "--max_eval_samples",
    "15",
    "--log_every",
    "1",
    "--device",
    "cpu",
    "--bf16",
    "off",
]


@pytest.mark.parametrize("size, batch, world", [(64, 6, 2), (65, 8, 2), (10, 4, 3), (7, 16, 2), (33, 5, 4)])
def test_each_sentence_once_an_epoch_and_the_same_number_of_steps_everywhere(size, batch, world):
    from sentiment_lab.training.batching import train_batches

    batches = train_batches(np.ones(size, dtype=int), batch, 0, 0)
    parts = [shares(batches, rank, world) for rank in range(world)]
    assert len({len(p) for p in parts}) == 1, "a process would wait for the others' gradients"
    assert all(len(idx) > 0 for p in parts for idx in p)
    seen = np.concatenate([idx for p in parts for idx in p])
    assert sorted(seen.tolist()) == list(range(size))
    assert [b.tolist() for b in shares(batches, 0, 1)] == [
        b.tolist() for b in batches
    ]  # one process: the batches as they were


def launched(folder, args: list[str], processes: int) -> tuple[list[str], dict]:
    """The queue's own launch line for `processes` processes on this CPU, and its environment."""
    env = {**os.environ, ENV_NUM_PROCESSES: str(processes), "CUDA_VISIBLE_DEVICES": ""}
    before = dict(os.environ)
    os.environ.update(env)
    try:
        return launch_command(folder.name, folder, args), env
    finally:
        os.environ.clear()
        os.environ.update(before)


def run(folder, method, model, data, processes: int, extra=(), wait=True):
    cmd, env = launched(
        folder, ["--method", method, "--model", str(model), "--dataset", str(data), *FLAGS, *extra], processes
    )
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    if not wait:
        return proc
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:]
    return out


@pytest.fixture(scope="module")
def steady_bert(tmp_path_factory):
    """The tiny BERT without dropout: two processes' halves of a batch then draw no masks the whole batch would not."""
    import transformers
    from conftest import SMALL, tiny_vocab

    folder = tmp_path_factory.mktemp("steady") / "bert"
    config = transformers.BertConfig(
        vocab_size=len(tiny_vocab()),
        max_position_embeddings=64,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        **SMALL,
    )
    transformers.BertModel(config).save_pretrained(folder)
    transformers.BertTokenizerFast(vocab=tiny_vocab(), do_lower_case=True).save_pretrained(folder)
    return folder


def rows(folder):
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


def wait_for_a_step(folder, timeout: float = 300) -> None:
    """Until the run has logged a training step: a stop then lands mid-run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not (
        (folder / "metrics.jsonl").is_file() and any("loss" in r for r in rows(folder))
    ):
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["svm", "full", "lora", "freeze", "adapters"])
def test_two_processes_train_as_one_at_the_same_global_batch(method, steady_bert, tiny_data, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    steady = ["--lora_dropout", "0", "--adapter_dropout", "0"]
    run(one, method, steady_bert, tiny_data, 1, extra=steady)
    run(two, method, steady_bert, tiny_data, 2, extra=steady)
    assert read_status(two)["state"] == "done"
    a, b = (json.loads((f / "results.json").read_text()) for f in (one, two))
    assert b["processes"] == 2 and a["processes"] == 1
    predictions = json.loads((two / "test_predictions.json").read_text())
    assert len(predictions["pred"]) == len(predictions["label"]) == 15  # every test sentence, once
    steps = [r["step"] for r in rows(two) if "loss" in r]
    assert len(steps) == len(set(steps)), "two processes wrote the metrics"
    if method == "svm":
        assert b["test"] == a["test"]  # the same features and the same fit
        return
    assert a["steps"] == b["steps"] == 2 * 11  # ceil(64 / 6) global batches an epoch, in both
    losses = [[r["loss"] for r in rows(f) if "loss" in r] for f in (one, two)]
    if method != "freeze":  # the head-only method's own head keeps its dropout: the same up to its masks
        assert losses[1][0] == pytest.approx(losses[0][0], abs=1e-5)  # step 1: the same batch, before any update
        # Every step the mean of the two halves' gradients is the whole batch's: the same training, to float rounding.
        assert losses[1] == pytest.approx(losses[0], abs=1e-3)
        assert b["validation"]["loss"] == pytest.approx(a["validation"]["loss"], abs=1e-3)
    assert abs(a["test"]["accuracy"] - b["test"]["accuracy"]) <= 0.2


@pytest.mark.slow
@pytest.mark.parametrize("before, after", [(2, 2), (1, 2)])
def test_two_processes_stop_together_and_resume(before, after, tiny_models, tiny_data, tmp_path):
    """Stopped, then resumed with the same process count or another (a GPU share can change with the queue's
    slots): the run goes on from its step to the same end."""
    folder = tmp_path / "run"
    proc = run(folder, "full", tiny_models["bert"], tiny_data, before, extra=["--epochs", "40"], wait=False)
    wait_for_a_step(folder)
    os.killpg(proc.pid, signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    status = read_status(folder)
    assert status["state"] == "stopped", out[-3000:]
    assert "Resume goes on from step" in status["error"]
    step = int(status["error"].split("goes on from step ")[1])
    resumed, env = launched(folder, ["--resume"], after)
    done = subprocess.run(resumed, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0 and read_status(folder)["state"] == "done", done.stdout[-3000:]
    result = json.loads((folder / "results.json").read_text())
    assert result["steps"] == 40 * 11 and step < result["steps"] and result["processes"] == after
    logged = [r["step"] for r in rows(folder) if "loss" in r]
    assert logged == sorted(set(logged)) and logged[-1] == 40 * 11  # once each, on to the end


def test_the_runs_own_process_count_starts_that_many_over_any_default(tmp_path, monkeypatch):
    from sentiment_lab.training.config import RunConfig

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.delenv(ENV_NUM_PROCESSES, raising=False)
    monkeypatch.delenv("SENTIMENT_LAB_ACCELERATE_CONFIG", raising=False)
    folder = tmp_path / "run"
    folder.mkdir()
    RunConfig.of().save(folder / "config.json")
    cmd = launch_command("run", folder, [])
    assert cmd[cmd.index("--num_processes") + 1] == "1" and "--cpu" in cmd  # no GPU, nothing asked: one
    monkeypatch.setenv(ENV_NUM_PROCESSES, "2")
    cmd = launch_command("run", folder, [])
    assert cmd[cmd.index("--num_processes") + 1] == "2" and "--multi_gpu" in cmd and "--cpu" not in cmd
    assert cmd[cmd.index("--main_process_port") + 1] == "0"  # each run a free port: two may start at once
    RunConfig.of(processes=3).save(folder / "config.json")
    cmd = launch_command("run", folder, [])
    assert cmd[cmd.index("--num_processes") + 1] == "3" and "--multi_gpu" in cmd  # the run's own count wins
    own = tmp_path / "accelerate.yaml"
    cmd = launch_command("run", folder, [], config_file=str(own))
    assert cmd[cmd.index("--config_file") + 1] == str(own) and cmd[cmd.index("--num_processes") + 1] == "3"
    assert "--multi_gpu" not in cmd and "--mixed_precision" not in cmd  # the user's config, but for the count


def test_runs_at_once_on_a_cpu_share_its_cores(tmp_path, monkeypatch):
    """Every process of the runs that may train at once gets its share of the cores: more threads than cores
    (each run all of them) and every operation waits on the other runs' threads."""
    import psutil

    from sentiment_lab.runs.launch import ENV_APP_OWN
    from sentiment_lab.training.config import RunConfig

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    for name in (ENV_NUM_PROCESSES, "SENTIMENT_LAB_ACCELERATE_CONFIG", "OMP_NUM_THREADS", ENV_APP_OWN):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(psutil, "cpu_count", lambda logical=True: 8)
    folder = tmp_path / "run"
    folder.mkdir()
    RunConfig.of().save(folder / "config.json")

    def threads(runs: int) -> int:
        cmd = launch_command("run", folder, [], runs=runs)
        return int(cmd[cmd.index("--num_cpu_threads_per_process") + 1])

    assert (threads(1), threads(2), threads(3), threads(16)) == (8, 4, 2, 1)
    RunConfig.of(processes=2).save(folder / "config.json")
    assert (threads(1), threads(2)) == (4, 2)  # two processes a run
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's own count, which accelerate reads
    assert "--num_cpu_threads_per_process" not in launch_command("run", folder, [], runs=2)


def test_the_form_refuses_more_processes_than_the_machine_has(monkeypatch):
    from sentiment_lab.training.config import ConfigError
    from sentiment_lab.ui.forms import form_to_config

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert form_to_config({"method": "full", "processes": 2}).processes == 2
    with pytest.raises(ConfigError, match=r"^Processes must be at most 2 here \(this machine has 2 CPU core"):
        form_to_config({"method": "full", "processes": 3})
    with pytest.raises(ConfigError, match="Processes: enter a number"):
        form_to_config({"method": "full", "processes": None})


@pytest.mark.slow
def test_a_run_that_a_two_process_run_starts_as_it_ends_trains_in_one(tiny_models, tiny_data, tmp_path, monkeypatch):
    """The queue moves on from the worker that ends: the next run, one process, must not inherit the ranks of
    the run before it (it waited forever for a second rank)."""
    from sentiment_lab.runs.queue import JobManager
    from sentiment_lab.training.config import RunConfig

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.delenv(ENV_NUM_PROCESSES, raising=False)
    monkeypatch.delenv("SENTIMENT_LAB_ACCELERATE_CONFIG", raising=False)
    jobs = JobManager(tmp_path, max_running=1)
    tiny = {"model": str(tiny_models["bert"]), "dataset": str(tiny_data), "bf16": "off", "device": "cpu"}
    first = jobs.submit(RunConfig.of(method="svm", processes=2, **tiny).validated())
    second = jobs.submit(RunConfig.of(method="svm", processes=1, **tiny).validated())
    assert read_status(tmp_path / second)["state"] == "queued"
    try:
        deadline = time.monotonic() + 180  # the test process never moves the queue: the first run's worker does
        while time.monotonic() < deadline and read_status(tmp_path / second).get("state") in ("queued", "running"):
            time.sleep(0.5)
        log = (tmp_path / second / "log.txt").read_text() if (tmp_path / second / "log.txt").is_file() else ""
        assert read_status(tmp_path / second)["state"] == "done", log[-3000:]
    finally:
        for run_id in (first, second):
            pgid = read_status(tmp_path / run_id).get("pgid")
            if read_status(tmp_path / run_id).get("state") == "running" and pgid:
                os.killpg(pgid, signal.SIGKILL)
    for run_id in (first, second):  # each run's own state and log, so that a failure names the run it was
        log = (tmp_path / run_id / "log.txt").read_text() if (tmp_path / run_id / "log.txt").is_file() else ""
        assert read_status(tmp_path / run_id)["state"] == "done", (
            f"{run_id}: {read_status(tmp_path / run_id)}\n{log[-3000:]}"
        )
    results = [json.loads((tmp_path / r / "results.json").read_text()) for r in (first, second)]
    assert [r["processes"] for r in results] == [2, 1]


def test_a_worker_hands_the_next_run_the_apps_environment_not_its_own(monkeypatch):
    from sentiment_lab.runs.launch import ENV_APP_OWN, worker_env

    for name in [n for n in os.environ if n.startswith(("ACCELERATE_", "TORCHELASTIC_", "KMP_"))] + [ENV_APP_OWN]:
        monkeypatch.delenv(name, raising=False)
    for name in ("RANK", "WORLD_SIZE", "MASTER_PORT", "CUDA_VISIBLE_DEVICES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's own, in the app
    from_app = worker_env({"X": "1"})
    assert from_app["OMP_NUM_THREADS"] == "3" and from_app["X"] == "1" and "RANK" not in from_app
    # Inside a two-process worker: the launcher's ranks, rendezvous and thread count over the app's.
    monkeypatch.setattr(os, "environ", {**from_app, "RANK": "0", "WORLD_SIZE": "2", "MASTER_PORT": "4567"})
    os.environ.update({"OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "True", "CUDA_VISIBLE_DEVICES": "0,1"})
    from_worker = worker_env({"X": "2"})
    assert not {"RANK", "WORLD_SIZE", "MASTER_PORT", "ACCELERATE_USE_CPU"} & from_worker.keys()
    assert from_worker["OMP_NUM_THREADS"] == "3" and "CUDA_VISIBLE_DEVICES" not in from_worker
    assert from_worker["X"] == "2" and from_worker[ENV_APP_OWN] == from_app[ENV_APP_OWN]


FAILS_IN_PROCESS_1 = """
import os
if os.environ.get("RANK") == "1":
    import torch
    from sentiment_lab.training import loop
    real, calls = loop.logits_of, [0]
    def logits_of(model, inputs):
        calls[0] += model.training
        if model.training and calls[0] == 3:
            if os.environ.get("HOW") == "killed":  # as the kernel's out-of-memory killer ends a process
                os.kill(os.getpid(), 9)
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB.")
        return real(model, inputs)
    loop.logits_of = logits_of
"""


@pytest.mark.parametrize(
    "how, said",
    [
        ("raised", "out of cpu memory at step 3 in one of 2 processes: lower Max length"),
        ("killed", "another process of this run ended while this one waited for it (killed, out of memory say"),
    ],
)
def test_a_process_that_fails_fails_the_run_saying_why_and_the_run_ends(how, said, tiny_models, tiny_data, tmp_path):
    """The second process runs out of memory at its third step while the first waits in that step's gradient
    exchange: the run used to hang there, `running`, holding its queue slot for good. Killed without a word,
    it left gloo's "Connection reset by peer" as the run's error."""
    (tmp_path / "inject").mkdir()
    (tmp_path / "inject" / "sitecustomize.py").write_text(FAILS_IN_PROCESS_1)
    folder = tmp_path / "run"
    args = ["--method", "lora", "--model", str(tiny_models["bert"]), "--dataset", str(tiny_data), *FLAGS]
    cmd, env = launched(folder, args, 2)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "inject"), str(ROOT), env.get("PYTHONPATH", "")])
    env["HOW"] = how
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    status = read_status(folder)
    assert done.returncode != 0 and status["state"] == "failed", done.stdout[-3000:]
    assert status["error"].startswith(said)


def test_a_command_line_run_starts_the_processes_it_asks_for_stops_on_ctrl_c_and_resumes(
    tiny_models, tiny_data, tmp_path
):
    """`python -m sentiment_lab.train --processes 2` trained in one process, saying nothing; now it starts two
    through the queue's launch line, in the foreground, and Ctrl+C (the terminal's SIGINT to every process of
    the group) stops them politely."""
    folder = tmp_path / "run"
    train = ["-m", "sentiment_lab.train", "--output_dir", str(folder)]
    flags = ["--model", str(tiny_models["bert"]), "--dataset", str(tiny_data), *FLAGS, "--epochs", "20"]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    env.pop(ENV_NUM_PROCESSES, None)
    proc = subprocess.Popen(
        [sys.executable, *train, *flags, "--processes", "2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # a terminal of its own, whose Ctrl+C reaches the whole group
    )
    wait_for_a_step(folder)
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    status = read_status(folder)
    assert status["state"] == "stopped" and "Resume goes on from step" in status["error"], out[-3000:]
    assert proc.returncode == 0  # stopped cleanly, as one process ends on Ctrl+C (the launcher's own code is 130)
    done = subprocess.run([sys.executable, *train, "--resume"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0 and read_status(folder)["state"] == "done", done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads((folder / "results.json").read_text())
    assert result["processes"] == 2 and result["steps"] == 20 * 11


def test_a_command_line_run_that_asks_for_more_processes_than_the_machine_has_is_refused(tmp_path):
    cores = os.cpu_count() or 1
    if cores >= 64:
        pytest.skip("no process count over this machine's cores is a valid setting")
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "SENTIMENT_LAB_CHECKPOINTS": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-m", "sentiment_lab.train", "--processes", str(cores + 1)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "processes must be at most" in out.stderr, out.stderr[-2000:]


def test_a_command_line_run_starts_through_the_users_own_accelerate_config_once(tiny_models, tiny_data, tmp_path):
    """The user's own accelerate config starts command-line runs as it starts queued ones; a one-process launch
    sets no rank, and its process must train, not start processes again."""
    own = tmp_path / "accelerate.yaml"
    own.write_text(
        "compute_environment: LOCAL_MACHINE\ndistributed_type: 'NO'\nnum_processes: 1\nuse_cpu: true\n"
        "mixed_precision: 'no'\nnum_machines: 1\nmachine_rank: 0\n"
    )
    folder = tmp_path / "run"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "SENTIMENT_LAB_ACCELERATE_CONFIG": str(own)}
    env.pop(ENV_NUM_PROCESSES, None)
    flags = ["--model", str(tiny_models["bert"]), "--dataset", str(tiny_data), *FLAGS, "--epochs", "1"]
    done = subprocess.run(
        [sys.executable, "-m", "sentiment_lab.train", "--output_dir", str(folder), *flags],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert json.loads((folder / "results.json").read_text())["processes"] == 1
    assert done.stdout.count("done: full") == 1
