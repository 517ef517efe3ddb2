"""A multi-process run's shared process group: telling a lost peer apart, and leaving the group cleanly."""

from __future__ import annotations

import os

import torch


def peer_lost(error: BaseException) -> bool:
    """A multi-process run's collective failed because another of its processes is gone (gloo's words for a
    closed connection, or NCCL's backend error)."""
    if int(os.environ.get("WORLD_SIZE", "1")) < 2:
        return False
    if isinstance(error, torch.distributed.DistBackendError):
        return True
    return isinstance(error, RuntimeError) and any(
        words in str(error) for words in ("Connection reset by peer", "Connection closed by peer", "remote worker")
    )


def end_processes(wait: bool = True) -> None:
    """Leave the process group of a multi-process run cleanly: a gloo group left to the interpreter's exit
    can abort a rank (SIGABRT) after the run is over, and the launcher then reports the run failed. The
    ranks first wait for each other: one that tore its group down while the main process was still saving
    the model could abort the same way. A failed process does not wait: the others may be inside a step's
    gradient exchange, which it would then never join, and the run would hang; its exit ends theirs."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        if wait:
            torch.distributed.barrier()
        torch.distributed.destroy_process_group()
