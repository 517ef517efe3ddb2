"""Held-out splits: carved ones keep every copy of a sentence on one side, given ones that repeat train say
so before the run is queued."""

from __future__ import annotations

import re
import sys

import numpy as np
import pandas as pd
import pytest

from sentiment_lab.runs.queue import JobManager
from sentiment_lab.training.data import DatasetError, load_dataset, sentence_key


def besides_size(warnings: list[str]) -> list[str]:
    """The warnings other than the one every small test split gets (these tests' splits are small)."""
    return [w for w in warnings if not w.startswith("the test split has only")]


def table(path, texts, labels):
    pd.DataFrame({"text": texts, "label": labels}).to_csv(path, index=False)
    return path


def test_a_carved_split_keeps_every_copy_of_a_sentence_on_one_side(tmp_path):
    # 40 sentences, each three times, two of the copies in other case and spacing
    texts = [t for i in range(40) for t in (f"film {i} was fine", f"Film {i}  was fine", f"FILM {i} was fine")]
    ds = load_dataset(str(table(tmp_path / "all.csv", texts, [i // 3 % 2 for i in range(120)])))
    keys = {name: {sentence_key(t) for t in split.texts} for name, split in ds.splits.items()}
    assert keys["train"].isdisjoint(keys["validation"]) and keys["train"].isdisjoint(keys["test"])
    assert keys["validation"].isdisjoint(keys["test"])
    assert sum(len(s) for s in ds.splits.values()) == 120 and len(ds.splits["validation"]) == 12  # 4 sentences
    assert besides_size(ds.warnings) == []


def test_a_carved_split_keeps_each_class_share_of_train(tmp_path):
    texts = [f"sentence {i}" for i in range(200)]
    ds = load_dataset(str(table(tmp_path / "all.csv", texts, [0] * 20 + [1] * 180)), seed=7)
    assert np.bincount(ds.splits["validation"].labels).tolist() == [2, 18]  # a tenth of each class
    assert np.bincount(ds.splits["test"].labels).tolist() == [2, 16]  # a tenth of what validation left
    assert sum(len(s) for s in ds.splits.values()) == 200 and ds.carved == ["validation", "test"]
    again = load_dataset(str(tmp_path / "all.csv"), seed=7).splits["test"].texts
    assert again == ds.splits["test"].texts != load_dataset(str(tmp_path / "all.csv"), seed=8).splits["test"].texts


def test_a_class_of_one_sentence_stays_in_train(tmp_path):
    texts = [f"sentence {i}" for i in range(30)] + ["the rare one"] * 3
    ds = load_dataset(str(table(tmp_path / "all.csv", texts, [0, 1] * 15 + [2] * 3)))
    assert ds.splits["train"].texts.count("the rare one") == 3 and 2 not in ds.splits["test"].labels


def test_train_of_one_sentence_repeated_is_refused(tmp_path):
    with pytest.raises(DatasetError, match="too few distinct sentences to carve a validation split"):
        load_dataset(str(table(tmp_path / "all.csv", ["same words"] * 20, [0, 1] * 10)))


def given_splits(folder, test_texts):
    folder.mkdir()
    train = [f"train sentence {i}" for i in range(20)]
    table(folder / "train.csv", train, [i % 2 for i in range(20)])
    table(folder / "validation.csv", ["other words", "more words"], [0, 1])
    table(folder / "test.csv", test_texts, [i % 2 for i in range(len(test_texts))])
    return folder


def test_given_test_sentences_that_train_has_are_counted(tmp_path):
    folder = given_splits(tmp_path / "data", ["Train  Sentence 3", "train sentence 4", "new words", "newer words"])
    assert load_dataset(str(folder)).carved == []  # every split given: none is taken from train
    assert besides_size(load_dataset(str(folder)).warnings) == [
        "2 of 4 test sentences are also in train: their accuracy counts sentences the model trained on"
    ]


def test_the_train_form_says_what_in_the_data_may_mislead_beside_the_queued_run(tmp_path):
    from sentiment_lab.ui.services import Services
    from sentiment_lab.ui.train_form import queued_message

    services = Services(tmp_path / "runs")
    services.jobs = JobManager(
        tmp_path / "runs", launcher=lambda run_id, folder, args, **_: [sys.executable, "-c", "pass"]
    )
    seen = given_splits(tmp_path / "seen", ["train sentence 1", "a new one"])
    done = services.submit({"method": "svm", "dataset": str(seen)})
    message = queued_message(done, services.names())
    assert message.startswith("Queued **") and message.endswith(
        "⚠ 1 of 2 test sentences are also in train: their accuracy counts sentences the model trained on."
        "\n\n⚠ The test split has only 2 sentences: one answer moves its accuracy by 50 points, so differences "
        "between runs tell little; 100 or more test sentences tell more."
    )
    clean = given_splits(tmp_path / "clean", [f"new sentence {i}" for i in range(100)])
    assert "⚠" not in queued_message(services.submit({"method": "svm", "dataset": str(clean)}), services.names())


def test_the_jobs_cli_reads_the_data_before_it_queues(tmp_path, monkeypatch, capsys):
    from sentiment_lab import jobs

    monkeypatch.setattr(JobManager, "advance", lambda self: [])  # were anything queued, it would not train
    seen = given_splits(tmp_path / "seen", ["train sentence 1", "a new one"])
    assert jobs.main(["submit", "--method", "svm", "--dataset", str(seen), "--text_column", "review"]) == 2
    assert "no column 'review'" in capsys.readouterr().err and JobManager().list() == []
    assert jobs.main(["submit", "--method", "svm", "--dataset", str(seen)]) == 0
    said = capsys.readouterr()
    assert "warning: 1 of 2 test sentences are also in train" in said.err
    assert [r["id"] for r in JobManager().list()] == [said.out.strip().splitlines()[-1]]


def test_a_train_split_mostly_of_one_class_and_rows_left_out_are_said(tmp_path):
    texts = [f"sentence {i}" for i in range(50)] + [None]
    ds = load_dataset(str(table(tmp_path / "all.csv", texts, [1] * 45 + [0] * 5 + [1])))
    (warning,) = besides_size(ds.warnings)
    assert re.fullmatch(r"the train split is 9\d% '1': answering only that class scores as much accuracy; "
                        r"read macro-F1 beside it", warning)  # fmt: skip
    assert "1 train row without a text or a label left out" in ds.notes
    assert besides_size(load_dataset(str(table(tmp_path / "even.csv", texts[:50], [0, 1] * 25))).warnings) == []


def test_a_test_split_too_small_to_tell_runs_apart_is_said(tmp_path):
    texts = [f"sentence {i}" for i in range(60)]
    (warning,) = load_dataset(str(table(tmp_path / "small.csv", texts, [0, 1, 2] * 20))).warnings
    assert warning == (
        "the test split has only 6 sentences: one answer moves its accuracy by 17 points, so differences between "
        "runs tell little; 100 or more test sentences tell more"
    )
    big = [f"sentence {i}" for i in range(1200)]
    assert load_dataset(str(table(tmp_path / "big.csv", big, [0, 1] * 600))).warnings == []
    near = [f"sentence {i}" for i in range(900)]  # a test split of 81: one answer moves it by one point, not "1 points"
    (warning,) = load_dataset(str(table(tmp_path / "near.csv", near, [0, 1, 2] * 300))).warnings
    assert warning.startswith("the test split has only 81 sentences: one answer moves its accuracy by 1 point, so")


def test_scoring_a_big_test_split_on_a_few_of_its_sentences_is_said(tmp_path, monkeypatch, capsys):
    """--max_eval_samples (command line only) can make a big test split as small as one too small to score."""
    from sentiment_lab import jobs
    from sentiment_lab.training.data import eval_cut_warning

    big = table(tmp_path / "big.csv", [f"sentence {i}" for i in range(1200)], [0, 1] * 600)
    ds = load_dataset(str(big))
    assert eval_cut_warning(ds, 50) == [
        "max_eval_samples 50 scores the test on 50 of its 108 sentences: one answer moves its accuracy by 2 points, "
        "so differences between runs tell little; 100 or more test sentences tell more"
    ]
    assert eval_cut_warning(ds, 100) == eval_cut_warning(ds, None) == []
    small = load_dataset(str(table(tmp_path / "small.csv", [f"s {i}" for i in range(60)], [0, 1] * 30)))
    assert eval_cut_warning(small, 40) == []  # the split's own size is said already
    monkeypatch.setattr(JobManager, "advance", lambda self: [])  # were anything queued, it would not train
    assert jobs.main(["submit", "--method", "svm", "--dataset", str(big), "--max_eval_samples", "50"]) == 0
    assert "warning: max_eval_samples 50 scores the test on 50 of its 108 sentences" in capsys.readouterr().err


def test_a_max_length_that_cuts_training_sentences_is_said_before_the_run_is_queued_and_in_its_log(
    tiny_models, tiny_data, tmp_path, monkeypatch, capsys
):
    from sentiment_lab import jobs
    from sentiment_lab.training.config import RunConfig
    from sentiment_lab.training.runner import Runner
    from sentiment_lab.ui.services import Services
    from sentiment_lab.ui.train_form import queued_message

    data = tmp_path / "data"
    data.mkdir()
    for name in ("train", "validation", "test"):  # the tiny sentences twice over: 10 tokens with [CLS] and [SEP]
        frame = pd.read_parquet(tiny_data / f"{name}.parquet")
        long = frame["text"] + " " + frame["text"]
        frame.assign(text=long.where(frame.index % 4 == 0, frame["text"])).to_parquet(data / f"{name}.parquet")
    common = dict(model=str(tiny_models["bert"]), dataset=str(data), device="cpu", bf16="off", method="svm")
    said = "max length 8 cuts 25% of the training sentences (16), their ends unread"  # a quarter are 10 tokens
    for max_length, cut in ((8, True), (32, False)):
        cfg = RunConfig.of(max_length=max_length, **common).validated()
        assert Runner(cfg, tmp_path / f"run-{max_length}", progress=False).run() == 0
        assert (f"warning: {said}" in capsys.readouterr().out) == cut  # in the run's log
    # The Train form's answer (as the Train tab shows it beside the queued run), and `jobs submit`'s.
    services = Services(tmp_path / "runs")
    monkeypatch.setattr(services.jobs, "submit", lambda cfg, owner=None: "run-id")
    queued = services.queue([RunConfig.of(max_length=8, max_train_samples=40, **common).validated()])
    assert "⚠ Max length 8 cuts 28% of the training sentences (11)" in queued_message(queued, {})  # 11 of its 40
    monkeypatch.setenv("SENTIMENT_LAB_CHECKPOINTS", str(tmp_path / "runs"))
    monkeypatch.setattr(jobs.JobManager, "submit", lambda self, cfg: "run-id")
    flags = ["--method", "svm", "--model", common["model"], "--dataset", str(data), "--max_length", "8"]
    assert jobs.main(["submit", *flags]) == 0 and f"warning: {said}" in capsys.readouterr().err
    from sentiment_lab.training import sentence_cuts
    from sentiment_lab.training.data import load_dataset

    monkeypatch.setattr(sentence_cuts, "SAMPLE", 20)  # a big training split is counted on a sample
    estimate = sentence_cuts.cut_warning(RunConfig.of(max_length=8, **common).validated(), load_dataset(str(data)))
    assert re.match(r"max length 8 cuts \d+% of a sample of 20 training sentences \(\d+\)", estimate[0])
