"""LoRA-GA (Wang et al., 2024, "LoRA-GA: Low-Rank Adaptation with Gradient Approximation").

Plain LoRA starts with B = 0, so its first steps barely move the model, and here it cannot take
larger steps without collapsing (docs/experiments.md). LoRA-GA starts A and B from the singular vectors of
the full fine-tuning gradient, estimated on the first training batches, so that LoRA's first
steps move each weight the way full fine-tuning's would. PEFT (`init_lora_weights="lora_ga"`)
does the initialisation and, to leave the model unchanged at step 0, subtracts the starting
product from the frozen weights: W_res = W - s B0 A0.

Those altered frozen weights would break the Compare tab, which runs every method around one
shared copy of the pre-trained encoder, so the run is saved as plain LoRA (lora_residual.py).
"""
from __future__ import annotations

import itertools
import warnings

import torch
import torch.nn.functional as F

# 32 batches of 16 is 512 sentences, 6% of one Rotten Tomatoes epoch: the batches the first steps
# train on anyway. The estimate only needs the gradient's top 2r singular directions.
GRADIENT_BATCHES = 32


def estimate_gradients(model, lora_config, batches, device) -> None:
    """Attach the mean full fine-tuning gradient of each LoRA target to it (PEFT's preprocess_loraga)."""
    from peft import preprocess_loraga

    model.to(device)

    def train_step():
        for inputs, labels in itertools.islice(batches, GRADIENT_BATCHES):
            inputs = {k: v.to(device) for k, v in inputs.items()}
            # fp32, no autocast: the singular vectors of an averaged gradient are what is kept.
            loss = F.cross_entropy(model(**inputs).logits.float(), labels.to(device))
            loss.backward()

    with warnings.catch_warnings():
        # PEFT's counting hooks fire on frozen inputs by design; torch warns about that once per run.
        warnings.filterwarnings("ignore", message="Full backward hook is firing")
        preprocess_loraga(model, lora_config, train_step)
    model.zero_grad(set_to_none=True)  # the head's and others' gradients from the estimate must not reach step 1
