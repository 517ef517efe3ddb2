"""Trained rows of the token embedding table for LoRA and adapters (`--token_rows K`; 0: off).

Full fine-tuning moves each token's row of the embedding table on its own, and with the table frozen
it loses 0.8 pt of test accuracy (docs/experiments.md, "Full fine-tuning's embeddings"): the part of its
lead over LoRA that a rank-8 LoRA on the table does not bring back and an adapter on its output only
partly (both share a few directions among all rows). This gives LoRA (and adapters, when asked) a
trainable correction for the rows of the K tokens seen most often in the training split, the rows
full fine-tuning moves most, at full fine-tuning's own rate (`--token_rows_lr`): K x hidden
weights (word frequencies fall off fast: a few thousand rows take in most of a split's tokens), every
other row stays as pre-trained. The corrections start at zero, so the untrained model is the pre-trained one.

Like the embedding adapter it hangs off the table module (child `rows`, a forward hook), so every
other tensor keeps its name and the shared encoder of the Compare tab is never written.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .embedding_adapter import token_table

ARTEFACT = "token_rows.safetensors"


class TokenRows(nn.Module):
    def __init__(self, vocab_size: int, token_ids: torch.Tensor, hidden: int):
        super().__init__()
        token_ids = torch.as_tensor(token_ids, dtype=torch.long)
        if token_ids.numel() and (token_ids.min() < 0 or token_ids.max() >= vocab_size):
            raise ValueError(f"token ids must be in [0, {vocab_size})")
        self.register_buffer("token_ids", token_ids)
        # Every other token maps to slot len(token_ids), past the corrections: forward() gives it zeros.
        slot = torch.full((vocab_size,), len(token_ids), dtype=torch.long)
        slot[token_ids] = torch.arange(len(token_ids))
        self.register_buffer("slot", slot, persistent=False)
        self.delta = nn.Parameter(torch.zeros(len(token_ids), hidden))

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        if not len(self.delta):
            return self.delta.new_zeros(*input_ids.shape, self.delta.shape[1])
        slots = self.slot[input_ids]
        # A masked lookup rather than a zero row appended to the corrections: no copy of the whole table a step.
        return F.embedding(slots.clamp(max=len(self.delta) - 1), self.delta) * (slots < len(self.delta)).unsqueeze(-1)


def most_frequent(batches, k: int, vocab_size: int) -> torch.Tensor:
    """The ids of the k tokens seen most often in `batches` ((inputs, labels) pairs), padding left out
    and tokens never seen too; ties go to the smaller id, so the choice does not depend on batch order."""
    counts = torch.zeros(vocab_size, dtype=torch.long)
    for inputs, _ in batches:
        ids = inputs["input_ids"][inputs["attention_mask"].bool()].cpu()
        counts += torch.bincount(ids, minlength=vocab_size)
    order = torch.argsort(-counts, stable=True)[:k]
    return order[counts[order] > 0].sort().values


def chosen_for_run(cfg, model: nn.Module, train):
    """The token ids a run trains rows for, counted in one pass over `train` (the training split's
    TokenBatches: batch by batch, so a large split is never held padded in memory at once)."""
    if train is None:
        raise ValueError("token_rows needs the training batches to count tokens in")
    return most_frequent(train.epoch(0), cfg.token_rows, token_table(model).num_embeddings)


def _add_rows(module: nn.Module, args, output: torch.Tensor) -> torch.Tensor:
    return output + module.rows(args[0]).to(output.dtype)


def attach(model: nn.Module, token_ids: torch.Tensor) -> nn.Module:
    """Give `model`'s token table trainable rows for `token_ids`; returns them. Attach before the
    embedding adapter, whose hook then reads the corrected rows."""
    table = token_table(model)
    weight = next(table.parameters())
    table.rows = TokenRows(weight.shape[0], token_ids, weight.shape[1]).to(weight.device)
    table.register_forward_hook(_add_rows)
    return table.rows


def save(model: nn.Module, folder: Path) -> None:
    from safetensors.torch import save_file

    rows = token_table(model).rows
    state = {"token_ids": rows.token_ids.cpu().contiguous(), "delta": rows.delta.detach().float().cpu().contiguous()}
    save_file(state, str(folder / ARTEFACT), metadata={"format": "pt"})


def load(model: nn.Module, folder: Path) -> None:
    """Attach a run's rows to `model`."""
    from safetensors.torch import load_file

    path = folder / ARTEFACT
    if not path.is_file():
        raise ValueError(f"the run has no {ARTEFACT}, though its config names trained token rows")
    state = load_file(str(path))
    rows = attach(model, state["token_ids"])
    with torch.no_grad():
        rows.delta.copy_(state["delta"])
