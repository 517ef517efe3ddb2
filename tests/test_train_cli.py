"""The worker through its real command line: run folder contents, formats, offline errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, SHARED_DATA

from sentiment_lab.training.backbone import hub_reachable

RUN_FILES = ("config.json", "status.json", "metrics.jsonl", "results.json")


def train(*args: str, env_root: Path, check: bool = True) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, "SENTIMENT_LAB_CHECKPOINTS": str(env_root)}
    proc = subprocess.run(
        [sys.executable, "-m", "sentiment_lab.train", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check:
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


def tiny_flags(model: Path, data: Path) -> list[str]:
    """A tiny model on the tiny data: two epochs of short batches."""
    return ["--model", str(model), "--dataset", str(data), "--epochs", "2", "--batch_size", "8", "--max_length", "32"]


def only_run(root: Path) -> Path:
    runs = [p for p in root.iterdir() if not p.name.startswith(".")]
    assert len(runs) == 1, runs
    return runs[0]


def check_run_folder(folder: Path, method: str) -> dict:
    for name in RUN_FILES:
        assert (folder / name).is_file(), name
    assert json.loads((folder / "status.json").read_text())["state"] == "done"
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["method"] == method and (cfg["resolved_lr"] is None) == (method == "svm")
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert all({"step", "epoch", "time"} <= set(r) for r in rows)
    assert any("eval_loss" in r and "eval_accuracy" in r and "eval_f1" in r for r in rows)
    if method != "svm":
        assert any("loss" in r and "lr" in r for r in rows)
    results = json.loads((folder / "results.json").read_text())
    for split in ("validation", "test"):
        assert set(results[split]) == {"accuracy", "f1", "loss"}
        # Each split's answers are saved (validation's: the kept checkpoint's), and score what results.json says.
        saved = json.loads((folder / f"{split}_predictions.json").read_text())
        right = [p == y for p, y in zip(saved["pred"], saved["label"], strict=True)]
        assert sum(right) / len(right) == pytest.approx(results[split]["accuracy"]), split
    assert 0 < results["trainable_parameters"] <= results["total_parameters"]
    assert results["train_seconds"] > 0 and results["samples_per_second"] > 0
    assert (folder / "artefacts").is_dir()
    assert not list(folder.rglob("*.tmp")) and not list(folder.rglob("*.pkl"))
    return results


@pytest.mark.parametrize("method", ["svm", "full", "lora", "freeze", "adapters"])
def test_tiny_run_writes_a_complete_folder(method, tiny_models, tiny_data, tmp_path):
    train("--method", method, *tiny_flags(tiny_models["distilbert"], tiny_data), env_root=tmp_path)
    check_run_folder(only_run(tmp_path), method)


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="offline Rotten Tomatoes copy not present")
def test_full_model_loads_in_a_pipeline_with_dataset_label_names(tiny_models, tmp_path):
    from transformers import pipeline

    train(
        "--method",
        "full",
        "--model",
        str(tiny_models["bert"]),
        "--dataset",
        str(SHARED_DATA),
        "--epochs",
        "1",
        "--max_train_samples",
        "64",
        "--max_eval_samples",
        "32",
        "--run_name",
        "pipe",
        env_root=tmp_path,
    )
    folder = only_run(tmp_path)
    assert folder.name.startswith("pipe-full-bert-")
    clf = pipeline("text-classification", model=str(folder / "artefacts"))
    assert clf("a good movie")[0]["label"] in ("neg", "pos")


def test_lora_loads_with_peft(tiny_models, tiny_data, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from sentiment_lab.training.data import load_dataset

    train(
        "--exercise",
        "3",
        "--method",
        "lora",
        "--model",
        str(tiny_models["distilbert"]),
        "--dataset",
        str(tiny_data),
        "--epochs",
        "2",
        "--lr",
        "0.05",  # LoRA moves the answers far from the base model's, so a wrongly loaded update shows
        env_root=tmp_path,
    )
    folder = only_run(tmp_path)
    assert (folder / "artefacts" / "adapter_config.json").is_file()
    base = AutoModelForSequenceClassification.from_pretrained(tiny_models["distilbert"], num_labels=2)
    model = PeftModel.from_pretrained(base, folder / "artefacts").eval()
    # PEFT alone gives the run's own test answers, sentence by sentence.
    tok = AutoTokenizer.from_pretrained(folder / "artefacts")
    test = load_dataset(str(tiny_data)).splits["test"]
    # In the precision the run evaluated in (bf16 on a CPU that has it), so near-ties fall the same way.
    bf16 = json.loads((folder / "results.json").read_text())["mixed_precision"] == "bf16"
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        pred = model(**tok(test.texts, padding=True, truncation=True, max_length=512, return_tensors="pt")).logits
    saved = json.loads((folder / "test_predictions.json").read_text())
    assert pred.argmax(-1).tolist() == saved["pred"] and test.labels.tolist() == saved["label"]


def test_csv_with_other_column_names_and_no_validation_split(tiny_models, tmp_path):
    from conftest import tiny_texts

    data = tmp_path / "reviews.csv"
    frame = tiny_texts(60, 5).rename(columns={"text": "review", "label": "sentiment"})
    frame["sentiment"] = frame["sentiment"].map({0: "negative", 1: "positive"})
    frame.to_csv(data, index=False)
    runs = tmp_path / "runs"
    proc = train(
        "--method",
        "freeze",
        "--model",
        str(tiny_models["bert"]),
        "--dataset",
        str(data),
        "--text_column",
        "review",
        "--label_column",
        "sentiment",
        "--epochs",
        "1",
        env_root=runs,
    )
    assert "carved" in proc.stdout
    results = check_run_folder(only_run(runs), "freeze")
    assert results["labels"] == ["negative", "positive"]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--lr", "0"], "lr must be in"),
        (["--epochs", "0"], "epochs must be in"),
        (["--batch_size", "100000"], "batch_size must be in"),
        (["--max_length", "0"], "max_length must be in"),
        (["--lora_r", "0"], "lora_r must be in"),
        (["--adapter_dim", "0"], "adapter_dim must be in"),
        (["--adapter_dropout", "1"], "adapter_dropout must be in"),
        (["--batch_size", "many"], "batch_size must be a whole number"),
        (["--run_name", "../../x"], "run name may hold only"),
        (["--exercise", "1", "--method", "lora"], "--exercise 1 is method svm"),
    ],
)
def test_bad_flags_give_one_clear_message(args, message, tmp_path):
    proc = train("--dataset", "x", *args, env_root=tmp_path, check=False)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert not any(tmp_path.iterdir()) if tmp_path.exists() else True


def test_flags_the_method_does_not_read_are_said_as_ignored(capsys):
    from sentiment_lab.runs.worker import parse_args

    parse_args(["--method", "svm", "--lr", "1e-3", "--epochs", "2", "--svm_c", "0.1", "--output_dir", "x"])
    assert capsys.readouterr().err == "warning: svm does not read --epochs, --lr: ignored\n"
    parse_args(["--method", "full", "--lr", "1e-5", "--output_dir", "x"])
    assert capsys.readouterr().err == ""


def test_a_folder_or_file_that_is_not_a_run_is_named_as_such(tmp_path, capsys):
    from sentiment_lab.runs.worker import parse_args

    (tmp_path / "notes.txt").write_text("not json")
    for argv, message in [
        (["--resume", "--output_dir", str(tmp_path)], f"--resume: {tmp_path} holds no run (no config.json)"),
        (["--config", str(tmp_path / "none.json")], f"--config {tmp_path / 'none.json'}: No such file or directory"),
        (["--config", str(tmp_path / "notes.txt")], f"--config {tmp_path / 'notes.txt'} is not a run's config.json"),
    ]:
        with pytest.raises(SystemExit):
            parse_args(argv)
        assert message in capsys.readouterr().err.splitlines()[-1]


def test_a_method_may_be_written_as_the_docs_write_it():
    from sentiment_lab.runs.worker import parse_args

    assert parse_args(["--method", "LoRA", "--output_dir", "x"]).cfg.method == "lora"


def test_jobs_submit_names_itself_in_a_bad_flags_message(capsys):
    from sentiment_lab import jobs

    with pytest.raises(SystemExit) as exit_:
        jobs.main(["submit", "--method", "lora", "--lora_r", "0"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "python -m sentiment_lab.jobs submit: error: lora_r must be in [1, 1024], got 0"
    )


@pytest.mark.parametrize(
    "flag,value,message",
    [
        ("--model", "nobody/no-such-model", "could not be loaded"),
        ("--dataset", "nobody/no-such-dataset", "could not be loaded"),
        ("--text_column", "review", "no column 'review'"),
    ],
)
def test_unreachable_or_wrong_inputs_fail_the_run_clearly(flag, value, message, tiny_models, tiny_data, tmp_path):
    args = {"--model": str(tiny_models["bert"]), "--dataset": str(tiny_data)}
    args[flag] = value
    proc = train("--method", "full", *[x for kv in args.items() for x in kv], env_root=tmp_path, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr
    status = json.loads((only_run(tmp_path) / "status.json").read_text())
    assert status["state"] == "failed" and message in status["error"]
    if flag == "--model":
        assert "minilm" in status["error"]
    if flag in ("--model", "--dataset") and not hub_reachable():  # said as the model's is, not as an exception's name
        assert "the Hub cannot be reached and it is not in the local cache" in status["error"]


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="offline Rotten Tomatoes copy not present")
@pytest.mark.parametrize("method", ["svm", "full", "lora", "freeze", "adapters"])
def test_bundled_minilm_learns_rotten_tomatoes(method, tmp_path):
    train(
        "--method",
        method,
        "--dataset",
        str(SHARED_DATA),
        "--epochs",
        "2",
        "--max_train_samples",
        "600",
        "--max_eval_samples",
        "200",
        env_root=tmp_path,
    )
    results = check_run_folder(only_run(tmp_path), method)
    assert results["test"]["accuracy"] > 0.6, results["test"]


def test_a_run_that_does_not_learn_says_so(tiny_models, tiny_data, tmp_path):
    from sentiment_lab.training.runner import did_not_learn

    done = train("--method", "full", "--lr", "0.9", *tiny_flags(tiny_models["bert"], tiny_data), env_root=tmp_path)
    results = json.loads((only_run(tmp_path) / "results.json").read_text())
    assert "did not learn" in (results["warning"] or ""), results
    assert "did not learn" in done.stdout + done.stderr  # the run's log (log.txt under the job runner)
    labels = [0, 0, 0, 1]
    assert did_not_learn(0.75, labels, 1e-3) and not did_not_learn(0.9, labels, 1e-3)
    assert "only 10 sentences" in did_not_learn(0.75, labels, 1e-3, trained_on=10)  # more data, before a rate
    assert "only" not in did_not_learn(0.75, labels, 1e-3, trained_on=8530)


def test_every_setting_says_in_help_what_it_does():
    """A flag whose help is only its default leaves a newcomer guessing; the learning rate names each method's."""
    import argparse

    from sentiment_lab.training.cli_args import add_config_flags, field_docs
    from sentiment_lab.training.config import DEFAULT_LR, RunConfig

    undocumented = [name for name, f, owner, _ in RunConfig.flat_fields() if not field_docs(owner).get(f.name)]
    assert undocumented == []
    parser = argparse.ArgumentParser()
    add_config_flags(parser)
    lr = next(a for a in parser._actions if a.dest == "lr").help
    assert all(f"{method} {rate:g}" in lr for method, rate in DEFAULT_LR.items()), lr
    assert "DEFAULT_LR" not in lr and "None" not in parser.format_help()
