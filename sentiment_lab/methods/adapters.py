"""Bottleneck adapters, written here: PEFT has none for transformers 5.

sequential (Houlsby et al., 2019): after the attention-output and feed-forward-output
projections of every layer, before the residual LayerNorm:  h + up(dropout(gelu(down(h)))).
parallel (He et al., 2022, "Towards a Unified View of Parameter-Efficient Transfer Learning"):
one adapter beside each feed-forward block, reading the block's input x and adding
up(dropout(gelu(down(x)))) to its output, where that paper found the adapter budget best spent;
the default, measured better here (docs/experiments.md).
`up` starts at zero either way, so the untrained model is exactly the pre-trained one. The
backbone is frozen; adapters, LayerNorms and the head train.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from .. import embedding_adapter, token_rows
from ..architectures import arch_of, head_parameter_names
from ..backbone import load_classifier
from ..heads import apply_head
from ..shared_encoder import classifier_around

NAME = "adapters"
KIND = "tokens"
ARTEFACT = "adapters.safetensors"
BUILD_READS_TRAIN = True  # trained token rows are chosen by their count in the training batches


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

    def delta(self, h: torch.Tensor) -> torch.Tensor:
        return self.up(self.dropout(self.act(self.down(h))))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.delta(h)


class WithAdapter(nn.Module):
    """A frozen linear layer followed by its adapter (sequential)."""

    def __init__(self, base: nn.Linear, adapter: Adapter):
        super().__init__()
        self.base = base
        self.adapter = adapter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.adapter(self.base(x))


class BesideFeedForward(nn.Module):
    """A frozen feed-forward block's last module with an adapter beside the block (parallel).

    "residual": BERT's BertOutput(h, x) computes LayerNorm(dense(h) + x) with x the block's input, so
    passing x + delta(x) as that residual adds the adapter's output before the LayerNorm without
    re-implementing the block. "output": DistilBERT's ffn(x) returns the block's output itself."""

    def __init__(self, base: nn.Module, adapter: Adapter, joins: str):
        super().__init__()
        self.base, self.adapter, self.joins = base, adapter, joins

    def forward(self, *args):
        if self.joins == "residual":
            hidden, block_input = args
            return self.base(hidden, block_input + self.adapter.delta(block_input))
        (block_input,) = args
        return self.base(block_input) + self.adapter.delta(block_input)


def insert_adapters(model: nn.Module, bottleneck: int, dropout: float, placement: str = "sequential") -> int:
    """Wrap every matching module; return how many adapters were inserted."""
    arch = arch_of(model)
    hidden = model.config.hidden_size  # DistilBERT's config maps it to `dim`
    if placement == "parallel":
        pattern, joins = arch.ffn_block
        targets = [name for name, _ in model.named_modules() if re.search(pattern, name)]
        wrap = functools.partial(BesideFeedForward, joins=joins)
    else:
        patterns = [re.compile(p) for p in arch.adapter_after]
        targets = [name for name, mod in model.named_modules() if isinstance(mod, nn.Linear) and any(p.search(name) for p in patterns)]
        wrap = WithAdapter
    for name in targets:
        parent_name, _, child = name.rpartition(".")
        module = model.get_submodule(name)
        device = next(module.parameters()).device
        setattr(model.get_submodule(parent_name), child, wrap(module, Adapter(hidden, bottleneck, dropout).to(device)))
    if not targets:
        raise ValueError("no layer matched the adapter placement for this architecture")
    return len(targets)


ROWS = ".rows."  # the trained token rows: saved in their own file (token_rows.py), as LoRA's are


def trainable_names(model: nn.Module) -> set[str]:
    head = set(head_parameter_names(model))
    return {
        n for n, _ in model.named_parameters()
        if ".adapter." in n or ROWS in n or "layernorm" in n.lower() or "layer_norm" in n.lower() or n in head
    }


def _add_modules(model: nn.Module, cfg, rows=None, rows_from: Path | None = None) -> None:
    """The adapters, then the token rows (`rows`: the ids to train; `rows_from`: a run's folder to read
    them from), then the embedding adapter, whose hook reads the corrected rows."""
    insert_adapters(model, cfg.adapter_dim, cfg.adapter_dropout, cfg.adapter_placement)
    if rows is not None:
        token_rows.attach(model, rows)
    elif rows_from is not None:
        token_rows.load(model, rows_from)
    if cfg.embedding_adapter:  # its weights are named *.adapter.*: trained and saved with the others
        embedding_adapter.attach_for_run(model, cfg, cfg.adapter_dropout)


def build(cfg, id2label, train=None, device="cpu"):
    model = apply_head(load_classifier(cfg.model, id2label, cfg.training_dropout), cfg.head)
    _add_modules(model, cfg, rows=token_rows.chosen_for_run(cfg, model, train) if cfg.token_rows else None)
    return _freeze_the_rest(model)


def _freeze_the_rest(model: nn.Module) -> nn.Module:
    keep = trainable_names(model)
    for name, p in model.named_parameters():
        p.requires_grad_(name in keep)
    return model


def save(model, folder: Path, cfg, tokenizer) -> None:
    state = {n: p.detach().cpu().contiguous() for n, p in model.named_parameters() if p.requires_grad and ROWS not in n}
    save_file(state, str(folder / ARTEFACT), metadata={"format": "pt", "adapter_dim": str(cfg.adapter_dim)})
    if cfg.token_rows:
        token_rows.save(model, folder)
    tokenizer.save_pretrained(folder)


def load(folder: Path, cfg, id2label, encoder=None):
    """With `encoder` (the Compare tab), the frozen weights are that encoder's own tensors."""
    base = load_classifier(cfg.model, id2label) if encoder is None else classifier_around(encoder, id2label)
    model = apply_head(base, cfg.head)
    _add_modules(model, cfg, rows_from=folder if cfg.token_rows else None)
    state = load_file(str(folder / ARTEFACT))
    missing = {n for n in trainable_names(model) if ROWS not in n} - set(state)
    if missing:
        raise ValueError(f"adapter weights are incomplete: {len(missing)} tensors missing (e.g. {sorted(missing)[0]})")
    # assign=True replaces tensors instead of copying into them: a shared encoder's LayerNorm stays untouched.
    model.load_state_dict(state, strict=False, assign=True)
    return _freeze_the_rest(model) if encoder is None else model  # a shared encoder's flags are not this run's to set
