"""Every torch method on tiny BERT and DistilBERT: trainable set, learning, save -> load."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from accelerate import Accelerator

from sentiment_lab import methods
from sentiment_lab.backbone import load_encoder, load_tokenizer
from sentiment_lab.config import RunConfig
from sentiment_lab.data import load_dataset, subsample, tokenize
from sentiment_lab.features import encode
from sentiment_lab.train_loop import FeatureBatches, LoopSettings, TokenBatches, fit, logits_of

ID2LABEL = {0: "neg", 1: "pos"}


def prepared(model_dir, data_dir):
    ds = load_dataset(str(data_dir))
    tok = load_tokenizer(str(model_dir))
    for s in ds.splits.values():
        tokenize(s, tok, 32)
    return ds, tok


def build(method, cfg, ds, tok):
    """The model a method trains, and its batches (features for freeze)."""
    m = methods.get(method)
    if m.KIND == "features":
        enc = load_encoder(cfg.model)
        feats = [encode(enc, s, tok.pad_token_id, cfg.pooling) for s in (ds.splits["train"], ds.splits["validation"])]
        model = m.build(feats[0].shape[1], 2, enc.config.hidden_size)
        train = FeatureBatches(feats[0], ds.splits["train"].labels, 8, 0)
        val = FeatureBatches(feats[1], ds.splits["validation"].labels, 8, 0)
        return model, train, val, enc
    train = TokenBatches(ds.splits["train"], tok.pad_token_id, 8, 0)
    val = TokenBatches(ds.splits["validation"], tok.pad_token_id, 8, 0)
    return methods.build(cfg, ID2LABEL, train), train, val, None


def expected_trainable(method, name: str) -> bool:
    head = name.startswith(("classifier", "pre_classifier", "bert.pooler")) or "modules_to_save" in name
    if method == "full":
        return True
    if method == "lora":  # its default adapter on the token embeddings and its token rows too
        return "lora_" in name or ("modules_to_save" in name) or "word_embeddings.adapter." in name or name.endswith("word_embeddings.rows.delta")
    if method == "adapters":
        return ".adapter." in name or "layernorm" in name.lower() or "layer_norm" in name.lower() or head
    raise AssertionError(method)


@pytest.mark.parametrize("method", ["full", "lora", "adapters"])
def test_exactly_the_right_parameters_train(method, tiny_model, tiny_data):
    ds, tok = prepared(tiny_model, tiny_data)
    cfg = RunConfig(method=method, model=str(tiny_model)).validated()
    model, *_ = build(method, cfg, ds, tok)
    names = dict(model.named_parameters())
    wrong = [n for n, p in names.items() if p.requires_grad != expected_trainable(method, n)]
    assert not wrong, wrong[:5]
    trainable = [n for n, p in names.items() if p.requires_grad]
    if method != "full":
        assert 0 < len(trainable) < len(names)
        own = (".adapter.", ".rows.delta")  # the embedding adapter and LoRA's token rows train beside the table
        assert not any("word_embeddings" in n and not any(o in n for o in own) for n in trainable), "the token table itself trains"
    if method == "adapters":
        assert sum(".adapter.down.weight" in n for n in trainable) == 2  # 2 layers x one beside the feed-forward block (the default)


def test_freeze_trains_only_its_head(tiny_model, tiny_data):
    ds, tok = prepared(tiny_model, tiny_data)
    cfg = RunConfig(method="freeze", model=str(tiny_model)).validated()
    head, train, val, enc = build("freeze", cfg, ds, tok)
    before = {n: p.clone() for n, p in enc.named_parameters()}
    fit(head, train, val, LoopSettings(epochs=2, lr=1e-2), Accelerator(cpu=True), 2, report=lambda r: None)
    assert all(torch.equal(before[n], p) for n, p in enc.named_parameters()), "the backbone changed"
    assert all(p.requires_grad for p in head.parameters())


@pytest.mark.parametrize("method,lr", [("full", 1e-3), ("lora", 1e-2), ("adapters", 1e-2), ("freeze", 3e-2)])
def test_loss_falls_on_a_memorisable_set(method, lr, tiny_model, tiny_data):
    torch.manual_seed(0)
    ds, tok = prepared(tiny_model, tiny_data)
    small = subsample(ds.splits["train"], 16, 0)
    ds.splits["train"] = ds.splits["validation"] = small  # memorise 16 sentences, judged on the same 16
    cfg = RunConfig(method=method, model=str(tiny_model)).validated()
    model, train, val, _ = build(method, cfg, ds, tok)
    rows = []
    result = fit(model, train, val, LoopSettings(epochs=40, lr=lr, log_every=10, evals_per_epoch=1), Accelerator(cpu=True), 2, rows.append)
    losses = [r["loss"] for r in rows if "loss" in r]
    assert losses[-1] < 0.5 * losses[0], losses
    assert result.best["accuracy"] >= 0.9
    assert any("eval_loss" in r for r in rows)


@pytest.mark.parametrize("method", ["full", "lora", "adapters", "freeze"])
def test_save_then_load_gives_identical_logits(method, tiny_model, tiny_data, tmp_path):
    torch.manual_seed(0)
    ds, tok = prepared(tiny_model, tiny_data)
    cfg = RunConfig(method=method, model=str(tiny_model)).validated()
    model, train, val, enc = build(method, cfg, ds, tok)
    fit(model, train, val, LoopSettings(epochs=2, lr=1e-2), Accelerator(cpu=True), 2, report=lambda r: None)
    m = methods.get(method)
    m.save(model, tmp_path, cfg, tok)
    loaded = m.load(tmp_path, cfg, ID2LABEL, encoder=enc).eval()
    batch, _ = next(TokenBatches(ds.splits["test"], tok.pad_token_id, 16, 0).eval())
    if method == "freeze":
        model = m.PooledClassifier(enc, model, cfg.pooling)
    model.eval()
    with torch.inference_mode():
        assert_same_logits(cfg, logits_of(model, batch), logits_of(loaded, batch))


def test_svm_fits_and_reloads_the_same_probabilities(tiny_model, tiny_data, tmp_path):
    ds, tok = prepared(tiny_model, tiny_data)
    cfg = RunConfig(method="svm", model=str(tiny_model)).validated()
    enc = load_encoder(cfg.model)
    tr, va, te = (encode(enc, ds.splits[s], tok.pad_token_id, cfg.pooling) for s in ("train", "validation", "test"))
    state = methods.svm.fit(tr, ds.splits["train"].labels, va, ds.splits["validation"].labels, None, 0)
    methods.svm.save(state, tmp_path, cfg, tok)
    loaded = methods.svm.load(tmp_path, cfg, ID2LABEL, enc)
    p = methods.svm.probabilities(state, te)
    assert np.allclose(p.sum(1), 1)
    batch, _ = next(TokenBatches(ds.splits["test"], tok.pad_token_id, 16, 0).eval())
    assert not list(tmp_path.glob("*.pkl")) and not list(tmp_path.glob("*.joblib"))
    with torch.inference_mode():
        logp = loaded(**batch)
    assert logp.shape == (16, 2) and torch.allclose(logp.exp().sum(1), torch.ones(16), atol=1e-5)


def test_evaluate_returns_predictions_in_split_order(tiny_models, tiny_data):
    from sentiment_lab.data import collate
    from sentiment_lab.train_loop import evaluate

    ds, tok = prepared(tiny_models["bert"], tiny_data)
    cfg = RunConfig(method="full", model=str(tiny_models["bert"])).validated()
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
    cfg = RunConfig(method="full", model=str(folder)).validated()
    model = methods.full.build(cfg, {0: "neg", 1: "pos"})
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert {p.dtype for p in load_encoder(str(folder)).parameters()} == {torch.float32}


def assert_same_logits(cfg, trained, reloaded):
    """Bit for bit, except LoRA from PiSSA / LoRA-GA starts: saved as rank-2r LoRA around the original
    weights, equal up to float rounding."""
    if cfg.method == "lora" and cfg.lora_init != "zero":
        torch.testing.assert_close(reloaded, trained, rtol=0, atol=1e-5)
    else:
        assert torch.equal(trained, reloaded)


def assert_reloads_identically(model, cfg, ds, tok, folder, encoder):
    """Saved, then loaded around `encoder` as the Compare tab does: the same logits."""
    m = methods.get(cfg.method)
    m.save(model, folder, cfg, tok)
    loaded = m.load(folder, cfg, ID2LABEL, encoder=encoder).eval()
    batch, _ = next(TokenBatches(ds.splits["test"], tok.pad_token_id, 16, 0).eval())
    with torch.inference_mode():
        assert_same_logits(cfg, logits_of(model.eval(), batch), logits_of(loaded, batch))


def test_dora_trains_magnitudes_and_reloads_to_identical_logits(tiny_model, tiny_data, tmp_path):
    torch.manual_seed(0)
    ds, tok = prepared(tiny_model, tiny_data)
    cfg = RunConfig(method="lora", model=str(tiny_model), lora_dora="true", lora_init="zero").validated()
    model, train, val, _ = build("lora", cfg, ds, tok)
    magnitudes = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_magnitude_vector" in n}
    assert len(magnitudes) == 8 and all(model.get_parameter(n).requires_grad for n in magnitudes)  # 2 layers x 4 projections
    fit(model, train, val, LoopSettings(epochs=2, lr=1e-2), Accelerator(cpu=True), 2, report=lambda r: None)
    assert any(not torch.equal(v, model.get_parameter(n)) for n, v in magnitudes.items()), "no magnitude moved"
    assert_reloads_identically(model, cfg, ds, tok, tmp_path, load_encoder(cfg.model))


def test_lora_norms_train_copies_and_leave_a_shared_encoder_untouched(tiny_model, tiny_data, tmp_path):
    torch.manual_seed(0)
    ds, tok = prepared(tiny_model, tiny_data)
    cfg = RunConfig(method="lora", model=str(tiny_model), lora_norms=True).validated()
    model, train, val, _ = build("lora", cfg, ds, tok)
    norms = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad and "norm" in n.lower()}
    assert len(norms) == 2 * 5  # weight and bias of the embeddings' norm and two per layer, 2 layers
    fit(model, train, val, LoopSettings(epochs=2, lr=1e-2), Accelerator(cpu=True), 2, report=lambda r: None)
    assert all(not torch.equal(v, model.get_parameter(n)) for n, v in norms.items()), "a norm did not move"
    encoder = load_encoder(cfg.model)
    shared = {n: p.detach().clone() for n, p in encoder.named_parameters()}
    assert_reloads_identically(model, cfg, ds, tok, tmp_path, encoder)
    assert all(torch.equal(p, shared[n]) for n, p in encoder.named_parameters()), "loading wrote into the shared encoder"


def test_lora_on_all_targets_adapts_the_feed_forward_layers_and_reloads(tiny_model, tiny_data, tmp_path):
    torch.manual_seed(0)
    ds, tok = prepared(tiny_model, tiny_data)
    cfg = RunConfig(method="lora", model=str(tiny_model), lora_targets="all").validated()
    model, train, val, _ = build("lora", cfg, ds, tok)
    adapted = {n.split("layer.0.")[1].removesuffix(".lora_A") for n, _ in model.named_modules() if n.endswith("lora_A") and "layer.0." in n}
    ffn = {"intermediate.dense", "output.dense"} if model.config.model_type == "bert" else {"ffn.lin1", "ffn.lin2"}
    assert ffn <= adapted and len(adapted) == 6, adapted  # 4 attention projections and 2 feed-forward layers
    before = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_B" in n}
    fit(model, train, val, LoopSettings(epochs=2, lr=1e-2), Accelerator(cpu=True), 2, report=lambda r: None)
    assert all(not torch.equal(v, model.get_parameter(n)) for n, v in before.items() if any(f in n for f in ffn))
    assert_reloads_identically(model, cfg, ds, tok, tmp_path, load_encoder(cfg.model))


@pytest.mark.parametrize("init", ["zero", "pissa"])
def test_lora_on_the_token_embeddings_trains_from_zero_and_reloads(init, tiny_model, tiny_data, tmp_path):
    torch.manual_seed(0)
    ds, tok = prepared(tiny_model, tiny_data)
    cfg = RunConfig(method="lora", model=str(tiny_model), lora_embeddings=True, lora_init=init).validated()
    model, train, val, _ = build("lora", cfg, ds, tok)
    table = next(m for n, m in model.named_modules() if n.endswith("embeddings.word_embeddings") and hasattr(m, "lora_embedding_A"))
    a = table.lora_embedding_A["default"]
    assert a.shape == (cfg.lora_r, tok.vocab_size) and a.requires_grad and not a.abs().sum(), "A must start at zero"
    assert not table.base_layer.weight.requires_grad
    fit(model, train, val, LoopSettings(epochs=2, lr=1e-2), Accelerator(cpu=True), 2, report=lambda r: None)
    assert a.abs().sum() > 0, "the embeddings' LoRA did not train"
    encoder = load_encoder(cfg.model)
    shared = {n: p.detach().clone() for n, p in encoder.named_parameters()}
    assert_reloads_identically(model, cfg, ds, tok, tmp_path, encoder)
    assert all(torch.equal(p, shared[n]) for n, p in encoder.named_parameters()), "loading wrote into the shared encoder"


@pytest.mark.parametrize("init", ["lora_ga", "pissa"])
def test_lora_starting_points_keep_the_pretrained_model_and_save_as_plain_lora(init, tiny_model, tiny_data, tmp_path):
    torch.manual_seed(0)
    ds, tok = prepared(tiny_model, tiny_data)
    cfg = RunConfig(method="lora", model=str(tiny_model), lora_init=init).validated()
    train = TokenBatches(ds.splits["train"], tok.pad_token_id, 8, 0)
    val = TokenBatches(ds.splits["validation"], tok.pad_token_id, 8, 0)
    model = methods.lora.build(cfg, ID2LABEL, train=train)
    original = dict(load_encoder(cfg.model).named_parameters())
    scale = cfg.lora_alpha / cfg.lora_r
    adapted = [(n, m) for n, m in model.named_modules() if hasattr(m, "lora_A")]
    assert len(adapted) == 8  # 2 layers x 4 attention projections
    for name, module in adapted:
        a, b = module.lora_A["default"].weight, module.lora_B["default"].weight
        assert b.abs().sum() > 0, f"{name}: B started at zero"
        key = name.split(".", 3)[-1].removeprefix("bert.").removeprefix("distilbert.") + ".weight"
        if init == "lora_ga":
            assert torch.allclose(a @ a.T, torch.eye(cfg.lora_r), atol=1e-4), f"{name}: A's rows are not singular vectors"
        else:  # PiSSA: the starting product is the weight's best rank-r part
            u, sv, vh = torch.linalg.svd(original[key].detach())
            principal = u[:, :cfg.lora_r] @ torch.diag(sv[:cfg.lora_r]) @ vh[:cfg.lora_r]
            assert torch.allclose(scale * b @ a, principal, atol=1e-4), name
        # The frozen weight was lowered by the starting product, so the model is the pre-trained one at step 0.
        assert torch.allclose(module.base_layer.weight + scale * b @ a, original[key], atol=1e-5), name
    fit(model, train, val, LoopSettings(epochs=2, lr=1e-2), Accelerator(cpu=True), 2, report=lambda r: None)
    methods.lora.save(model, tmp_path, cfg, tok)
    encoder = load_encoder(cfg.model)
    shared = {n: p.detach().clone() for n, p in encoder.named_parameters()}
    loaded = methods.lora.load(tmp_path, cfg, ID2LABEL, encoder=encoder).eval()
    assert loaded.peft_config["default"].r == 2 * cfg.lora_r and loaded.peft_config["default"].init_lora_weights is True
    batch, _ = next(TokenBatches(ds.splits["test"], tok.pad_token_id, 16, 0).eval())
    with torch.inference_mode():
        trained, reloaded = logits_of(model.eval(), batch), logits_of(loaded, batch)
    assert torch.allclose(trained, reloaded, atol=1e-5), (trained - reloaded).abs().max()
    assert all(torch.equal(p, shared[n]) for n, p in encoder.named_parameters()), "loading wrote into the shared encoder"


def test_lora_starting_points_refuse_dora_and_unknown_inits():
    for init in ("lora_ga", "pissa"):
        with pytest.raises(ValueError, match=f"lora_init {init} does not combine with lora_dora"):
            RunConfig(method="lora", lora_init=init, lora_dora=True).validated()
    with pytest.raises(ValueError, match="lora_init must be one of zero, lora_ga, pissa"):
        RunConfig(method="lora", lora_init="loftq").validated()


def test_parallel_adapters_sit_beside_each_feed_forward_block_and_reload(tiny_model, tiny_data, tmp_path):
    from sentiment_lab.methods.adapters import BesideFeedForward

    torch.manual_seed(0)
    ds, tok = prepared(tiny_model, tiny_data)
    cfg = RunConfig(method="adapters", model=str(tiny_model), adapter_placement="parallel").validated()
    model, train, val, _ = build("adapters", cfg, ds, tok)
    blocks = [m for m in model.modules() if isinstance(m, BesideFeedForward)]
    assert len(blocks) == 2 and not any(".adapter." in n for n, _ in model.named_parameters() if "attention" in n)
    batch, _ = next(TokenBatches(ds.splits["test"], tok.pad_token_id, 16, 0).eval())
    encoder = load_encoder(cfg.model).eval()
    model.eval()
    with torch.inference_mode():  # up starts at zero: the encoder is exactly the pre-trained one
        assert torch.equal(model.base_model(**batch).last_hidden_state, encoder(**batch).last_hidden_state)
    for block in blocks:
        torch.nn.init.normal_(block.adapter.up.weight, std=0.5)
    # The adapter reads the block's input x and adds to the block's output before the residual LayerNorm.
    x = torch.randn(2, 5, model.config.hidden_size)
    with torch.inference_mode():
        if model.config.model_type == "bert":
            layer = model.bert.encoder.layer[0]
            h = layer.intermediate(x)
            expected = layer.output.base.LayerNorm(layer.output.base.dense(h) + blocks[0].adapter.delta(x) + x)
            got = layer.output(h, x)
        else:
            layer = model.distilbert.transformer.layer[0]
            expected = layer.ffn.base.lin2(layer.ffn.base.activation(layer.ffn.base.lin1(x))) + blocks[0].adapter.delta(x)
            got = layer.ffn(x)
    assert torch.allclose(got, expected, atol=1e-6)
    fit(model, train, val, LoopSettings(epochs=2, lr=1e-2), Accelerator(cpu=True), 2, report=lambda r: None)
    shared = {n: p.detach().clone() for n, p in encoder.named_parameters()}
    assert_reloads_identically(model, cfg, ds, tok, tmp_path, encoder)
    assert all(torch.equal(p, shared[n]) for n, p in encoder.named_parameters()), "loading wrote into the shared encoder"


def test_sequential_adapters_follow_the_attention_and_feed_forward_outputs_and_reload(tiny_model, tiny_data, tmp_path):
    from sentiment_lab.methods.adapters import WithAdapter

    torch.manual_seed(0)
    ds, tok = prepared(tiny_model, tiny_data)
    cfg = RunConfig(method="adapters", model=str(tiny_model), adapter_placement="sequential", adapter_dim=16).validated()
    model, train, val, _ = build("adapters", cfg, ds, tok)
    wrapped = sorted(n.split("layer.0.")[1] for n, m in model.named_modules() if isinstance(m, WithAdapter) and "layer.0." in n)
    assert wrapped == (["attention.output.dense", "output.dense"] if model.config.model_type == "bert" else ["attention.out_lin", "ffn.lin2"])
    fit(model, train, val, LoopSettings(epochs=2, lr=1e-2), Accelerator(cpu=True), 2, report=lambda r: None)
    assert_reloads_identically(model, cfg, ds, tok, tmp_path, load_encoder(cfg.model))


def test_full_with_frozen_embeddings_trains_the_rest_and_leaves_them_as_loaded(tiny_models, tiny_data):
    for kind, model_dir in tiny_models.items():  # BERT and DistilBERT name their embeddings alike
        ds, tok = prepared(model_dir, tiny_data)
        cfg = RunConfig(method="full", model=str(model_dir), freeze_embeddings=True).validated()
        model, train, val, _ = build("full", cfg, ds, tok)
        frozen = {n: p.clone() for n, p in model.named_parameters() if not p.requires_grad}
        assert frozen and all(".embeddings." in n for n in frozen), (kind, list(frozen)[:3])
        assert any("word_embeddings" in n for n in frozen) and any("position_embeddings" in n for n in frozen), kind
        rest = {n: p.clone() for n, p in model.named_parameters() if p.requires_grad}
        fit(model, train, val, LoopSettings(epochs=1, lr=1e-3), Accelerator(cpu=True), 2, report=lambda r: None)
        now = dict(model.named_parameters())
        assert all(torch.equal(frozen[n], now[n]) for n in frozen), f"{kind}: an embedding moved"
        assert sum(not torch.equal(rest[n], now[n]) for n in rest) > 0.9 * len(rest), f"{kind}: the encoder did not train"


@pytest.mark.parametrize("method", ["full", "lora", "adapters"])
def test_model_dropout_reaches_every_dropout_of_the_pretrained_model(method, tiny_models):
    import torch.nn as nn

    from sentiment_lab import methods

    for kind, model_dir in tiny_models.items():
        keep = {"adapter_model_dropout": True} if method == "adapters" else {}  # adapters train without it by default
        keep["token_rows"] = 0  # no training batches here; the rows have no dropout
        own = methods.get(method).build(RunConfig(method=method, model=str(model_dir), **keep).validated(), {0: "neg", 1: "pos"})
        assert min(m.p for n, m in own.named_modules() if isinstance(m, nn.Dropout) and "lora_" not in n and "adapter" not in n) > 0, kind  # 0.1; DistilBERT's head 0.2
        cfg = RunConfig(method=method, model=str(model_dir), model_dropout=0.0, token_rows=0).validated()
        model = methods.get(method).build(cfg, {0: "neg", 1: "pos"})
        rates = {n: m.p for n, m in model.named_modules() if isinstance(m, nn.Dropout)}
        base = {n: p for n, p in rates.items() if "lora_" not in n and "adapter" not in n}  # their own rates are theirs
        assert len(base) >= 6 and set(base.values()) == {0.0}, (kind, method, rates)
        assert any("attention" in n for n in base) and any("classifier" in n or "dropout" == n.split(".")[-1] for n in base)


def test_adapters_train_without_the_models_dropout_by_default_and_older_runs_keep_theirs(tiny_model, tmp_path):
    import json

    import torch.nn as nn

    def base_rates(cfg):
        model = methods.get(cfg.method).build(cfg, ID2LABEL)
        return {m.p for n, m in model.named_modules() if isinstance(m, nn.Dropout) and "adapter" not in n and "lora_" not in n}

    default = RunConfig(method="adapters", model=str(tiny_model)).validated()
    assert base_rates(default) == {0.0}
    assert 0.1 in base_rates(RunConfig(method="adapters", model=str(tiny_model), adapter_model_dropout=True).validated())
    assert 0.1 in base_rates(RunConfig(method="full", model=str(tiny_model)).validated())  # other methods keep the model's own
    # The same training, however it was asked for, is the same setting (runs are reused and grouped by it).
    assert RunConfig(method="adapters", model_dropout=0.0).validated().settings() == RunConfig(method="adapters").validated().settings()
    assert RunConfig(method="adapters", model_dropout=0.3).validated().training_dropout == 0.3
    saved = default.to_dict()
    del saved["adapter_model_dropout"]  # an adapter run saved before this default trained with the model's own
    saved["model_dropout"] = None
    (tmp_path / "config.json").write_text(json.dumps(saved))
    old = RunConfig.load(tmp_path / "config.json")
    assert old.training_dropout is None and old.settings() != default.settings()
    from sentiment_lab.ui.tables import _settings

    assert _settings(old) == "model_dropout=the model's" and _settings(default) == "defaults"


def test_pissa_svds_run_on_one_cpu_thread_and_the_thread_count_comes_back(tiny_model, monkeypatch):
    """On a CPU, PEFT's starting SVDs run on one thread (on a 16-core GPU machine, runs side by side
    hung inside them); the run's own thread count is restored for training."""
    real, seen = torch.linalg.svd, []

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.linalg, "svd", spy)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        methods.get("lora").build(RunConfig(method="lora", model=str(tiny_model), lora_init="pissa", token_rows=0).validated(), ID2LABEL)
        assert seen and set(seen) == {1}, seen
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
