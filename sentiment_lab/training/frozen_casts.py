"""Frozen linear layers cast once, not every step: under CPU autocast each frozen nn.Linear's weight and bias
are copied to bf16 at every forward (autocast caches only weights that train), the same copy each time
since they never change while training. These layers keep that copy for a whole `fit` and hand autocast
bf16 tensors, which it takes as they are: the same products, bit for bit."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CastOnceLinear(nn.Linear):
    """nn.Linear that, frozen under CPU autocast, computes with a kept copy of its weights in autocast's dtype."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not frozen(self) or not torch.is_autocast_enabled("cpu"):
            return super().forward(x)
        dtype = torch.get_autocast_dtype("cpu")
        kept = self.__dict__.get("_cast_once")  # not a buffer: never in the state dict
        if kept is None or kept[0].dtype != dtype:
            kept = self.__dict__["_cast_once"] = (
                self.weight.detach().to(dtype),
                None if self.bias is None else self.bias.detach().to(dtype),
            )
        return F.linear(x.to(dtype), *kept)


def frozen(layer: nn.Linear) -> bool:
    return not any(p.requires_grad for p in layer.parameters(recurse=False))


def cast_frozen_linears_once(model: nn.Module) -> list[nn.Linear]:
    """Make `model`'s frozen nn.Linear layers CastOnceLinear; returns them, for `uncast`."""
    swapped = []
    for module in model.modules():
        if type(module) is nn.Linear and frozen(module):
            module.__class__ = CastOnceLinear
            swapped.append(module)
    return swapped


def uncast(layers: list[nn.Linear]) -> None:
    """Back to plain nn.Linear, the kept copies freed (the weights may change after `fit`)."""
    for layer in layers:
        layer.__dict__.pop("_cast_once", None)
        layer.__class__ = nn.Linear
