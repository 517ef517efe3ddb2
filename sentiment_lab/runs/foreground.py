"""A run started from the command line that asks for several processes (`--processes N`, or
SENTIMENT_LAB_NUM_PROCESSES, or several GPUs, or the user's own accelerate config) starts them itself, through
the queue's own `accelerate launch` line, and waits for them in the foreground: without this it trained in one
process, saying nothing."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from sentiment_lab import REPO
from sentiment_lab.runs.launch import (
    ENV_STARTED,
    check_processes,
    launch_command,
    own_config_file,
    processes_from,
    visible_gpus,
)
from sentiment_lab.training.config import RunConfig
from sentiment_lab.training.records import read_status


def launched() -> bool:
    """This process is one of a launcher's (accelerate, torchrun, a command-line run's): it trains, it does not
    launch."""
    return "WORLD_SIZE" in os.environ or "LOCAL_RANK" in os.environ or ENV_STARTED in os.environ


def starts_processes(cfg: RunConfig) -> bool:
    """Whether this command-line run starts its processes itself: several are wanted, or the user's own
    accelerate config (SENTIMENT_LAB_ACCELERATE_CONFIG) says how to start them, as it does for queued runs."""
    return not launched() and (processes_from(cfg.processes, visible_gpus()) > 1 or bool(own_config_file()))


def run_in_processes(cfg: RunConfig, folder: Path, resume: bool) -> int:
    """Start the run's processes with the queue's launch line and wait for them; their exit code. Ctrl+C
    reaches them as it reaches this process (one terminal, one process group): each stops politely."""
    check_processes(processes_from(cfg.processes, visible_gpus()))
    if not resume:  # a resumed run's config.json is there already
        folder.mkdir(parents=True, exist_ok=True)
        cfg.save(folder / "config.json")  # what the workers train, and where the launch line reads the count
    args = ["--resume"] if resume else ["--config", str(folder / "config.json")]
    cmd = launch_command(None, folder.resolve(), args)
    child = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "TOKENIZERS_PARALLELISM": "false", ENV_STARTED: "1"})
    forward = lambda sig, _: child.send_signal(sig)  # noqa: E731  a SIGTERM sent to this process alone
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the terminal's Ctrl+C reaches the processes themselves
    code = child.wait()
    # The launcher ends with the signal's code (130) even when its processes stopped cleanly on it; a run
    # stopped cleanly ends with 0, as one process does.
    return 0 if code and read_status(folder).get("state") == "stopped" else code
