"""Every method on tiny BERT and DistilBERT: trainable set, learning, save -> load."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from accelerate import Accelerator

from sentiment_lab.training import methods
from sentiment_lab.training.backbone import load_encoder, load_tokenizer
from sentiment_lab.training.batching import tokenize
from sentiment_lab.training.config import Optimisation, RunConfig
from sentiment_lab.training.data import load_dataset, subsample
from sentiment_lab.training.features import encode
from sentiment_lab.training.loop import FeatureBatches, TokenBatches, fit, logits_of

ID2LABEL = {0: "neg", 1: "pos"}


def prepared(model_dir, data_dir):
    ds = load_dataset(str(data_dir))
    tok = load_tokenizer(str(model_dir))
    for s in ds.splits.values():
        tokenize(s, tok, 32)
    return ds, tok


def built_with_a_say(cfg):
    """The method's model, seeded, with its trained weights moved off their start: LoRA's B and the adapters'
    up start at zero, which would hide them from a comparison of outputs."""
    torch.manual_seed(0)
    model = methods.build(cfg, ID2LABEL)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.05)
    return model


def build(method, cfg, ds, tok):
    """The model a method trains, and its batches (features for freeze)."""
    m = methods.get(method)
    if m.INPUT == "features":
        enc = load_encoder(cfg.model)
        feats = [
            encode(enc, s, tok.pad_token_id, cfg.features.pooling)
            for s in (ds.splits["train"], ds.splits["validation"])
        ]
        model = m.build(cfg, ID2LABEL, feats[0].shape[1])
        train = FeatureBatches(feats[0], ds.splits["train"].labels, 8, 0)
        val = FeatureBatches(feats[1], ds.splits["validation"].labels, 8, 0)
        return model, train, val, enc
    train = TokenBatches(ds.splits["train"], tok.pad_token_id, 8, 0)
    val = TokenBatches(ds.splits["validation"], tok.pad_token_id, 8, 0)
    return methods.build(cfg, ID2LABEL), train, val, None


def expected_trainable(method, name: str) -> bool:
    """Written out by name for the two families, apart from the structure the methods read."""
    head = name.startswith(("classifier", "pre_classifier", "bert.pooler")) or "modules_to_save" in name
    if method == "full":
        return True
    if method == "lora":
        return "lora_" in name or "modules_to_save" in name
    if method == "adapters":
        in_layers = ".layer." in name and ("LayerNorm" in name or "layer_norm" in name)  # not the embeddings' norm
        return ".adapter." in name or in_layers or head
    raise AssertionError(method)


@pytest.mark.parametrize("method", ["full", "lora", "adapters"])
def test_exactly_the_right_parameters_train(method, tiny_model, tiny_data):
    ds, tok = prepared(tiny_model, tiny_data)
    cfg = RunConfig.of(method=method, model=str(tiny_model)).validated()
    model, *_ = build(method, cfg, ds, tok)
    names = dict(model.named_parameters())
    wrong = [n for n, p in names.items() if p.requires_grad != expected_trainable(method, n)]
    assert not wrong, wrong[:5]
    trainable = [n for n, p in names.items() if p.requires_grad]
    assert sorted(methods.get(method).trainable_parameters(model)) == sorted(trainable)  # what the method says trains
    if method != "full":
        assert 0 < len(trainable) < len(names)
        assert not any("embeddings" in n for n in trainable), "the embeddings train"
    if method == "lora":
        assert sum(n.endswith("lora_A.default.weight") for n in trainable) == 8  # 2 layers x 4 attention projections
    if method == "adapters":
        assert sum(".adapter.down.weight" in n for n in trainable) == 4  # 2 layers x after attention and feed-forward


def test_freeze_trains_only_its_head(tiny_model, tiny_data):
    ds, tok = prepared(tiny_model, tiny_data)
    cfg = RunConfig.of(method="freeze", model=str(tiny_model)).validated()
    head, train, val, enc = build("freeze", cfg, ds, tok)
    before = {n: p.clone() for n, p in enc.named_parameters()}
    fit(head, train, val, Optimisation(epochs=2, lr=1e-2), Accelerator(cpu=True), 2, report=lambda r: None)
    assert all(torch.equal(before[n], p) for n, p in enc.named_parameters()), "the backbone changed"
    assert all(p.requires_grad for p in head.parameters())


@pytest.mark.parametrize("method,lr", [("full", 1e-3), ("lora", 1e-2), ("adapters", 1e-2), ("freeze", 3e-2)])
def test_loss_falls_on_a_memorisable_set(method, lr, tiny_model, tiny_data):
    torch.manual_seed(0)
    ds, tok = prepared(tiny_model, tiny_data)
    small = subsample(ds.splits["train"], 16, 0)
    ds.splits["train"] = ds.splits["validation"] = small  # memorise 16 sentences, judged on the same 16
    cfg = RunConfig.of(method=method, model=str(tiny_model)).validated()
    model, train, val, _ = build(method, cfg, ds, tok)
    rows = []
    result = fit(
        model,
        train,
        val,
        Optimisation(epochs=40, lr=lr, log_every=10, evals_per_epoch=1),
        Accelerator(cpu=True),
        2,
        rows.append,
    )
    losses = [r["loss"] for r in rows if "loss" in r]
    assert losses[-1] < 0.5 * losses[0], losses
    assert result.best["accuracy"] >= 0.9
    assert any("eval_loss" in r for r in rows)


@pytest.mark.parametrize("method", ["full", "lora", "adapters", "freeze"])
def test_save_then_load_gives_identical_logits(method, tiny_model, tiny_data, tmp_path):
    torch.manual_seed(0)
    ds, tok = prepared(tiny_model, tiny_data)
    cfg = RunConfig.of(method=method, model=str(tiny_model)).validated()
    model, train, val, enc = build(method, cfg, ds, tok)
    fit(model, train, val, Optimisation(epochs=2, lr=1e-2), Accelerator(cpu=True), 2, report=lambda r: None)
    m = methods.get(method)
    m.save(model, tmp_path, cfg, tok, ID2LABEL)
    loaded = m.load(tmp_path, cfg, ID2LABEL, encoder=enc).eval()
    batch, _ = next(TokenBatches(ds.splits["test"], tok.pad_token_id, 16, 0).eval())
    if method == "freeze":
        model = m.PooledClassifier(enc, model, cfg.features.pooling)
    model.eval()
    with torch.inference_mode():
        assert_same_logits(cfg, logits_of(model, batch), logits_of(loaded, batch))


def test_svm_fits_and_reloads_the_same_probabilities(tiny_model, tiny_data, tmp_path):
    ds, tok = prepared(tiny_model, tiny_data)
    cfg = RunConfig.of(method="svm", model=str(tiny_model)).validated()
    enc = load_encoder(cfg.model)
    tr, va, te = (
        encode(enc, ds.splits[s], tok.pad_token_id, cfg.features.pooling) for s in ("train", "validation", "test")
    )
    svm = methods.svm.build(cfg, ID2LABEL, tr.shape[1])
    methods.svm.fit(svm, tr, ds.splits["train"].labels, va, ds.splits["validation"].labels, cfg)
    state = svm.state
    methods.svm.save(svm, tmp_path, cfg, tok, ID2LABEL)
    loaded = methods.svm.load(tmp_path, cfg, ID2LABEL, enc)
    p = methods.svm.probabilities(state, te)
    assert np.allclose(p.sum(1), 1)
    assert not list(tmp_path.glob("*.pkl")) and not list(tmp_path.glob("*.joblib"))
    test = ds.splits["test"]
    batch, _ = next(TokenBatches(test, tok.pad_token_id, len(test), 0).eval())
    order = TokenBatches(test, tok.pad_token_id, len(test), 0).eval_order
    with torch.inference_mode():
        reloaded = loaded(**batch).exp().numpy()
    np.testing.assert_allclose(reloaded, p[order], atol=1e-5)  # the reloaded SVM answers as the fitted one


def test_evaluate_returns_predictions_in_split_order(tiny_models, tiny_data):
    from sentiment_lab.training.batching import collate
    from sentiment_lab.training.loop import evaluate

    ds, tok = prepared(tiny_models["bert"], tiny_data)
    cfg = RunConfig.of(method="full", model=str(tiny_models["bert"])).validated()
    model = methods.full.build(cfg, ID2LABEL).eval()
    split = ds.splits["test"]
    split.input_ids[3] = split.input_ids[3] + split.input_ids[3][1:-1]  # lengths differ: sorting matters
    got = evaluate(model, TokenBatches(split, tok.pad_token_id, 4, 0), Accelerator(cpu=True), 2)
    ids, mask = collate(split.input_ids, list(range(len(split))), tok.pad_token_id)
    with torch.inference_mode():
        probs = model(input_ids=ids, attention_mask=mask).logits.softmax(-1).numpy()
    assert np.allclose(got["prob"], probs, atol=1e-5)
    assert (got["pred"] == probs.argmax(1)).all()


@pytest.mark.parametrize("stored", [torch.float16, torch.bfloat16])
def test_a_half_precision_checkpoint_trains_in_float32(stored, tiny_models, tmp_path):
    # transformers 5 keeps a checkpoint's stored dtype unless told; AdamW on fp16 weights drops small updates.
    from transformers import AutoModel

    folder = tmp_path / "half"
    AutoModel.from_pretrained(tiny_models["bert"]).to(stored).save_pretrained(folder)
    load_tokenizer(str(tiny_models["bert"])).save_pretrained(folder)
    cfg = RunConfig.of(method="full", model=str(folder)).validated()
    model = methods.full.build(cfg, {0: "neg", 1: "pos"})
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert {p.dtype for p in load_encoder(str(folder)).parameters()} == {torch.float32}


def assert_same_logits(cfg, trained, reloaded):
    assert torch.equal(trained, reloaded)


def assert_reloads_identically(model, cfg, ds, tok, folder, encoder):
    """Saved, then loaded around `encoder` as the Compare tab does: the same logits."""
    m = methods.get(cfg.method)
    m.save(model, folder, cfg, tok, ID2LABEL)
    loaded = m.load(folder, cfg, ID2LABEL, encoder=encoder).eval()
    batch, _ = next(TokenBatches(ds.splits["test"], tok.pad_token_id, 16, 0).eval())
    with torch.inference_mode():
        assert_same_logits(cfg, logits_of(model.eval(), batch), logits_of(loaded, batch))


def test_dora_trains_magnitudes_and_reloads_to_identical_logits(tiny_model, tiny_data, tmp_path):
    torch.manual_seed(0)
    ds, tok = prepared(tiny_model, tiny_data)
    cfg = RunConfig.of(method="lora", model=str(tiny_model), lora_dora="true").validated()
    model, train, val, _ = build("lora", cfg, ds, tok)
    magnitudes = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_magnitude_vector" in n}
    assert len(magnitudes) == 8 and all(
        model.get_parameter(n).requires_grad for n in magnitudes
    )  # 2 layers x 4 projections
    fit(model, train, val, Optimisation(epochs=2, lr=1e-2), Accelerator(cpu=True), 2, report=lambda r: None)
    assert any(not torch.equal(v, model.get_parameter(n)) for n, v in magnitudes.items()), "no magnitude moved"
    assert_reloads_identically(model, cfg, ds, tok, tmp_path, load_encoder(cfg.model))


def test_lora_on_all_targets_adapts_the_feed_forward_layers_and_reloads(tiny_model, tiny_data, tmp_path):
    torch.manual_seed(0)
    ds, tok = prepared(tiny_model, tiny_data)
    cfg = RunConfig.of(method="lora", model=str(tiny_model), lora_targets="all").validated()
    model, train, val, _ = build("lora", cfg, ds, tok)
    adapted = {
        n.split("layer.0.")[1].removesuffix(".lora_A")
        for n, _ in model.named_modules()
        if n.endswith("lora_A") and "layer.0." in n
    }
    ffn = {"intermediate.dense", "output.dense"} if model.config.model_type == "bert" else {"ffn.lin1", "ffn.lin2"}
    assert ffn <= adapted and len(adapted) == 6, adapted  # 4 attention projections and 2 feed-forward layers
    before = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_B" in n}
    fit(model, train, val, Optimisation(epochs=2, lr=1e-2), Accelerator(cpu=True), 2, report=lambda r: None)
    assert all(not torch.equal(v, model.get_parameter(n)) for n, v in before.items() if any(f in n for f in ffn))
    assert_reloads_identically(model, cfg, ds, tok, tmp_path, load_encoder(cfg.model))


def test_adapters_follow_the_attention_and_feed_forward_outputs_and_reload(tiny_model, tiny_data, tmp_path):
    from sentiment_lab.training.methods.adapters import WithAdapter

    torch.manual_seed(0)
    ds, tok = prepared(tiny_model, tiny_data)
    cfg = RunConfig.of(method="adapters", model=str(tiny_model), adapter_dim=16).validated()
    model, train, val, _ = build("adapters", cfg, ds, tok)
    wrapped = sorted(
        n.split("layer.0.")[1] for n, m in model.named_modules() if isinstance(m, WithAdapter) and "layer.0." in n
    )
    assert wrapped == (
        ["attention.output.dense", "output.dense"]
        if model.config.model_type == "bert"
        else ["attention.out_lin", "ffn.lin2"]
    )
    fit(model, train, val, Optimisation(epochs=2, lr=1e-2), Accelerator(cpu=True), 2, report=lambda r: None)
    assert_reloads_identically(model, cfg, ds, tok, tmp_path, load_encoder(cfg.model))


def test_building_and_loading_lora_warns_of_nothing_a_user_can_act_on(tiny_model, tiny_data, tmp_path):
    """A run's log and the app's console carry no library deprecation notice (PEFT over transformers 5)."""
    import warnings

    ds, tok = prepared(tiny_model, tiny_data)
    cfg = RunConfig.of(method="lora", model=str(tiny_model)).validated()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = methods.build(cfg, ID2LABEL)
        methods.get("lora").save(model, tmp_path, cfg, tok, ID2LABEL)
        methods.get("lora").load(tmp_path, cfg, ID2LABEL)
    assert [str(w.message) for w in caught if issubclass(w.category, FutureWarning)] == []
