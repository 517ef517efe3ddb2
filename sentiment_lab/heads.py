"""What the classification head of the token methods (full, LoRA, adapters) reads.

`cls`: the model's own head on the [CLS] state, exactly as transformers builds it (a full run
then loads in a plain `pipeline`). `mean`: the same head layers read the mask-weighted mean of
the last hidden states instead, as sentence-transformer encoders such as the bundled MiniLM were
trained. Measured on Rotten Tomatoes over two seeds (docs/experiments.md), validation prefers `cls` after 3
epochs, so `cls` is the default and `mean` an option. `mean_last4`: the token mean averaged over
the last four layers, as the SVM / freeze features were until stop 20 (they now read every layer side by side). It was meant to free the
head from the top layer, whose output collapses when LoRA's rate is too high; measured on a GPU it
neither lets LoRA train faster nor beats `cls` (docs/experiments.md), so it stays an option.

The mean is written into the [CLS] position of the last hidden states by a forward hook, so the
model stays a standard transformers class: PEFT, save_pretrained and our loaders work unchanged,
and every head layer (BERT's pooler, DistilBERT's pre_classifier) keeps its pre-trained weights.
"""
from __future__ import annotations

import torch
from torch import nn

from .architectures import arch_of


LAYERS = {"mean": 1, "mean_last4": 4}


class MeanIntoCls:
    """Hooks: one keeps the attention mask of each call, one on each of the `layers - 1` states
    below the last keeps its output, and one writes the masked token mean of those states and the
    last into position 0 of the last hidden states. They live as long as the model that holds them."""

    def __init__(self, model: nn.Module, layers: int = 1):
        self.mask: torch.Tensor | None = None
        self.kept: list[torch.Tensor] = []
        final = arch_of(model).final_hidden
        model.base_model.register_forward_pre_hook(self._grab_mask, with_kwargs=True)
        # The embeddings count as a state, as in output_hidden_states (and the SVM's features).
        below = [model.base_model.embeddings, *list(model.base_model.get_submodule(final + ".layer"))[:-1]]
        for module in below[max(0, len(below) - (layers - 1)):] if layers > 1 else []:
            module.register_forward_hook(self._keep)
        model.base_model.get_submodule(final).register_forward_hook(self._write_mean)

    def _grab_mask(self, module, args, kwargs):
        self.mask = kwargs.get("attention_mask")
        self.kept = []

    def _keep(self, module, args, output):
        self.kept.append(output[0] if isinstance(output, tuple) else output)

    def _write_mean(self, module, args, output):
        hidden = output[0]
        mask = self.mask if self.mask is not None else torch.ones(hidden.shape[:2], device=hidden.device)
        weights = mask.to(hidden.dtype).unsqueeze(-1)
        states = torch.stack([*self.kept, hidden]).mean(0) if self.kept else hidden
        self.kept = []
        mean = (states * weights).sum(1) / weights.sum(1).clamp(min=1)
        return with_last_hidden(output, torch.cat([mean.unsqueeze(1), hidden[:, 1:]], dim=1))


def with_last_hidden(output, hidden: torch.Tensor):
    """An encoder's output (tuple or ModelOutput) with its last hidden states replaced: a forward hook's return."""
    if isinstance(output, tuple):
        return (hidden, *output[1:])
    output["last_hidden_state"] = hidden  # ModelOutput keeps its tuple view in step
    return output


def apply_head(model: nn.Module, head: str) -> nn.Module:
    """Set what `model`'s classification head reads (`head` is validated by RunConfig); returns the model."""
    if head in LAYERS:
        MeanIntoCls(model, LAYERS[head])  # its hooks hold it
    return model
