"""What a failed run's status says when it failed of something other than a user's error: out of memory, a full
disk, a lost peer process, a model that cannot run in bf16; else the error itself."""

from __future__ import annotations

from pathlib import Path

from sentiment_lab.storage import disk_full
from sentiment_lab.training.micro_batches import out_of_memory
from sentiment_lab.training.process_group import peer_lost
from sentiment_lab.training.state import saved_step


def bf16_fault(e: BaseException) -> bool:
    """A model that mixes dtypes by hand (X-MOD writes bf16 results into fp32 tensors) fails so under bf16 autocast."""
    return isinstance(e, RuntimeError) and "BFloat16" in str(e)


def failure_message(e: BaseException, folder: Path, bf16: str) -> str:
    """The short text for the run's status (the full trace goes to its log); `bf16`: the run's setting."""
    if out_of_memory(e):  # outside a training step (features, evaluation): no parts to take
        return f"out of memory ({str(e).splitlines()[0][:160]}): lower Max length or Batch size"
    if disk_full(e):  # the saved state, if any, is whole (written atomically): a resume goes on from it
        step = saved_step(folder)
        then = f"then Resume goes on from step {step}" if step is not None else "then train it again"
        return "the disk holding the run is full (no space left on device): delete runs you no longer need, " + then
    if peer_lost(e):
        return (
            "another process of this run ended while this one waited for it (killed, out of memory say, or failed "
            "before it could say why): its own lines are in the log"
        )
    if bf16_fault(e) and bf16 == "on":  # with auto, the run trains again in fp32 before it comes here
        return f"{type(e).__name__}: {e}: this model fails in bf16 mixed precision; train it in fp32 (--bf16 off)"
    return f"{type(e).__name__}: {e}"
