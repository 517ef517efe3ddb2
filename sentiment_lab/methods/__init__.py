"""The method registry: one module per method, registered here and nowhere else."""
from __future__ import annotations

from types import ModuleType

from . import adapters, freeze, full, lora, svm

REGISTRY: dict[str, ModuleType] = {m.NAME: m for m in (svm, full, lora, freeze, adapters)}


def get(name: str) -> ModuleType:
    if name not in REGISTRY:
        raise KeyError(f"unknown method {name!r}; choose one of {', '.join(REGISTRY)}")
    return REGISTRY[name]


def build(cfg, id2label, train=None, device="cpu"):
    """A token method's model as a run builds it. `train` (a TokenBatches of the whole training split)
    is read only by methods that need it before training (LoRA-GA's gradients, the trained token rows)."""
    method = get(cfg.method)
    if getattr(method, "BUILD_READS_TRAIN", False):
        return method.build(cfg, id2label, train=train, device=device)
    return method.build(cfg, id2label)
