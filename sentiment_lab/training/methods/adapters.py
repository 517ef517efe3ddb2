"""Bottleneck adapters (Houlsby et al., 2019), written here: PEFT has none for transformers 5.

After the attention output projection and the feed-forward output projection of every encoder layer,
before the residual and its LayerNorm:  h + up(dropout(gelu(down(h)))). `up` starts at zero, so the
untrained model is exactly the pre-trained one. The backbone is frozen; the adapters, the layers'
LayerNorms and the classification head train, as in the paper.

Saved as `adapters.safetensors`, the trained tensors under the plain classifier's names (head, LayerNorms)
and `<projection>.adapter.{down,up}.{weight,bias}`, with `adapters.json` naming the base model, the
projections and the label names: README shows the few lines that rebuild it with transformers alone.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from sentiment_lab.training.backbone import load_classifier, portable_name
from sentiment_lab.training.encoder_parts import head_parameters, layout
from sentiment_lab.training.methods.base import train_only
from sentiment_lab.training.shared_encoder import classifier_around

NAME = "adapters"
INPUT = "tokens"
SHARES_ENCODER = True
ARTEFACT = "adapters.safetensors"
SPEC = "adapters.json"


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
    """A frozen projection followed by its adapter."""

    def __init__(self, base: nn.Linear, adapter: Adapter):
        super().__init__()
        self.base = base
        self.adapter = adapter

    @property
    def weight(self) -> torch.Tensor:
        """The frozen projection's weight, for models that read it off the module (T5 checks its dtype)."""
        return self.base.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.adapter(self.base(x))


def projections(model: nn.Module) -> list[str]:
    """The projections an adapter follows: each layer's attention output and feed-forward output."""
    parts = layout(model)
    return parts.names((parts.attention_output, parts.ffn_output))


def insert_adapters(model: nn.Module, bottleneck: int, dropout: float, after: list[str]) -> None:
    hidden = model.config.hidden_size
    for name in dict.fromkeys(after):  # ALBERT's one shared layer is named once
        parent_name, _, child = name.rpartition(".")
        module = model.get_submodule(name)
        adapter = Adapter(hidden, bottleneck, dropout).to(module.weight.device)
        setattr(model.get_submodule(parent_name), child, WithAdapter(module, adapter))


def trainable_parameters(model: nn.Module) -> dict:
    """The adapters' own weights, the layers' LayerNorms and the head, as the paper trains them."""
    norms = tuple(n + "." for n in layout(model).norms)
    head = set(head_parameters(model))
    inside = {id(p) for m in model.modules() if isinstance(m, Adapter) for p in m.parameters()}
    return {n: p for n, p in model.named_parameters() if id(p) in inside or n.startswith(norms) or n in head}


def check(model: nn.Module) -> None:
    """Adapters need each layer's attention and feed-forward output projections and the head."""
    projections(model)
    head_parameters(model)


def build(cfg, id2label, width=None):
    model = load_classifier(cfg.model, id2label)
    insert_adapters(model, cfg.adapters.dim, cfg.adapters.dropout, projections(model))
    return train_only(model, trainable_parameters(model))


def logits(model, input_ids, attention_mask, features=None):
    return model(input_ids=input_ids, attention_mask=attention_mask).logits


def save(model, folder: Path, cfg, tokenizer, id2label: dict) -> None:
    state = {n: p.detach().cpu().contiguous() for n, p in trainable_parameters(model).items()}
    save_file(state, str(folder / ARTEFACT), metadata={"format": "pt"})
    spec = {
        "base_model": portable_name(cfg.model),
        "bottleneck": cfg.adapters.dim,
        "activation": "gelu",
        "after": list(dict.fromkeys(n.split(".adapter.")[0] for n in state if ".adapter." in n)),
        "id2label": {str(k): v for k, v in model.config.id2label.items()},
    }
    (folder / SPEC).write_text(json.dumps(spec, indent=1))
    tokenizer.save_pretrained(folder)


def load(folder: Path, cfg, id2label, encoder=None):
    """With `encoder` (the Compare tab), the frozen weights are that encoder's own tensors."""
    model = load_classifier(cfg.model, id2label) if encoder is None else classifier_around(encoder, id2label)
    spec = json.loads((folder / SPEC).read_text())
    insert_adapters(model, spec["bottleneck"], 0.0, spec["after"])
    state = load_file(str(folder / ARTEFACT))
    missing = set(trainable_parameters(model)) - set(state)
    if missing:
        raise ValueError(f"adapter weights are incomplete: {len(missing)} tensors missing (e.g. {sorted(missing)[0]})")
    # assign=True replaces tensors instead of copying into them: a shared encoder's LayerNorm stays untouched.
    model.load_state_dict(state, strict=False, assign=True)
    return (
        train_only(model, trainable_parameters(model)) if encoder is None else model
    )  # a shared encoder's flags are not this run's to set
