"""Tiny random models of every encoder family built from configs, and a tiny memorisable dataset."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data" / "rotten_tomatoes"
sys.path.insert(0, str(ROOT))

POSITIVE = ["good", "great", "fine", "lovely", "superb", "fun", "moving", "bright"]
NEGATIVE = ["bad", "awful", "dull", "boring", "weak", "ugly", "tedious", "flat"]
# Wider than the usual 0.02 so a frozen random backbone still separates sentences (adapters, freeze).
INIT = 0.2
FILLER = ["movie", "film", "plot", "actors", "story", "the", "a", "very", "was", "is"]


def tiny_texts(n: int, seed: int) -> pd.DataFrame:
    import random

    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = i % 2
        words = rng.sample(FILLER, 3) + [rng.choice(POSITIVE if label else NEGATIVE)]
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "label": label})
    return pd.DataFrame(rows)


def tiny_vocab() -> dict[str, int]:
    words = (
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        + sorted(set(POSITIVE + NEGATIVE + FILLER))
        + list("abcdefghijklmnopqrstuvwxyz")
    )
    return {w: i for i, w in enumerate(words)}


# Every family the methods must work on, as a tiny random config (2 layers, 32 dims); each reads the same
# WordPiece tokenizer, whose [PAD], [CLS] and [SEP] ids (0, 2, 3) the configs name.
SMALL = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, initializer_range=INIT)
FAMILIES = {
    "bert": ("BertConfig", dict(SMALL, max_position_embeddings=64)),
    "distilbert": (
        "DistilBertConfig",
        dict(dim=32, n_layers=2, n_heads=2, hidden_dim=64, initializer_range=INIT, max_position_embeddings=64),
    ),
    "roberta": ("RobertaConfig", dict(SMALL, max_position_embeddings=70, pad_token_id=0)),
    "xlm-roberta": ("XLMRobertaConfig", dict(SMALL, max_position_embeddings=70, pad_token_id=0)),
    "camembert": ("CamembertConfig", dict(SMALL, max_position_embeddings=70, pad_token_id=0)),
    "electra": ("ElectraConfig", dict(SMALL, embedding_size=16, max_position_embeddings=64)),
    "deberta-v2": (
        "DebertaV2Config",
        dict(
            SMALL,
            max_position_embeddings=64,
            relative_attention=True,
            position_buckets=16,
            pos_att_type=["p2c", "c2p"],
            share_att_key=True,
            norm_rel_ebd="layer_norm",
            position_biased_input=False,
            pad_token_id=0,
        ),
    ),
    "modernbert": (
        "ModernBertConfig",
        dict(
            SMALL,
            max_position_embeddings=64,
            pad_token_id=0,
            cls_token_id=2,
            sep_token_id=3,
            bos_token_id=2,
            eos_token_id=3,
            global_attn_every_n_layers=1,
        ),
    ),
    "albert": ("AlbertConfig", dict(SMALL, embedding_size=16, max_position_embeddings=64, pad_token_id=0)),
    "mpnet": ("MPNetConfig", dict(SMALL, max_position_embeddings=70, pad_token_id=0)),
    # Encoder-decoders: the methods read their encoder half's features, their classifiers the [SEP] (eos) token.
    "t5": (
        "T5Config",
        dict(
            d_model=32,
            d_kv=16,
            d_ff=64,
            num_layers=2,
            num_heads=2,
            pad_token_id=0,
            eos_token_id=3,
            decoder_start_token_id=0,
        ),
    ),
    "bart": (
        "BartConfig",
        dict(
            d_model=32,
            encoder_layers=2,
            decoder_layers=2,
            encoder_attention_heads=2,
            decoder_attention_heads=2,
            encoder_ffn_dim=64,
            decoder_ffn_dim=64,
            max_position_embeddings=64,
            init_std=INIT,
            pad_token_id=0,
            bos_token_id=2,
            eos_token_id=3,
            decoder_start_token_id=3,
        ),
    ),
}


def build_tiny(kind: str, folder: Path) -> Path:
    """Save a 2-layer, 32-dim random model of family `kind` with a real WordPiece tokenizer into `folder`."""
    import torch
    import transformers
    from transformers import AutoModel, BertTokenizerFast

    torch.manual_seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = tiny_vocab()
    tokenizer = BertTokenizerFast(vocab=vocab, do_lower_case=True)
    config_class, settings = FAMILIES[kind]
    config = getattr(transformers, config_class)(vocab_size=len(vocab), **settings)
    AutoModel.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {kind: build_tiny(kind, root / kind) for kind in ("bert", "distilbert")}


@pytest.fixture(params=["bert", "distilbert"])
def tiny_model(request, tiny_models) -> Path:
    return tiny_models[request.param]


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """A folder with train / validation / test parquet files of a task a tiny model can memorise."""
    folder = tmp_path_factory.mktemp("data")
    for split, n, seed in (("train", 64, 1), ("validation", 16, 2), ("test", 16, 3)):
        frame = tiny_texts(n, seed)
        frame["label"] = frame["label"].map({0: "neg", 1: "pos"})  # named labels, as a user's file may have
        frame.to_parquet(folder / f"{split}.parquet")
    return folder


def train_one(model, method: str, data, root: Path, run_id: str) -> None:
    """One small run of `method` trained in this process (no worker's start-up), as a queued run would be."""
    from sentiment_lab.training.config import RunConfig
    from sentiment_lab.training.records import read_status
    from sentiment_lab.training.runner import Runner

    cfg = RunConfig.of(
        method=method,
        model=str(model),
        dataset=str(data),
        epochs=1,
        device="cpu",
        bf16="off",
        batch_size=8,
        max_train_samples=128,
        max_eval_samples=64,
    ).validated()
    assert Runner(cfg, root / run_id, progress=False).run() == 0, read_status(root / run_id).get("error")
    assert read_status(root / run_id)["state"] == "done"


@pytest.fixture(scope="session")
def finished_runs(tmp_path_factory, tiny_models, tiny_data) -> Path:
    """A runs folder holding one finished tiny full, freeze and SVM run each, trained once for the session:
    copy it (shutil.copytree) before changing anything in it."""
    root = tmp_path_factory.mktemp("finished")
    for method in ("full", "freeze", "svm"):
        train_one(tiny_models["bert"], method, tiny_data, root, f"{method}-tiny")
    return root


@pytest.fixture(autouse=True)
def isolated_checkpoints(tmp_path, monkeypatch):
    """Every test writes runs under its own folder, never the project's checkpoints/."""
    monkeypatch.setenv("SENTIMENT_LAB_CHECKPOINTS", str(tmp_path / "checkpoints"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    return tmp_path / "checkpoints"


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: runs the bundled MiniLM on real data (tens of seconds)")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # datasets caches what it reads of a cloned repository under ~/.cache: the suite's go to a folder of its own.
    config.datasets_cache = tempfile.mkdtemp(prefix="sentiment-lab-datasets-")
    os.environ["HF_DATASETS_CACHE"] = config.datasets_cache


def pytest_unconfigure(config):
    shutil.rmtree(getattr(config, "datasets_cache", ""), ignore_errors=True)


def build_model(cfg, id2label=None):
    """A token method's model as a run builds it."""
    from sentiment_lab.training import methods

    return methods.build(cfg, id2label or {0: "neg", 1: "pos"})
