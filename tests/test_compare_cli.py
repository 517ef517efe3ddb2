"""The Compare tab from a command line: answers, word pulls, many reviews to CSV, and refusals."""

from __future__ import annotations

import shutil

import pandas as pd
from fakes.runs import finished_run

from sentiment_lab.compare import main
from sentiment_lab.training import methods
from sentiment_lab.training.backbone import load_tokenizer
from sentiment_lab.training.config import RunConfig


def saved_full_run(root, model_dir):
    folder = finished_run(root, "full-tiny", "full", 1.0, model=str(model_dir))
    cfg = RunConfig.load(folder / "config.json")
    shutil.rmtree(folder / "artefacts")
    (folder / "artefacts").mkdir()
    full = methods.get("full")
    full.save(
        full.build(cfg, {0: "neg", 1: "pos"}),
        folder / "artefacts",
        cfg,
        load_tokenizer(str(model_dir)),
        {0: "neg", 1: "pos"},
    )


def test_one_review_with_word_pulls_then_many_to_csv(tiny_models, isolated_checkpoints, tmp_path, capsys):
    saved_full_run(isolated_checkpoints, tiny_models["bert"])
    assert main(["a good movie", "--words"]) == 0
    out = capsys.readouterr().out
    assert "full-tiny" in out and "no finished svm run yet" in out and "None" not in out
    assert (
        "note: `python -m sentiment_lab.jobs submit --method METHOD` trains a run for svm, lora, freeze, adapters"
        in out
    )
    pulls = next(line for line in out.splitlines() if line.startswith("full: P(pos)"))
    assert [w.split("(")[0] for w in pulls.split(": ")[-1].split()] == ["a", "good", "movie"]

    answers = tmp_path / "answers.csv"
    assert main(["a good movie", "the plot was dull", "--csv", str(answers)]) == 0
    frame = pd.read_csv(answers)
    assert frame["review"].tolist() == ["a good movie", "the plot was dull"] and set(frame["full"]) <= {"neg", "pos"}
    assert "2 reviews written" in capsys.readouterr().out


def test_bad_arguments_get_one_line_naming_them(capsys):
    assert main(["a review", "--run", "lora"]) == 2
    assert "--run takes METHOD=RUN_ID, got 'lora'" in capsys.readouterr().err
    assert main(["a review", "--run", "bert=x"]) == 2
    assert "unknown method 'bert'" in capsys.readouterr().err
    assert main(["one", "two", "--words"]) == 2
    assert "--words explains one review at a time" in capsys.readouterr().err
    assert main(["   "]) == 2
    assert "the review is empty" in capsys.readouterr().err
    assert main(["--file", "no-such-reviews.csv"]) == 2  # was a traceback
    assert capsys.readouterr().err == "error: no-such-reviews.csv is not a file\n"
