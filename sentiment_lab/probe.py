"""Linear probing before fine-tuning (LP-FT: Kumar et al., 2022, "Fine-Tuning can Distort Pretrained
Features and Underperform Out-of-Distribution").

A token method starts with a random classification head, so its first steps push the encoder
(or LoRA's and the adapters' weights) with the gradients of a head that knows nothing yet. LP-FT
first trains the head alone on the untouched model's features, then fine-tunes everything as usual.

At step 0 LoRA (B = 0, or PiSSA's / LoRA-GA's residual split) and adapters (up = 0) leave the model
exactly the pre-trained one, so the features the head reads — the last hidden state at position 0,
after any --head hook has written its mean there — are computed once, without dropout; each later
step runs the encoder on one token only (tens of seconds for 3 epochs on a 2-core CPU). To train the head on them with the model's own head code (BERT's pooler,
DistilBERT's pre_classifier, RoBERTa's head, PEFT's trained copies), the model is run on a
one-token input whose last hidden states a hook replaces with the cached features.
"""
from __future__ import annotations

import contextlib
import dataclasses

import torch
from torch import nn

from .architectures import arch_of, head_name_pattern
from .heads import with_last_hidden
from .train_loop import FeatureBatches, LoopSettings, fit

# The head alone, on fixed features, takes larger steps than the encoder, as freeze's head does
# (docs/experiments.md, "Learning rates"); each run logs the kept probe's validation accuracy.
PROBE_LR = 1e-3


def _underlying(model: nn.Module) -> nn.Module:
    """The transformers model inside a PEFT wrapper (or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _final_hidden(model: nn.Module) -> nn.Module:
    inner = _underlying(model)
    return inner.base_model.get_submodule(arch_of(inner).final_hidden)


@contextlib.contextmanager
def _hooked(module: nn.Module, hook):
    handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


@torch.inference_mode()
def head_features(model: nn.Module, batches, accelerator) -> tuple[torch.Tensor, torch.Tensor]:
    """What the head reads for every sentence of `batches.eval()` (float32, on the CPU), and the labels."""
    kept = []

    def keep(module, args, output):
        kept.append((output[0] if isinstance(output, tuple) else output["last_hidden_state"])[:, 0].float().cpu())

    was_training = model.training
    model.eval()
    labels = []
    with _hooked(_final_hidden(model), keep):  # registered last: it sees what a --head hook wrote
        for inputs, y in batches.eval():
            # fp32 even in a bf16 run: one pass, and the head then learns from exact features.
            model(**{k: v.to(accelerator.device) for k, v in inputs.items()})
            labels.append(y)
    model.train(was_training)
    return torch.cat(kept), torch.cat(labels)


class HeadOnFeatures(nn.Module):
    """The model's own head, fed cached features: the encoder runs on one token, then its output is replaced."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        one_token = torch.zeros(len(features), 1, dtype=torch.long, device=features.device)
        with _hooked(_final_hidden(self.model), lambda m, a, out: with_last_hidden(out, features.unsqueeze(1).to(out[0].dtype))):
            out = self.model(input_ids=one_token, attention_mask=torch.ones_like(one_token))
        return out.logits


@contextlib.contextmanager
def _only_head_trains(model: nn.Module):
    """Freeze everything but the head for the probe; give every parameter its own setting back after."""
    head = head_name_pattern(_underlying(model))
    was = {n: p.requires_grad for n, p in model.named_parameters()}
    for name, p in model.named_parameters():
        p.requires_grad_(was[name] and bool(head.search(name)))
    try:
        yield
    finally:
        for name, p in model.named_parameters():
            p.requires_grad_(was[name])


def probe_head(model: nn.Module, train, val, settings: LoopSettings, epochs: float, accelerator, num_labels: int, seed: int,
               lr: float = PROBE_LR, should_stop=lambda: False) -> dict:
    """Train `model`'s head alone for `epochs` on the features of `train` (TokenBatches); return the
    kept probe's validation metrics. The model's other weights are not touched."""
    model.to(accelerator.device)
    tx, ty = head_features(model, train, accelerator)
    vx, vy = head_features(model, val, accelerator)
    probe = HeadOnFeatures(model)
    head_settings = dataclasses.replace(settings, epochs=epochs, lr=lr, ema=0.0, evals_per_epoch=1, head_lr=None,
                                        layer_decay=1.0, lora_plus=1.0, adapter_plus=1.0, decay_ratio=1.0, patience=0)
    with _only_head_trains(model):
        result = fit(probe, FeatureBatches(tx.numpy(), ty.numpy(), train.batch_size, seed),
                     FeatureBatches(vx.numpy(), vy.numpy(), train.batch_size, seed), head_settings, accelerator, num_labels,
                     report=lambda row: None, should_stop=should_stop)
    return result.best
