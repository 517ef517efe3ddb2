"""Optimizer parameter groups: weight decay on matrices only, an optional learning rate of its own
for the classification head, an optional layer-wise decay of the learning rate, and LoRA+'s faster
rate for the B matrices (and its analogue for the adapters' up-projections)."""
from __future__ import annotations

import re

LORA_B = re.compile(r"(?:^|\.)lora_B\.")
ADAPTER_UP = re.compile(r"(?:^|\.)adapter\.up\.")
LAYER = re.compile(r"(?:^|\.)layer\.(\d+)\.")
EMBEDDINGS = re.compile(r"(?:^|\.)embeddings\.")
TOKEN_ROWS = re.compile(r"(?:^|\.)rows\.delta$")


def _head_pattern(model):
    """Names under the architecture's head modules (BERT: pooler, classifier), PEFT-wrapped or not."""
    from .architectures import UnsupportedArchitecture, head_name_pattern

    try:
        return head_name_pattern(model)
    except (UnsupportedArchitecture, AttributeError):  # freeze's own head: nothing but head
        return None


def _depth(name: str, layers: int) -> int:
    """How many layers below the top this parameter sits: 0 for the top layer, layers for embeddings."""
    if m := LAYER.search(name):
        return layers - 1 - int(m.group(1))
    return layers if EMBEDDINGS.search(name) else 0


def param_groups(model, lr: float, weight_decay: float, head_lr: float | None = None, layer_decay: float = 1.0,
                 lora_plus: float = 1.0, adapter_plus: float = 1.0, rows_lr: float | None = None) -> list[dict]:
    """Groups for AdamW. Biases and norms get no weight decay. The head trains at `head_lr` (default
    `lr`); encoder layer i of L at lr * layer_decay**(L-1-i), embeddings at lr * layer_decay**L.
    LoRA's B matrices train at lora_plus times their layer's rate (LoRA+, Hayou et al. 2024: B starts
    at zero and A at random, and equal rates leave B learning too slowly as the width grows). Adapters'
    up-projections start at zero too and train at adapter_plus times theirs. The trained rows of the
    token table (token_rows.py) train at `rows_lr` (default `lr`)."""
    head = _head_pattern(model)
    config = getattr(model, "config", None)
    layers = getattr(config, "num_hidden_layers", 0) or 0
    groups: dict[tuple[float, float], list] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if head is not None and head.search(name):
            rate = lr if head_lr is None else head_lr
        elif rows_lr is not None and TOKEN_ROWS.search(name):
            rate = rows_lr
        else:
            rate = lr * layer_decay ** _depth(name, layers) if layers else lr
            if LORA_B.search(name):
                rate *= lora_plus
            elif ADAPTER_UP.search(name):
                rate *= adapter_plus
        decay = weight_decay if p.ndim >= 2 else 0.0
        groups.setdefault((rate, decay), []).append(p)
    return [{"params": ps, "lr": rate, "weight_decay": decay} for (rate, decay), ps in groups.items()]
