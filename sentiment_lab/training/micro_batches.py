"""A batch the device has no memory for, taken in parts: the slices, and the errors that call for them."""

from __future__ import annotations

from typing import Iterator

import torch
from accelerate.utils.memory import should_reduce_batch_size


def parts_of(inputs: dict, y: torch.Tensor, parts: int) -> Iterator[tuple[dict, torch.Tensor]]:
    """A batch in `parts` slices of sentences, each cut to its own longest sentence (padding is on the right)."""
    for rows in torch.tensor_split(torch.arange(len(y), device=y.device), parts):
        if not len(rows):
            continue
        part = {k: v[rows] for k, v in inputs.items()}
        if "attention_mask" in part:
            width = int(part["attention_mask"].sum(1).max())
            part = {k: v[:, :width] for k, v in part.items()}
        yield part, y[rows]


class OutOfMemory(RuntimeError):
    """The device ran out of memory where taking the batch in more parts cannot help; the message says what can."""


def out_of_memory(error: BaseException) -> bool:
    """A device's (or the CPU allocator's) out-of-memory error, as accelerate tells one apart."""
    return isinstance(error, torch.OutOfMemoryError) or should_reduce_batch_size(error)
