"""Many reviews at once: reading them, scoring them in batches as one at a time would, and the tables."""

from __future__ import annotations

import pandas as pd
import pytest

from sentiment_lab.serving.predict import ReviewError
from sentiment_lab.serving.review_batch import MAX_REVIEWS, gold_index, read_reviews, tables


def test_reviews_from_typed_lines_and_files(tmp_path):
    assert read_reviews(typed="a fine film\n\n  \nawful ") == (["a fine film", "awful"], None)
    csv = tmp_path / "mine.csv"
    pd.DataFrame({"id": [1, 2, 3], "review": ["great", "", "dull"], "label": ["pos", "neg", "neg"]}).to_csv(
        csv, index=False
    )
    assert read_reviews(str(csv)) == (["great", "dull"], ["pos", "neg"])  # a blank review leaves with its label
    pd.DataFrame({"Sentence": ["great"], "Sentiment": ["pos"]}).to_csv(csv, index=False)
    assert read_reviews(str(csv)) == (["great"], ["pos"])  # the columns a training file may have, any case
    one = tmp_path / "one.jsonl"
    pd.DataFrame({"whatever": ["good", "bad"]}).to_json(one, orient="records", lines=True)
    assert read_reviews(str(one)) == (["good", "bad"], None)  # a file of one column: that column
    txt = tmp_path / "list.txt"
    txt.write_text("first\nsecond\n")
    assert read_reviews(str(txt), typed="ignored when a file is given") == (["first", "second"], None)


@pytest.mark.parametrize(
    "make,message",
    [
        (
            lambda p: pd.DataFrame({"a": ["x"], "b": ["y"]}).to_csv(p, index=False),
            "no review column: name it one of text, sentence, review, content, comment, document, tweet, phrase, body "
            "(its columns: a, b)",
        ),
        (lambda p: p.write_bytes(b"\xff\xfe\x00garbage"), "mine.csv"),
        (
            lambda p: pd.DataFrame({"text": ["ok"] * (MAX_REVIEWS + 1)}).to_csv(p, index=False),
            f"{MAX_REVIEWS + 1:,} reviews; at most {MAX_REVIEWS:,}",
        ),
        (
            lambda p: pd.DataFrame({"text": ["ok", "x" * 6000]}).to_csv(p, index=False),
            "review 2: the review is 6,000 characters",
        ),
    ],
)
def test_bad_lists_get_one_message_naming_the_problem(tmp_path, make, message):
    path = tmp_path / "mine.csv"
    make(path)
    with pytest.raises(ReviewError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_reviews(str(path))


def test_nothing_to_compare():
    with pytest.raises(ReviewError, match="no reviews"):
        read_reviews(typed=" \n\n")


def test_given_labels_read_as_names_in_any_case_or_as_class_ids():
    assert [gold_index(v, ["neg", "pos"]) for v in ["POS", "neg", 1, 0.0, "1", "positive", None, float("nan"), 2]] == [
        1,
        0,
        1,
        0,
        1,
        None,
        None,
        None,
        None,
    ]
    assert gold_index("1", ["0", "1"]) == 1
    assert [gold_index(v, ["False", "True"]) for v in (True, False)] == [1, 0]  # a True / False column's run
    assert [gold_index(v, ["neg", "pos"]) for v in (True, False)] == [1, 0]  # against classes named otherwise


def answer(run, labels, probs, ms=10.0):
    return {"run": run, "labels": labels, "probabilities": probs, "ms": ms}


def test_tables_count_disagreements_first_and_score_given_labels():
    texts = ["good", "bad", "meh"]
    answers = {
        "svm": answer("svm-1", ["neg", "pos"], [[0.1, 0.9], [0.8, 0.2], [0.4, 0.6]]),
        "full": answer("full-1", ["neg", "pos"], [[0.2, 0.8], [0.9, 0.1], [0.7, 0.3]], ms=30.0),
        "lora": {"run": None, "error": "no finished lora run yet"},
        "freeze": {"run": "freeze-1", "error": "run freeze-1 could not be used: OSError"},
        "adapters": answer("adapters-1", ["neg", "pos"], [[0.3, 0.7], [0.6, 0.4], [0.45, 0.55]]),
    }
    summary, rows, note = tables(texts, ["pos", 0, "neg"], answers)
    assert note == "3 methods answered 3 reviews; they disagree on 1 of them."
    assert rows.columns.tolist() == ["review", "agree", "svm", "full", "adapters", "given label"]
    assert rows.iloc[0].tolist() == ["meh", "no", "pos", "neg", "pos", "neg"]  # the disagreement first
    assert rows["given label"].tolist() == ["neg", "pos", "neg"]  # the class id 0 read as its name, as the answers
    acc = dict(zip(summary["method"], summary["accuracy on the given labels"]))
    assert acc["svm"] == 0.6667 and acc["full"] == 1.0 and pd.isna(acc["lora"])
    assert dict(zip(summary["method"], summary["run"]))["freeze"] == "run freeze-1 could not be used: OSError"
    assert dict(zip(summary["method"], summary["ms per review"]))["full"] == 10.0

    summary, rows, note = tables(texts, ["positive", "negative", "negative"], answers)
    assert "match no class of svm (neg, pos); full (neg, pos); adapters (neg, pos)" in note
    summary, rows, note = tables(
        texts, None, {**answers, "svm": {"run": None, "error": "x"}, "adapters": {"run": None, "error": "x"}}
    )
    assert (
        note == "1 method answered: train more to compare them."
        and "agree" not in rows
        and "accuracy on the given labels" not in summary
    )


def test_batches_answer_as_one_review_at_a_time(finished_runs, monkeypatch):
    import sentiment_lab.serving.predict as predict
    from sentiment_lab.runs.queue import JobManager

    monkeypatch.setattr(predict, "cpu_has_native_bf16", lambda: False)  # fp32: padding must change nothing
    predictor = predict.Predictor(JobManager(finished_runs))  # reads the runs, changes nothing
    runs = predictor.latest_runs()
    texts = ["good", "a very boring plot was the film", "great", "the actors is flat and tedious movie", "fun"]
    many = predictor.predict_many(texts, runs, batch_size=2)
    again = predictor.predict_many(texts[:1], runs)
    for method in ("svm", "full", "freeze"):  # loading is timed apart from answering, and only the first use loads
        assert many[method]["load_ms"] > again[method]["load_ms"] and again[method]["load_ms"] < 50, method
    for i, text in enumerate(texts):
        for row in predictor.predict(text, runs):
            if "error" in row:
                assert row["error"] == many[row["method"]]["error"] and row["method"] in ("lora", "adapters")
                continue
            assert many[row["method"]]["probabilities"][i] == pytest.approx(
                list(row["probabilities"].values()), abs=1e-5
            ), (row["method"], text)


def test_the_first_uses_loading_is_said_apart():
    from sentiment_lab.serving.review_batch import loading_note

    assert (
        loading_note([{"load_ms": 2500.0}, {"load_ms": 600.0}, {"error": "x"}])
        == " Loading the models took 3.1 s (first use only)."
    )
    assert loading_note([{"load_ms": 0.4}, {"load_ms": 0.2}]) == ""
