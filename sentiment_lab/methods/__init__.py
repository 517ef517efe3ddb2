"""The method registry: one module per method, registered here and nowhere else."""
from __future__ import annotations

from types import ModuleType

from . import adapters, freeze, full, lora, svm

REGISTRY: dict[str, ModuleType] = {m.NAME: m for m in (svm, full, lora, freeze, adapters)}


def get(name: str) -> ModuleType:
    if name not in REGISTRY:
        raise KeyError(f"unknown method {name!r}; choose one of {', '.join(REGISTRY)}")
    return REGISTRY[name]


def build(cfg, id2label):
    """A token method's model (full, LoRA, adapters) as a run builds it."""
    return get(cfg.method).build(cfg, id2label)
