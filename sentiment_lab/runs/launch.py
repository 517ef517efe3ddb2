"""The argument list that starts one worker through `accelerate launch` on whatever hardware is here."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

ENV_ACCELERATE_CONFIG = "SENTIMENT_LAB_ACCELERATE_CONFIG"
ENV_NUM_PROCESSES = "SENTIMENT_LAB_NUM_PROCESSES"


def visible_gpus() -> int:
    """GPUs this process may use, without importing torch (the app's event thread stays light)."""
    mask = os.environ.get("CUDA_VISIBLE_DEVICES")
    if mask is not None:
        return len([d for d in mask.split(",") if d.strip() and d.strip() != "-1"])
    if not shutil.which("nvidia-smi"):
        return 0
    import subprocess

    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))


def launch_command(run_id: str, folder: Path, train_args: list[str], config_file: str | None = None) -> list[str]:
    """`python -m accelerate.commands.launch ... -m sentiment_lab.train --run_id ID --output_dir DIR ARGS`.

    One process per visible GPU, or SENTIMENT_LAB_NUM_PROCESSES of them, on GPUs and CPUs alike: several
    processes take accelerate's multi-process launcher (`--cpu` would force its single-process one;
    without GPUs the processes talk over gloo). A user's own accelerate config (multi-node, DeepSpeed,
    FSDP) replaces our defaults whole. Mixed precision is chosen inside the worker.
    """
    cmd = [sys.executable, "-m", "accelerate.commands.launch"]
    config_file = config_file or os.environ.get(ENV_ACCELERATE_CONFIG)
    if config_file:
        cmd += ["--config_file", config_file]
    else:
        gpus = visible_gpus()
        processes = int(os.environ.get(ENV_NUM_PROCESSES) or max(gpus, 1))
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
            cmd += ["--multi_gpu"]
        elif not gpus:
            cmd += ["--cpu"]
    return cmd + ["-m", "sentiment_lab.train", "--run_id", run_id, "--output_dir", str(folder), *train_args]
