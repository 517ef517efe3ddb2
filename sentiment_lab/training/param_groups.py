"""Optimizer parameter groups: weight decay on matrices only, as the Trainer does (biases and norms keep none)."""

from __future__ import annotations


def param_groups(model, weight_decay: float) -> list[dict]:
    trained = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in trained if p.ndim >= 2], "weight_decay": weight_decay},
        {"params": [p for p in trained if p.ndim < 2], "weight_decay": 0.0},
    ]
    return [g for g in groups if g["params"]]
