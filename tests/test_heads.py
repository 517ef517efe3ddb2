"""The mean head reads the mask-weighted token mean through the model's own head layers."""
from __future__ import annotations

import pytest
import torch
from conftest import build_model

from sentiment_lab import methods
from sentiment_lab.backbone import load_encoder
from sentiment_lab.config import ConfigError, RunConfig

ID2LABEL = {0: "neg", 1: "pos"}


def expected_logits(model, encoder, ids, mask, kind, layers=1):
    """What the head should output when it reads the mean of the last `layers` hidden states."""
    hidden = torch.stack(encoder(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[-layers:]).mean(0)
    w = mask.unsqueeze(-1).float()
    mean = (hidden * w).sum(1) / w.sum(1)
    if kind == "bert":
        return model.classifier(model.bert.pooler.activation(model.bert.pooler.dense(mean)))
    return model.classifier(torch.relu(model.pre_classifier(mean)))


@pytest.mark.parametrize("method,head", [("full", "mean"), ("adapters", "mean"), ("full", "mean_last4"), ("lora", "mean_last4")])
def test_mean_head_reads_the_token_mean_and_ignores_padding(method, head, tiny_models):
    for kind, model_dir in tiny_models.items():
        torch.manual_seed(0)
        model = build_model(RunConfig(method=method, model=str(model_dir), head=head).validated()).eval()
        ids = torch.tensor([[2, 10, 11, 12, 3], [2, 14, 15, 3, 0]])
        mask = (ids != 0).long()
        with torch.inference_mode():
            got = model(input_ids=ids, attention_mask=mask).logits
            padded = model(input_ids=torch.cat([ids, torch.zeros(2, 3, dtype=torch.long)], 1),
                           attention_mask=torch.cat([mask, torch.zeros(2, 3, dtype=torch.long)], 1)).logits
            cls = build_model(RunConfig(method=method, model=str(model_dir), head="cls").validated()).eval()
            cls.load_state_dict(model.state_dict())  # same weights: only what the head reads differs
            if method == "full":  # the untouched encoder gives the expected mean; adapters and LoRA start as the identity too
                want = expected_logits(model, load_encoder(str(model_dir)).eval(), ids, mask, kind, 4 if head == "mean_last4" else 1)
                assert torch.allclose(got, want, atol=1e-5), (kind, got, want)
            cls_logits = cls(input_ids=ids, attention_mask=mask).logits
        assert torch.allclose(got, padded, atol=1e-5), f"{kind}: padding changed the mean head's answer"
        assert not torch.allclose(got, cls_logits, atol=1e-4), f"{kind}: mean and cls heads gave the same logits"


def test_head_is_validated_and_old_runs_read_cls(tmp_path):
    with pytest.raises(ConfigError, match="head must be one of cls, mean, mean_last4"):
        RunConfig(head="max").validated()
    saved = RunConfig(method="full").to_dict()
    del saved["head"]
    (tmp_path / "config.json").write_text(__import__("json").dumps(saved))
    assert RunConfig.load(tmp_path / "config.json").head == "cls"
    saved["head"] = "mean"
    (tmp_path / "config.json").write_text(__import__("json").dumps(saved))
    assert RunConfig.load(tmp_path / "config.json").head == "mean"
    assert RunConfig().head == "cls"


def test_mean_over_fewer_layers_than_the_model_has_leaves_the_lower_ones_out(tiny_models):
    """The tiny models have 3 states (embeddings, 2 layers), so `mean_last4` reads them all; 2 of 3 must skip the embeddings."""
    from sentiment_lab.heads import MeanIntoCls

    for kind, model_dir in tiny_models.items():
        torch.manual_seed(0)
        model = methods.get("full").build(RunConfig(method="full", model=str(model_dir)).validated(), ID2LABEL).eval()
        MeanIntoCls(model, 2)
        ids = torch.tensor([[2, 10, 11, 12, 3], [2, 14, 15, 3, 0]])
        mask = (ids != 0).long()
        with torch.inference_mode():
            got = model(input_ids=ids, attention_mask=mask).logits
            encoder = load_encoder(str(model_dir)).eval()
            assert torch.allclose(got, expected_logits(model, encoder, ids, mask, kind, 2), atol=1e-5), kind
            assert not torch.allclose(got, expected_logits(model, encoder, ids, mask, kind, 3), atol=1e-4), kind
