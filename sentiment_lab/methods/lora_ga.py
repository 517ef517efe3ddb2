"""LoRA-GA (Wang et al., 2024, "LoRA-GA: Low-Rank Adaptation with Gradient Approximation").

Plain LoRA starts with B = 0, so its first steps barely move the model, and here it cannot take
larger steps without collapsing (README). LoRA-GA starts A and B from the singular vectors of
the full fine-tuning gradient, estimated on the first training batches, so that LoRA's first
steps move each weight the way full fine-tuning's would. PEFT (`init_lora_weights="lora_ga"`)
does the initialisation and, to leave the model unchanged at step 0, subtracts the starting
product from the frozen weights: W_res = W - s B0 A0.

Those altered frozen weights would break the Compare tab, which runs every method around one
shared copy of the pre-trained encoder. So a LoRA-GA run is saved as plain LoRA of rank 2r
around the *original* weights: s (B A - B0 A0) = s [B | -B0] [A ; A0], the conversion PEFT
documents for PiSSA-style initialisations; a saved run is then ordinary LoRA to every reader.
"""
from __future__ import annotations

import copy
import itertools
import warnings
from pathlib import Path

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


def starting_point(peft_model) -> dict[str, torch.Tensor]:
    """A0 and B0, kept to convert the run to plain LoRA when it is saved."""
    from peft import get_peft_model_state_dict

    return {k: v.detach().clone() for k, v in get_peft_model_state_dict(peft_model).items() if ".lora_A." in k or ".lora_B." in k}


def save_as_plain_lora(peft_model, start: dict[str, torch.Tensor], folder: Path) -> None:
    """Write the run as rank-2r LoRA around the unaltered pre-trained weights (see module doc)."""
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    state = {k: v.detach() for k, v in get_peft_model_state_dict(peft_model).items()}
    for key, first in start.items():
        now = state[key].to(first.device)
        # A stacks rows [A ; A0]; B stacks columns [B | -B0]: their product is BA - B0A0.
        state[key] = torch.cat([now, first], 0) if ".lora_A." in key else torch.cat([now, -first], 1)
    config = copy.deepcopy(peft_model.peft_config["default"])
    config.init_lora_weights = True
    config.lora_ga_config = None
    config.r *= 2
    config.lora_alpha *= 2  # alpha / r, LoRA's scaling, stays the same
    config.inference_mode = True
    folder.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(str(folder))
    save_file({k: v.cpu().contiguous() for k, v in state.items()}, str(folder / "adapter_model.safetensors"), metadata={"format": "pt"})
