"""Dropout on a CPU with masks cut from 64-bit random words: torch's `bernoulli_` there draws a random number
per element, a large part of a LoRA step (README, "On this CPU"); these masks take four 16-bit elements from
each random word, so a quarter of the draws, and in fp32 apply mask and scaling as one multiplication. Same p (to
within 2**-17), same inverted scaling, same generator (so seeds and resume behave as before); only which
elements a given seed drops differs."""

from __future__ import annotations

import torch
from torch import nn


def integer_mask_dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    """Inverted dropout of `x` (training mode) keeping an element where a uniform 16-bit integer is at or above the
    p-quantile: dropped with probability round(p * 2**16) / 2**16, within 2**-17 of p."""
    if p == 0:
        return x
    if p == 1:
        return x * 0
    words = torch.empty((x.numel() + 3) // 4, dtype=torch.int64, device=x.device).random_(-(2**63), None)
    keep = words.view(torch.int16)[: x.numel()].view(x.shape) >= -(2**15) + round(p * 2**16)
    if x.dtype != torch.float32:  # bf16 scaled by a bf16 1/(1-p) would be off by up to 0.4%; fp32 math here
        return torch.where(keep, x * (1 / (1 - p)), 0)
    # A float mask of 0 or 1/(1-p): forward and backward are then one multiplication each.
    return x * torch.where(keep, x.new_tensor(1 / (1 - p)), x.new_tensor(0.0))


class IntegerMaskDropout(nn.Dropout):
    """nn.Dropout drawing its training masks with `integer_mask_dropout`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return integer_mask_dropout(x, self.p) if self.training else x


def use_integer_masks(model: nn.Module) -> int:
    """Make `model`'s nn.Dropout modules (the model's own, PEFT's, the adapters') draw integer masks;
    returns how many. The modules keep their p, place and state dict; nothing is saved differently."""
    swapped = 0
    for module in model.modules():
        if type(module) is nn.Dropout:
            module.__class__ = IntegerMaskDropout
            swapped += 1
    return swapped
