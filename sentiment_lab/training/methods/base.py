"""The interface all five methods implement, so the runner, the loop and the predictor ask a method, not its name.

A method is a module with these names (checked when the registry is built):
- `NAME`: its name in configs and the form.
- `INPUT`: what it learns from: "tokens" (the model reads tokenised text) or "features" (the frozen encoder's
  pooled sentence features, computed once).
- `build(cfg, id2label, width)`: the model ready to train, every weight outside `trainable_parameters` frozen;
  `width` is the feature width for a "features" method, None for a "tokens" one.
- `trainable_parameters(model)`: {name: tensor} of what the method learns, read from its own modules.
- `check(model)`: raise UnsupportedArchitecture when the (meta-device) model lacks what the method needs.
- `save(model, folder, cfg, tokenizer, id2label)` and `load(folder, cfg, id2label, encoder)`: artefacts in
  the format the standard tools read; with `encoder`, a loaded model shares that frozen encoder's tensors.
- `logits(model, input_ids, attention_mask, features)`: class scores of a loaded model (softmax gives its
  probabilities); a "features" method reads `features`, pooled the model's way, a "tokens" method the ids.
- `SHARES_ENCODER`: whether `load` can take the shared frozen encoder (every method but full fine-tuning).
- optional `fit(model, train_x, train_y, val_x, val_y, cfg)`: training in closed form, instead of the loop.
"""

from __future__ import annotations

from types import ModuleType

from torch import nn

INPUTS = ("tokens", "features")
REQUIRED = ("NAME", "INPUT", "SHARES_ENCODER", "build", "trainable_parameters", "check", "save", "load", "logits")


def check_interface(module: ModuleType) -> ModuleType:
    missing = [name for name in REQUIRED if not hasattr(module, name)]
    if missing or module.INPUT not in INPUTS:
        raise TypeError(f"method module {module.__name__} lacks {missing or 'a valid INPUT'}")
    return module


def train_only(model: nn.Module, trained: dict[str, nn.Parameter]) -> nn.Module:
    """Freeze every parameter of `model` but those in `trained`."""
    keep = {id(p) for p in trained.values()}
    for p in model.parameters():
        p.requires_grad_(id(p) in keep)
    return model


def no_check(model: nn.Module) -> None:
    """A method that takes any model the Auto classes build."""
