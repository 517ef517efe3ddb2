"""The argument list and environment that start one worker through `accelerate launch` on whatever hardware
is here."""

from __future__ import annotations

import functools
import json
import os
import shutil
import sys
from pathlib import Path

import psutil  # accelerate's own dependency, which counts the cores this way

from sentiment_lab.training.config import ConfigError

ENV_ACCELERATE_CONFIG = "SENTIMENT_LAB_ACCELERATE_CONFIG"
ENV_NUM_PROCESSES = "SENTIMENT_LAB_NUM_PROCESSES"
ENV_APP_OWN = "SENTIMENT_LAB_APP_PROCESS_ENV"
# Set for the processes a command-line run starts (runs/foreground.py): a one-process launch (the user's accelerate
# config may ask for one) sets no rank, and they would otherwise start processes again.
ENV_STARTED = "SENTIMENT_LAB_STARTED_BY_COMMAND_LINE"
# What a launcher (or the queue) sets for each process it starts: torchrun's ranks and rendezvous,
# accelerate's settings, thread counts, the GPUs a run has to itself. A worker that starts the next run must
# not hand these on, or a one-process run after a two-process one waits forever for a second rank.
PROCESS_VARS = (
    "RANK",
    "LOCAL_RANK",
    "WORLD_SIZE",
    "LOCAL_WORLD_SIZE",
    "GROUP_RANK",
    "GROUP_WORLD_SIZE",
    "ROLE_RANK",
    "ROLE_NAME",
    "ROLE_WORLD_SIZE",
    "MASTER_ADDR",
    "MASTER_PORT",
    "OMP_NUM_THREADS",
    "CUDA_VISIBLE_DEVICES",
    "TORCH_NCCL_ASYNC_ERROR_HANDLING",
    ENV_STARTED,
)
PROCESS_PREFIXES = ("ACCELERATE_", "TORCHELASTIC_", "KMP_")


def per_process(name: str) -> bool:
    return name in PROCESS_VARS or name.startswith(PROCESS_PREFIXES)


def app_own() -> dict[str, str]:
    """The per-process variables as the app had them: its own, or, in a worker, those the app handed down."""
    saved = os.environ.get(ENV_APP_OWN)
    return json.loads(saved) if saved else {k: v for k, v in os.environ.items() if per_process(k)}


def worker_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment a worker starts in: this one, with the per-process variables as the app had them, so a
    run started by a worker that ends starts as one the app starts; `extra` last."""
    own = app_own()
    env = {k: v for k, v in os.environ.items() if not per_process(k)} | own
    return env | {ENV_APP_OWN: json.dumps(own)} | extra


def cpu_threads(processes: int, runs: int) -> int:
    """Threads for each process of a run on a CPU: the cores shared evenly among the processes of every run
    that may train at once (more threads than cores, and each waits on the others at every operation)."""
    cores = psutil.cpu_count(logical=False) or os.cpu_count() or 1
    return max(1, cores // (processes * max(runs, 1)))


def gpu_ids(env=None) -> list[str]:
    """The GPUs a process with environment `env` (this one's by default) may use, as CUDA_VISIBLE_DEVICES names
    them, without importing torch (the app's event thread stays light)."""
    mask = (os.environ if env is None else env).get("CUDA_VISIBLE_DEVICES")
    if mask is not None:
        return [d.strip() for d in mask.split(",") if d.strip() and d.strip() != "-1"]
    return [str(i) for i in range(installed_gpus())]


def visible_gpus() -> int:
    return len(gpu_ids())


def machine_gpus() -> list[str]:
    """Every GPU the queue shares among runs: those the app sees (a worker that moves the queue on when it ends
    sees only its own, and reads the app's through the environment it was handed)."""
    return gpu_ids(app_own())


@functools.cache
def installed_gpus() -> int:
    """The machine's GPUs as nvidia-smi lists them, asked once: every Train press checks the process count."""
    if not shutil.which("nvidia-smi"):
        return 0
    import subprocess

    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))


def most_processes() -> int:
    """The most processes a run may ask for here: one per GPU, or one per CPU core without GPUs."""
    return visible_gpus() or os.cpu_count() or 1


def check_processes(asked: int, name: str = "processes") -> None:
    """Refuse a process count this machine cannot give, before the run is queued."""
    limit = most_processes()
    if asked > limit:
        gpus = visible_gpus()
        have = f"{gpus} GPU(s)" if gpus else f"{limit} CPU core(s) and no GPU"
        raise ConfigError(f"{name} must be at most {limit} here (this machine has {have}), got {asked}")


def whole_count(value, name: str) -> int:
    """A count of at least 1 that the user gave (a flag or an environment variable), or one message naming it."""
    try:
        count = int(str(value).strip())
    except ValueError:
        count = 0
    if count < 1:
        raise ConfigError(f"{name} must be a whole number of at least 1, got {value!r}")
    return count


def env_processes() -> int | None:
    """SENTIMENT_LAB_NUM_PROCESSES (None: not set)."""
    value = os.environ.get(ENV_NUM_PROCESSES, "").strip()
    return whole_count(value, ENV_NUM_PROCESSES) if value else None


def check_environment() -> None:
    """The launch settings the app or the command line was started with, before any run is queued."""
    own = own_config_file()
    if own and not Path(own).is_file():
        raise ConfigError(f"{ENV_ACCELERATE_CONFIG} names {own!r}, which is not a file")
    count = env_processes()
    if count:
        check_processes(count, ENV_NUM_PROCESSES)


def asked_processes(folder: Path) -> int:
    """The run's own `processes` setting from its config.json (0: not set)."""
    try:
        return int(json.loads((folder / "config.json").read_text()).get("processes") or 0)
    except (OSError, ValueError, TypeError, AttributeError):
        return 0


def own_config_file() -> str | None:
    """The user's own accelerate config, which replaces our launch defaults."""
    return os.environ.get(ENV_ACCELERATE_CONFIG)


def processes_for(folder: Path, gpus: int) -> int:
    """How many processes the run in `folder` starts with `gpus` GPUs to itself (processes_from its config)."""
    return processes_from(asked_processes(folder), gpus)


def processes_from(asked: int, gpus: int) -> int:
    """How many processes a run starts with `gpus` GPUs to itself: its own `processes` setting (`asked`), else
    SENTIMENT_LAB_NUM_PROCESSES, else one per GPU (one on a CPU)."""
    return asked or env_processes() or max(gpus, 1)


def gpu_split(folder: Path, gpus: list[str], free: list[str], slots: int) -> list[str] | None:
    """The GPUs a run about to start takes for itself when several runs train at once on several GPUs: its
    process count's worth of the free ones (by default an equal share, len(gpus) // slots), or None while
    too few are free. [] where runs do not split the GPUs: one run at a time, fewer GPUs than runs (they
    share them all), or the user's own accelerate config."""
    if slots <= 1 or len(gpus) < slots or own_config_file():
        return []
    want = processes_for(folder, len(gpus) // slots)
    return free[:want] if want <= len(free) else None


def launch_command(
    run_id: str | None,
    folder: Path,
    train_args: list[str],
    config_file: str | None = None,
    gpus: list[str] | None = None,
    runs: int = 1,
) -> list[str]:
    """`python -m accelerate.commands.launch ... -m sentiment_lab.train --run_id ID --output_dir DIR ARGS`.

    The run's own `processes` setting, else SENTIMENT_LAB_NUM_PROCESSES, else one process per visible GPU
    (one on a CPU), on GPUs and CPUs alike: several processes take accelerate's multi-process launcher
    (`--cpu` would force its single-process one; without GPUs the processes talk over gloo). A user's own
    accelerate config (multi-node, DeepSpeed, FSDP) replaces our defaults whole, but for a run's own
    process count. Mixed precision is chosen inside the worker. `gpus`: the GPUs the run has to itself (the
    queue then hides the others from it), if not every visible one. `runs`: how many runs may train at once,
    which share a CPU's cores (unless the app was given OMP_NUM_THREADS). `run_id` None: a run started from the
    command line, which is not the queue's (its worker then moves no queue on).
    """
    cmd = [sys.executable, "-m", "accelerate.commands.launch"]
    config_file = config_file or own_config_file()
    asked = asked_processes(folder)
    if config_file:
        cmd += ["--config_file", config_file] + (["--num_processes", str(asked)] if asked else [])
    else:
        count = len(gpus) if gpus else visible_gpus()
        processes = processes_for(folder, count)
        cmd += [
            "--num_machines",
            "1",
            "--dynamo_backend",
            "no",
            "--mixed_precision",
            "no",
            "--num_processes",
            str(processes),
        ]
        if processes > 1:
            # A free port of its own (0: accelerate picks one), so that runs started together never race for
            # torch.distributed's default one.
            cmd += ["--multi_gpu", "--main_process_port", "0"]
        elif not count:
            cmd += ["--cpu"]
        if not count and "OMP_NUM_THREADS" not in app_own():
            cmd += ["--num_cpu_threads_per_process", str(cpu_threads(processes, runs))]
    own = ["--run_id", run_id] if run_id else []
    return cmd + ["-m", "sentiment_lab.train", *own, "--output_dir", str(folder), *train_args]
