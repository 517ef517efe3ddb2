"""A max length over what the model reads: the run cuts sentences at the model's limit, says so before it is
queued and in its log, and Compare cuts a long review the same way, where both used to fail on the
position table."""

from __future__ import annotations

import pytest
from conftest import tiny_texts

from sentiment_lab.runs.queue import JobManager
from sentiment_lab.serving.predict import Predictor
from sentiment_lab.training import methods
from sentiment_lab.training.backbone import load_config, load_tokenizer, token_limit
from sentiment_lab.training.config import RunConfig
from sentiment_lab.training.records import read_status
from sentiment_lab.training.runner import Runner

LONG = " ".join(["good film"] * 60)  # 120 words: longer than a tiny model's 64 positions


def test_the_limit_is_the_tokenizers_else_the_position_table_less_two(tiny_models):
    model = str(tiny_models["bert"])
    tokenizer, config = load_tokenizer(model), load_config(model)
    assert token_limit(tokenizer, config) == config.max_position_embeddings - 2  # the tokenizer does not say
    tokenizer.model_max_length = 40
    assert token_limit(tokenizer, config) == 40
    assert token_limit(load_tokenizer("minilm"), load_config("minilm")) == 512


@pytest.mark.parametrize("method", ["svm", "full"])
def test_a_model_without_a_position_table_trains_at_the_runs_max_length(method, tiny_models, tiny_data, tmp_path):
    """XLNet's relative positions have no table (its config says -1 positions): the run's max length holds, where
    a limit of -3 tokens once failed every run of it."""
    import shutil

    import transformers
    from conftest import tiny_vocab, train_one

    folder = tmp_path / "xlnet"
    config = transformers.XLNetConfig(vocab_size=len(tiny_vocab()), d_model=32, n_layer=2, n_head=2, d_inner=64)
    transformers.AutoModel.from_config(config).save_pretrained(folder)
    for file in tiny_models["bert"].iterdir():  # the tiny WordPiece tokenizer, which sets no length either
        if file.name != "config.json" and not file.name.endswith(".safetensors"):
            shutil.copy(file, folder)
    assert token_limit(load_tokenizer(str(folder)), load_config(str(folder))) is None
    train_one(str(folder), method, tiny_data, tmp_path / "runs", f"xlnet-{method}")


@pytest.mark.parametrize("method", ["svm", "lora"])
def test_a_run_over_the_models_length_trains_and_compare_reads_long_reviews(tiny_models, tmp_path, capsys, method):
    data = tmp_path / "data"
    data.mkdir()
    for split, seed in (("train", 1), ("validation", 2), ("test", 3)):
        frame = tiny_texts(32, seed)
        frame.loc[0, "text"] = LONG
        frame.to_parquet(data / f"{split}.parquet")
    model = str(tiny_models["bert"])
    # fp32 on the CPU, as every run trained in the suite's process: accelerate keeps its first precision
    settings = dict(epochs=1, batch_size=8, max_length=512, device="cpu", bf16="off")
    cfg = RunConfig.of(method=method, model=model, dataset=str(data), **settings)
    assert methods.check(cfg) == [f"max length 512 is over what {model} reads: sentences are cut at 62 tokens"]
    root = tmp_path / "runs"
    assert Runner(cfg.validated(), root / "r", progress=False).run() == 0, read_status(root / "r").get("error")
    assert "note: max length 512 is over what" in capsys.readouterr().out  # the worker's output is the run's log
    row = next(r for r in Predictor(JobManager(root)).predict(LONG + " " + LONG, {method: "r"}) if r["run"] == "r")
    assert "error" not in row and row["label"] in ("0", "1")
