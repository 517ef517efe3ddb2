"""Starting points that alter the frozen weights (LoRA-GA, PiSSA), saved as plain LoRA.

Both start A and B at non-zero A0, B0 and, to leave the model unchanged at step 0 (LoRA-GA) or to
split each weight into principal and residual parts (PiSSA), set the frozen weight to
W_res = W - s B0 A0. Those altered frozen weights would break the Compare tab, which runs every
method around one shared copy of the pre-trained encoder. So such a run is saved as plain LoRA of
rank 2r around the *original* weights: W_res + s B A = W + s (B A - B0 A0) = W + s [B | -B0] [A ; A0],
the conversion PEFT documents for PiSSA; a saved run is then ordinary LoRA to every reader.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path

import torch

# PEFT names A and B `lora_A` / `lora_B` in linear layers and `lora_embedding_A` / `_B` in embeddings.
# An embedding's A starts at zero whatever the init (PEFT has no PiSSA for embeddings), so B0 A0 = 0
# there and the same stacking is exact: saved at rank 2r, as every other target.
A_KEY = re.compile(r"\.lora_(?:embedding_)?A(?:\.|$)")
B_KEY = re.compile(r"\.lora_(?:embedding_)?B(?:\.|$)")


def starting_point(peft_model) -> dict[str, torch.Tensor]:
    """A0 and B0, kept to convert the run to plain LoRA when it is saved."""
    from peft import get_peft_model_state_dict

    return {k: v.detach().clone() for k, v in get_peft_model_state_dict(peft_model).items() if A_KEY.search(k) or B_KEY.search(k)}


def save_as_plain_lora(peft_model, start: dict[str, torch.Tensor], folder: Path) -> None:
    """Write the run as rank-2r LoRA around the unaltered pre-trained weights (see module doc)."""
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    state = {k: v.detach() for k, v in get_peft_model_state_dict(peft_model).items()}
    for key, first in start.items():
        now = state[key].to(first.device)
        # A stacks rows [A ; A0]; B stacks columns [B | -B0]: their product is BA - B0A0.
        state[key] = torch.cat([now, first], 0) if A_KEY.search(key) else torch.cat([now, -first], 1)
    config = copy.deepcopy(peft_model.peft_config["default"])
    config.init_lora_weights = True
    config.lora_ga_config = None
    config.r *= 2
    config.lora_alpha *= 2  # alpha / r, LoRA's scaling, stays the same
    config.inference_mode = True
    folder.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(str(folder))
    save_file({k: v.cpu().contiguous() for k, v in state.items()}, str(folder / "adapter_model.safetensors"), metadata={"format": "pt"})
