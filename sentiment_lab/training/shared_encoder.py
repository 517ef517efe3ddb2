"""Classifiers built around an encoder already in memory, for prediction.

LoRA and adapter runs change only a few weights; every other tensor equals the pre-trained
encoder's. Loading each run with `from_pretrained` would map the model file again (a file-backed
copy per run, the whole model resident each). Here the classifier is built on the meta device
from the encoder's config, its encoder tensors *are* the shared encoder's, and only the run's own
weights are read, so five loaded methods cost little more than one model.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def _encoder_name(name: str, prefix: str) -> str:
    """A classifier tensor's name as the bare encoder calls it (drop PEFT/adapter wrappers and the prefix)."""
    parts = [p for p in name.split(".") if p not in ("base_layer", "base")]
    while parts and parts[0] in ("base_model", "model"):
        parts = parts[1:]
    if parts and parts[0] == prefix:
        parts = parts[1:]
    return ".".join(parts)


def _tensors(module: nn.Module):
    """(qualified name, owning module, attribute, tensor, is_parameter) for every parameter and buffer."""
    for owner_name, owner in module.named_modules():
        for table, is_param in ((owner._parameters, True), (owner._buffers, False)):
            for attr, tensor in table.items():
                if tensor is not None:
                    yield (f"{owner_name}.{attr}" if owner_name else attr), owner, attr, tensor, is_param


def share_encoder(model: nn.Module, encoder: nn.Module) -> int:
    """Point every encoder tensor of `model` at `encoder`'s own; return the count.

    Tensors are shared, never copied into: a later `load_state_dict` must use assign=True so that
    a run's trained LayerNorm never overwrites the shared encoder's.
    """
    prefix = getattr(model, "base_model_prefix", "")
    shared = {name: t for name, _, _, t, _ in _tensors(encoder)}
    count = 0
    for name, owner, attr, tensor, is_param in _tensors(model):
        target = shared.get(_encoder_name(name, prefix))
        if target is None or target.shape != tensor.shape:
            continue
        if is_param:
            owner._parameters[attr] = (
                target if isinstance(target, nn.Parameter) else nn.Parameter(target, requires_grad=False)
            )
        else:
            owner._buffers[attr] = target
        count += 1
    return count


def materialise(model: nn.Module, device: torch.device | str = "cpu") -> None:
    """Give every tensor still on the meta device real (uninitialised) memory; the caller then
    loads each of them from the run's weights."""
    for name, owner, attr, tensor, is_param in _tensors(model):
        if tensor.is_meta:
            real = torch.empty(tensor.shape, dtype=tensor.dtype, device=device)
            if is_param:
                owner._parameters[attr] = nn.Parameter(real, requires_grad=tensor.requires_grad)
            else:
                owner._buffers[attr] = real


def classifier_around(encoder: nn.Module, id2label: dict[int, str]) -> nn.Module:
    """A sequence classifier whose encoder tensors are `encoder`'s. Its head tensors hold garbage
    until the caller loads the run's weights into them (LoRA and adapter files include the head)."""
    from transformers import AutoModelForSequenceClassification

    config = copy.deepcopy(encoder.config)
    config.id2label = {int(k): v for k, v in id2label.items()}
    config.label2id = {v: int(k) for k, v in id2label.items()}
    config.num_labels = len(id2label)
    with torch.device("meta"):
        model = AutoModelForSequenceClassification.from_config(config)
    share_encoder(model, encoder)
    materialise(model, next(encoder.parameters()).device)
    return model.eval()
