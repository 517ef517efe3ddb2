"""The kept token-table gradient is the dense gradient: same values, same training, the module given back."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from test_methods import prepared

from sentiment_lab.training import cpu_levers, methods
from sentiment_lab.training.config import Optimisation, RunConfig
from sentiment_lab.training.embedding_grad import keep_embedding_grad
from sentiment_lab.training.loop import TokenBatches, fit, logits_of

ID2LABEL = {0: "neg", 1: "pos"}


def full_model(tiny_models, kind="bert"):
    cfg = RunConfig.of(method="full", model=str(tiny_models[kind])).validated()
    torch.manual_seed(0)
    return methods.build(cfg, ID2LABEL).eval()  # eval: no dropout, so both copies see the same function


def steps(model, batches, kept):
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2, weight_decay=0.01)
    for inputs, y in batches:
        F.cross_entropy(logits_of(model, inputs), y).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if kept is not None:
            kept.clear(inputs)
    return model


def test_the_kept_buffer_holds_the_dense_gradient_and_clear_zeroes_it(tiny_models, tiny_data):
    ds, tok = prepared(tiny_models["bert"], tiny_data)
    inputs, y = next(TokenBatches(ds.splits["train"], tok.pad_token_id, 8, 0).epoch(0))
    dense, sparse = full_model(tiny_models), full_model(tiny_models)
    F.cross_entropy(logits_of(dense, inputs), y).backward()
    kept = keep_embedding_grad(sparse)
    F.cross_entropy(logits_of(sparse, inputs), y).backward()
    want, got = dense.get_input_embeddings().weight.grad, sparse.get_input_embeddings().weight.grad
    assert got is kept.buffer and not got.is_sparse and want.abs().sum() > 0
    assert torch.allclose(got, want, atol=1e-7)
    sparse.get_input_embeddings().weight.grad = None  # as optimizer.zero_grad(set_to_none=True) leaves it
    kept.clear(inputs)
    assert sparse.get_input_embeddings().weight.grad is kept.buffer and not kept.buffer.any()


def test_training_with_it_ends_where_dense_gradients_end(tiny_models, tiny_data):
    for kind in ("bert", "distilbert"):
        ds, tok = prepared(tiny_models[kind], tiny_data)
        batches = list(TokenBatches(ds.splits["train"], tok.pad_token_id, 8, 0).epoch(0))[:4]
        dense = steps(full_model(tiny_models, kind), batches, None)
        model = full_model(tiny_models, kind)
        sparse = steps(model, batches, keep_embedding_grad(model))
        for (name, a), b in zip(dense.state_dict().items(), sparse.state_dict().values()):
            assert torch.allclose(a, b, atol=1e-6), name


def test_fit_on_a_cpu_uses_it_for_full_fine_tuning_only_and_gives_the_module_back(tiny_models, tiny_data, monkeypatch):
    ds, tok = prepared(tiny_models["bert"], tiny_data)
    model = full_model(tiny_models)
    keys = list(model.state_dict())
    train = TokenBatches(ds.splits["train"], tok.pad_token_id, 8, 0)
    made = []
    monkeypatch.setattr(cpu_levers, "keep_embedding_grad", lambda m: made.append(keep_embedding_grad(m)) or made[-1])
    fit(model, train, train, Optimisation(epochs=1, lr=1e-3), Accelerator(cpu=True), 2, report=lambda r: None)
    assert len(made) == 1 and made[0] is not None
    emb = model.get_input_embeddings()
    assert not emb.sparse and emb.weight.grad is None and list(model.state_dict()) == keys
    lora = methods.build(RunConfig.of(method="lora", model=str(tiny_models["bert"])).validated(), ID2LABEL)
    assert keep_embedding_grad(lora) is None  # a frozen table has no gradient to keep


def test_a_model_without_one_token_table_trains_fully_and_with_lora_and_adapters(tiny_data, isolated_checkpoints):
    """CANINE hashes characters into several tables; asking for its one token table raised for every method."""
    import transformers
    from conftest import SMALL, tiny_vocab, train_one

    folder = isolated_checkpoints.parent / "canine"
    torch.manual_seed(0)
    config = transformers.CanineConfig(
        **dict(SMALL, max_position_embeddings=256), num_hash_buckets=64, downsampling_rate=2
    )
    transformers.AutoModel.from_config(config).save_pretrained(folder)
    transformers.BertTokenizerFast(vocab=tiny_vocab(), do_lower_case=True).save_pretrained(folder)
    for method in ("full", "lora", "adapters"):
        train_one(folder, method, tiny_data, isolated_checkpoints, f"canine-{method}")
