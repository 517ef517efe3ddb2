"""Dropout on a CPU with masks cut from 64-bit random words: torch's `bernoulli_` there draws a random number
per element, a large part of a LoRA step (README, "On this CPU"); these masks take two elements from each
random word, so half the draws. Same p, same inverted scaling, same generator (so seeds and resume
behave as before); only which elements a given seed drops differs."""

from __future__ import annotations

import torch
from torch import nn


class IntegerMaskDropout(nn.Dropout):
    """nn.Dropout whose training mask keeps an element where a uniform 32-bit integer is at or above the
    p-quantile: dropped with probability round(p * 2**32) / 2**32, within 2**-33 of p."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if self.p == 1:
            return x * 0
        words = torch.empty((x.numel() + 1) // 2, dtype=torch.int64, device=x.device).random_(-(2**63), None)
        keep = words.view(torch.int32)[: x.numel()].view(x.shape) >= -(2**31) + round(self.p * 2**32)
        return torch.where(keep, x * (1 / (1 - self.p)), 0)


def use_integer_masks(model: nn.Module) -> int:
    """Make `model`'s nn.Dropout modules (the model's own, PEFT's, the adapters') draw integer masks;
    returns how many. The modules keep their p, place and state dict; nothing is saved differently."""
    swapped = 0
    for module in model.modules():
        if type(module) is nn.Dropout:
            module.__class__ = IntegerMaskDropout
            swapped += 1
    return swapped
