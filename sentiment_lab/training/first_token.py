"""The last encoder layer's per-token work for the first token only, in a classifier whose head reads nothing
else ([CLS], <s>): the same logits and gradients for less work (README, "On this CPU", measures it).

The keys and values of the last layer still come from every token. Its queries are computed for the first
token only and broadcast to every position (an attention function may then compute one row: cpu_attention.py
does), and what follows the attention (the output projection, the residual, LayerNorm, the feed-forward block)
works token by token, so its inputs are cut to the first token; every other token would be thrown away by the
head. Each family names its seams, modules of its last layer; a family not named here, or a model that is not
such a classifier, is left as it is. The model's weights and state dict do not change.

The broadcast query is a tensor of stride 0 along the tokens; by default the queries are cut only for a model
on a CPU, where torch's attention kernels are tested with it, and elsewhere only what follows the attention.
"""

from __future__ import annotations

import contextlib
import weakref

import torch
from torch import nn

from sentiment_lab.training.encoder_parts import UnsupportedArchitecture, layout

# Per family: the query projection (none for DeBERTa, whose relative attention reads each query row's own
# position), then where the cut goes after the attention. BERT's kin: the attention output block, given the
# attention's output and the residual. DistilBERT and MPNet: the output projection, then the LayerNorm (their
# residual is added outside any module: broadcast from the first token, then cut again).
BERT = ("attention.self.query", ("attention.output",))
SEAMS = {
    "bert": BERT,
    "roberta": BERT,
    "xlm-roberta": BERT,
    "camembert": BERT,
    "electra": BERT,
    "deberta-v2": (None, ("attention.output",)),
    "distilbert": ("attention.q_lin", ("attention.out_lin", "sa_layer_norm")),
    "mpnet": ("attention.attn.q", ("attention.attn.o", "attention.LayerNorm")),
}

_cut: weakref.WeakSet = weakref.WeakSet()  # the models cut now, so that nested uses (evaluate inside fit) cut once


def _first_token(module: nn.Module, args: tuple) -> tuple:
    return tuple(a[:, :1] if torch.is_tensor(a) and a.dim() == 3 else a for a in args)


class _Query:
    """Hooks of the query projection: its input cut to the first token, its output broadcast back."""

    def __init__(self):
        self.length = 0

    def before(self, module: nn.Module, args: tuple) -> tuple:
        self.length = args[0].shape[1]
        return _first_token(module, args)

    def after(self, module: nn.Module, args: tuple, out: torch.Tensor) -> torch.Tensor:
        return out.expand(out.shape[0], self.length, *out.shape[2:])


def seams(model: nn.Module) -> list[nn.Module]:
    """The modules of `model`'s last layer where the cut goes, the query projection (or None) first; [] where it
    does not apply."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model  # PEFT's wrapper
    family = SEAMS.get(getattr(getattr(inner, "config", None), "model_type", None))
    if not family or not type(inner).__name__.endswith("ForSequenceClassification"):
        return []
    try:
        parts = layout(inner)
    except UnsupportedArchitecture:
        return []
    if parts.count < 2:  # DeBERTa's convolution after the first layer reads that layer's every token
        return []
    last = inner.get_submodule(f"{parts.layers}.{parts.count - 1}")
    query, after = family
    try:
        return [last.get_submodule(query) if query else None] + [last.get_submodule(name) for name in after]
    except AttributeError:
        return []


@contextlib.contextmanager
def first_token_only(model: nn.Module, queries: bool | None = None):
    """Within the block, `model`'s last layer computes what follows its attention (and, with `queries`, its
    queries; None: where the model is on a CPU) for the first token only; yields whether it does."""
    found = [] if model in _cut else seams(model)
    if queries is None:
        queries = bool(found) and next(model.parameters()).device.type == "cpu"
    handles = [module.register_forward_pre_hook(_first_token) for module in found[1:]]
    if found and found[0] is not None and queries:
        query = _Query()
        handles += [found[0].register_forward_pre_hook(query.before), found[0].register_forward_hook(query.after)]
    if handles:
        _cut.add(model)
    try:
        yield model in _cut
    finally:
        for handle in handles:
            handle.remove()
        if handles:
            _cut.discard(model)
