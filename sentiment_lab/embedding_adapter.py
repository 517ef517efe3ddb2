"""A bottleneck adapter on the token embeddings, for LoRA and adapters (`--embedding_adapter N`; 0: off).
LoRA's default is 128 (better on every validation measure in 9 of 10 seeds); adapters' is 0 (worse on a GPU
screen and over four seeds here, with its dropout or without): docs/experiments.md, "An adapter on the token embeddings".

Full fine-tuning trains the token embedding table (11.7 M of MiniLM's 22.7 M weights); with the table
frozen it loses 0.8 pt of test accuracy (docs/experiments.md, "Full fine-tuning's embeddings"), the part of
its lead that LoRA and adapters never touch. A rank-8 LoRA on the table measured level: it moves
each row only along 8 shared directions. This adapter (down, GELU, dropout, up; up starts at zero,
so the untrained model is the pre-trained one) adds to each token's vector a correction computed
from that vector, before the position embeddings and the LayerNorm: a token seen in training
moves the tokens whose vectors resemble it, for ~2 x 384 x N weights.

It hangs off the table module as its child `adapter` with a forward hook, so every other tensor
keeps its name: PEFT, the shared encoder of the Compare tab and saved runs are unchanged.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

ARTEFACT = "embedding_adapter.safetensors"  # LoRA runs keep it beside PEFT's files; adapter runs inside theirs
SUFFIX = "embeddings.word_embeddings"


def token_table(model: nn.Module) -> nn.Module:
    """The token embedding module (PEFT's wrapper when LoRA adapts the table too): the outermost match."""
    for name, module in model.named_modules():
        if name.endswith(SUFFIX):
            return module
    raise ValueError("this model has no token embedding table named *.embeddings.word_embeddings")


def _add_delta(module: nn.Module, args, output: torch.Tensor) -> torch.Tensor:
    return output + module.adapter.delta(output)


def attach(model: nn.Module, bottleneck: int, dropout: float) -> nn.Module:
    """Give `model`'s token table a trainable adapter; returns the adapter."""
    from .methods.adapters import Adapter

    table = token_table(model)
    weight = next(table.parameters())
    table.adapter = Adapter(weight.shape[-1], bottleneck, dropout).to(weight.device)
    table.register_forward_hook(_add_delta)
    return table.adapter


def attach_for_run(model: nn.Module, cfg, method_dropout: float) -> nn.Module:
    """attach() at the run's width, with its own dropout if it sets one, else the method's."""
    own = cfg.embedding_adapter_dropout
    return attach(model, cfg.embedding_adapter, method_dropout if own is None else own)


def save(model: nn.Module, folder: Path) -> None:
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in token_table(model).adapter.state_dict().items()}
    save_file(state, str(folder / ARTEFACT), metadata={"format": "pt"})


def load(model: nn.Module, folder: Path, bottleneck: int) -> None:
    """Attach an adapter to `model` and read a run's weights into it."""
    from safetensors.torch import load_file

    path = folder / ARTEFACT
    if not path.is_file():
        raise ValueError(f"the run has no {ARTEFACT}, though its config names an embedding adapter")
    attach(model, bottleneck, 0.0).load_state_dict(load_file(str(path)))
