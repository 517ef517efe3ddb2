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

from .config import HEADS

# The submodule whose output is the last hidden states that the head indexes at position 0.
FINAL_HIDDEN = {"bert": "encoder", "electra": "encoder", "roberta": "encoder", "xlm-roberta": "encoder",
                "camembert": "encoder", "distilbert": "transformer"}


class MeanIntoCls:
    """The two hooks of one model; `remove()` restores the [CLS] head."""

    def __init__(self, model: nn.Module):
        kind = getattr(model.config, "model_type", "?")
        if kind not in FINAL_HIDDEN:
            raise ValueError(f"head 'mean' is not supported for architecture {kind!r}; use head 'cls' or one of "
                             f"{', '.join(sorted(FINAL_HIDDEN))}")
        final = model.base_model.get_submodule(FINAL_HIDDEN[kind])
        self.mask: torch.Tensor | None = None
        self.handles = [
            model.base_model.register_forward_pre_hook(self._grab_mask, with_kwargs=True),
            final.register_forward_hook(self._write_mean),
        ]

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

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def apply_head(model: nn.Module, head: str) -> nn.Module:
    """Set what `model`'s classification head reads; returns the model."""
    if head == "mean":
        model._mean_into_cls = MeanIntoCls(model)  # kept on the model: the hooks live as long as it does
    elif head != "cls":
        raise ValueError(f"head must be one of {', '.join(HEADS)}, got {head!r}")
    return model
