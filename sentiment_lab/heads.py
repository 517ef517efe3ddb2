"""What the classification head of the token methods (full, LoRA, adapters) reads.

`cls`: the model's own head on the [CLS] state, exactly as transformers builds it (a full run
then loads in a plain `pipeline`). `mean`: the same head layers read the mask-weighted mean of
the last hidden states instead, as sentence-transformer encoders such as the bundled MiniLM were
trained. Measured on Rotten Tomatoes over two seeds (README), validation prefers `cls` after 3
epochs, so `cls` is the default and `mean` an option.

The mean is written into the [CLS] position of the last hidden states by a forward hook, so the
model stays a standard transformers class: PEFT, save_pretrained and our loaders work unchanged,
and every head layer (BERT's pooler, DistilBERT's pre_classifier) keeps its pre-trained weights.
"""
from __future__ import annotations

import torch
from torch import nn

from .architectures import arch_of


class MeanIntoCls:
    """Two hooks: one keeps the attention mask of each call, one writes the masked token mean
    into position 0 of the last hidden states. They live as long as the model that holds them."""

    def __init__(self, model: nn.Module):
        self.mask: torch.Tensor | None = None
        model.base_model.register_forward_pre_hook(self._grab_mask, with_kwargs=True)
        model.base_model.get_submodule(arch_of(model).final_hidden).register_forward_hook(self._write_mean)

    def _grab_mask(self, module, args, kwargs):
        self.mask = kwargs.get("attention_mask")

    def _write_mean(self, module, args, output):
        hidden = output[0]
        mask = self.mask if self.mask is not None else torch.ones(hidden.shape[:2], device=hidden.device)
        weights = mask.to(hidden.dtype).unsqueeze(-1)
        mean = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)
        hidden = torch.cat([mean.unsqueeze(1), hidden[:, 1:]], dim=1)
        if isinstance(output, tuple):
            return (hidden, *output[1:])
        output["last_hidden_state"] = hidden  # ModelOutput keeps its tuple view in step
        return output


def apply_head(model: nn.Module, head: str) -> nn.Module:
    """Set what `model`'s classification head reads (`head` is validated by RunConfig); returns the model."""
    if head == "mean":
        MeanIntoCls(model)  # its hooks hold it
    return model
