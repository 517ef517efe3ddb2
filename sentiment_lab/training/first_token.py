"""The last encoder layer's per-token work for the first token only, in a classifier whose head reads nothing
else ([CLS], <s>): the same logits and gradients for less work (README, "The last layer's first token").

Attention still reads every token. What follows it in the last layer (the attention output projection, the
residual, LayerNorm, the feed-forward block) works token by token, and every token but the first would be
thrown away by the head; so the inputs of that part are cut to the first token. Each family names the seam
where the cut goes, a module of its last layer whose 3-d inputs are cut; a family not named here, or a
model that is not such a classifier, is left as it is. The model's weights and state dict do not change.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from sentiment_lab.training.encoder_parts import UnsupportedArchitecture, layout

# BERT's kin: the attention output block, given the attention's output and the residual. DistilBERT and
# MPNet: the output projection, then the LayerNorm (their residual is added outside any module: broadcast
# from the first token to all, then cut again).
SEAMS = {
    "bert": ("attention.output",),
    "roberta": ("attention.output",),
    "xlm-roberta": ("attention.output",),
    "camembert": ("attention.output",),
    "electra": ("attention.output",),
    "deberta-v2": ("attention.output",),
    "distilbert": ("attention.out_lin", "sa_layer_norm"),
    "mpnet": ("attention.attn.o", "attention.LayerNorm"),
}

_cut: set[int] = set()  # ids of the models cut now, so that nested uses (evaluate inside fit) cut once


def _first_token(module: nn.Module, args: tuple) -> tuple:
    return tuple(a[:, :1] if torch.is_tensor(a) and a.dim() == 3 else a for a in args)


def seams(model: nn.Module) -> list[nn.Module]:
    """The modules of `model`'s last layer where the cut goes; [] where it does not apply."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model  # PEFT's wrapper
    names = SEAMS.get(getattr(getattr(inner, "config", None), "model_type", None))
    if not names or not type(inner).__name__.endswith("ForSequenceClassification"):
        return []
    try:
        parts = layout(inner)
    except UnsupportedArchitecture:
        return []
    if parts.count < 2:  # DeBERTa's convolution after the first layer reads that layer's every token
        return []
    last = inner.get_submodule(f"{parts.layers}.{parts.count - 1}")
    try:
        return [last.get_submodule(name) for name in names]
    except AttributeError:
        return []


@contextlib.contextmanager
def first_token_only(model: nn.Module):
    """Within the block, `model`'s last layer computes past its attention for the first token only; yields
    whether it does."""
    found = [] if id(model) in _cut else seams(model)
    handles = [module.register_forward_pre_hook(_first_token) for module in found]
    if handles:
        _cut.add(id(model))
    try:
        yield bool(handles) or id(model) in _cut
    finally:
        for handle in handles:
            handle.remove()
        if handles:
            _cut.discard(id(model))
