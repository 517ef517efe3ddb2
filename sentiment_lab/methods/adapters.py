"""Bottleneck adapters (Houlsby et al., 2019), written here: PEFT has none for transformers 5.

After the attention-output and feed-forward-output projections of every layer, before the
residual LayerNorm:  h + up(dropout(gelu(down(h)))).  `up` starts at zero, so the untrained
model is exactly the pre-trained one. The backbone is frozen; adapters, LayerNorms and the
head train.
"""
from __future__ import annotations

import re
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ..architectures import arch_of, head_parameter_names
from ..backbone import load_classifier
from ..heads import apply_head
from ..shared_encoder import classifier_around

NAME = "adapters"
KIND = "tokens"
ARTEFACT = "adapters.safetensors"


class Adapter(nn.Module):
    """Down-projection, GELU, dropout, up-projection, residual."""

    def __init__(self, hidden: int, bottleneck: int, dropout: float):
        super().__init__()
        self.down = nn.Linear(hidden, bottleneck)
        self.act = nn.GELU()
        self.dropout = nn.Dropout(dropout)
        self.up = nn.Linear(bottleneck, hidden)
        nn.init.normal_(self.down.weight, std=0.02)
        nn.init.zeros_(self.down.bias)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.up(self.dropout(self.act(self.down(h))))


class WithAdapter(nn.Module):
    """A frozen linear layer followed by its adapter; `enabled=False` gives the bare backbone back."""

    def __init__(self, base: nn.Linear, adapter: Adapter):
        super().__init__()
        self.base = base
        self.adapter = adapter
        self.enabled = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.base(x)
        return self.adapter(h) if self.enabled else h


def insert_adapters(model: nn.Module, bottleneck: int, dropout: float) -> int:
    """Wrap every matching linear layer; return how many adapters were inserted."""
    patterns = [re.compile(p) for p in arch_of(model).adapter_after]
    targets = [(name, mod) for name, mod in model.named_modules() if isinstance(mod, nn.Linear) and any(p.search(name) for p in patterns)]
    for name, linear in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        adapter = Adapter(linear.out_features, bottleneck, dropout).to(linear.weight.device)
        setattr(parent, child, WithAdapter(linear, adapter))
    if not targets:
        raise ValueError("no layer matched the adapter placement for this architecture")
    return len(targets)


def trainable_names(model: nn.Module) -> set[str]:
    head = set(head_parameter_names(model))
    return {
        n for n, _ in model.named_parameters()
        if ".adapter." in n or "layernorm" in n.lower() or "layer_norm" in n.lower() or n in head
    }


def build(cfg, id2label):
    model = apply_head(load_classifier(cfg.model, id2label), cfg.head)
    insert_adapters(model, cfg.adapter_dim, cfg.adapter_dropout)
    keep = trainable_names(model)
    for name, p in model.named_parameters():
        p.requires_grad_(name in keep)
    return model


def save(model, folder: Path, cfg, tokenizer) -> None:
    state = {n: p.detach().cpu().contiguous() for n, p in model.named_parameters() if p.requires_grad}
    save_file(state, str(folder / ARTEFACT), metadata={"format": "pt", "adapter_dim": str(cfg.adapter_dim)})
    tokenizer.save_pretrained(folder)


def load(folder: Path, cfg, id2label, encoder=None):
    """With `encoder` (the Compare tab), the frozen weights are that encoder's own tensors."""
    if encoder is None:
        model = build(cfg, id2label)
    else:
        model = apply_head(classifier_around(encoder, id2label), cfg.head)
        insert_adapters(model, cfg.adapter_dim, cfg.adapter_dropout)
    state = load_file(str(folder / ARTEFACT))
    missing = trainable_names(model) - set(state)
    if missing:
        raise ValueError(f"adapter weights are incomplete: {len(missing)} tensors missing (e.g. {sorted(missing)[0]})")
    # assign=True replaces tensors instead of copying into them: a shared encoder's LayerNorm stays untouched.
    model.load_state_dict(state, strict=False, assign=True)
    return model
