"""Prediction shares the frozen backbone: tied weights, one feature pass, unchanged answers."""
from __future__ import annotations

import torch

from sentiment_lab import methods
from sentiment_lab.backbone import load_encoder
from sentiment_lab.config import RunConfig
from sentiment_lab.predict import tie_frozen_weights

ID2LABEL = {0: "neg", 1: "pos"}


def test_lora_and_adapters_share_the_encoders_frozen_weights(tiny_models):
    for kind, model_dir in tiny_models.items():
        encoder = load_encoder(str(model_dir))
        for method in ("lora", "adapters"):
            cfg = RunConfig(method=method, model=str(model_dir)).validated()
            model = methods.get(method).build(cfg, ID2LABEL).eval()
            ids = torch.tensor([[2, 10, 11, 12, 3]])
            mask = torch.ones_like(ids)
            before = model(input_ids=ids, attention_mask=mask).logits
            tied = tie_frozen_weights(model, encoder)
            shared = {p.data_ptr() for p in encoder.parameters()}
            frozen = [p for n, p in model.named_parameters() if not p.requires_grad and "modules_to_save" not in n and "original_module" not in n]
            assert tied >= len(frozen) - 2 and tied > 0, (kind, method, tied, len(frozen))
            assert all(p.data_ptr() in shared for p in frozen if p.ndim == 2 and p.shape[0] > 2)
            assert torch.equal(before, model(input_ids=ids, attention_mask=mask).logits)
