"""Word influence: each word left out in turn, through every method; and its HTML."""

from __future__ import annotations

import math
import re

import pytest

from sentiment_lab.serving.predict import ReviewError, p_positive, positive_index
from sentiment_lab.serving.word_influence import MAX_WORDS, influence, log_odds
from sentiment_lab.ui.compare_tab import rows_frame
from sentiment_lab.ui.influence_html import influence_html


class WordCounter:
    """A stand-in predictor: P(pos) rises with each 'good' and falls with each 'dull'; the SVM has no run."""

    def __init__(self):
        self.calls = []

    def predict_many(self, texts, runs, batch_size=32, one_precision=False):
        self.calls.append((list(texts), batch_size, one_precision))

        def p(text):
            words = text.split()
            return 1 / (1 + math.exp(-(2 * words.count("good") - 3 * words.count("dull"))))

        answers = {
            m: {"run": run, "labels": ["neg", "pos"], "probabilities": [[1 - p(t), p(t)] for t in texts], "ms": 1.0}
            for m, run in runs.items()
            if run
        }
        answers.update({m: {"run": None, "error": f"no finished {m} run yet"} for m, run in runs.items() if not run})
        return answers


def test_each_words_pull_is_the_fall_in_log_odds_without_it():
    predictor = WordCounter()
    out = influence(predictor, "  good but dull  ", {"svm": None, "full": "full-1"})
    texts, batch, one_precision = predictor.calls[0]
    assert texts == ["good but dull", "but dull", "good dull", "good but"]
    assert (
        batch == 32 and one_precision
    )  # batches (a compare gets in between), all in one precision: the pulls subtract answers
    words = out["full"]["words"]
    assert [w for w, _, _ in words] == ["good", "but", "dull"]
    assert [round(d, 6) for _, d, _ in words] == [2.0, 0.0, -3.0]  # the model's own weights, read back
    assert out["full"]["probability"] == pytest.approx(1 / (1 + math.e))  # log-odds -1
    assert words[2][2] == pytest.approx(1 / (1 + math.exp(-2)))  # P without 'dull'
    assert out["svm"] == {"run": None, "error": "no finished svm run yet"}


def test_long_or_empty_reviews_are_refused_before_any_model_runs():
    predictor = WordCounter()
    with pytest.raises(ReviewError, match=f"121 words; word influence is computed for up to {MAX_WORDS}"):
        influence(predictor, "word " * 121, {"full": "f"})
    with pytest.raises(ReviewError, match="empty"):
        influence(predictor, "   ", {"full": "f"})
    assert predictor.calls == []


def test_the_positive_class_is_found_by_name_else_the_second_of_two_and_none_among_more():
    assert (
        positive_index(["neg", "pos"]) == 1
        and positive_index(["Positive", "Negative"]) == 0
        and positive_index(["0", "1"]) == 1
        and positive_index(["negative", "neutral", "positive"]) == 2
    )
    # Among more classes none named positive, the last is no more positive than another (it read as P(positive)).
    assert positive_index(["bad", "good", "okay"]) is None and positive_index(["1", "2", "3", "4", "5"]) is None
    assert p_positive({"bad": 0.2, "good": 0.3, "okay": 0.5}) is None
    rows = [{"method": "svm", "run": "r", "label": "okay", "probability": 0.5, "ms": 1.0}]
    rows[0]["probabilities"] = {"bad": 0.2, "good": 0.3, "okay": 0.5}
    assert rows_frame(rows)["P(positive)"].isna().all()  # blank, not P(okay)
    assert log_odds(1.0) == pytest.approx(math.log(1e6), rel=1e-3)  # clipped, never infinite


def test_html_escapes_words_tints_by_sign_and_says_why_a_method_is_missing():
    result = influence(WordCounter(), "good <script>alert(1)</script> dull", {"svm": None, "full": "f"})
    page = influence_html(result)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "no finished svm run yet" in page and "strongest: good +2.0, dull -3.0" in page
    # On one scale, the strongest pull's: 'good' at 2/3 of the full tint, 'dull' at all of it.
    assert re.search(r"rgba\(84, 162, 75, 0\.57\);[^>]*>good<", page) and re.search(
        r"rgba\(228, 87, 86, 0\.85\);[^>]*>dull<", page
    )


def test_among_classes_none_of_them_positive_the_words_explain_the_class_answered():
    class Stars(WordCounter):
        def predict_many(self, texts, runs, batch_size=32, one_precision=False):
            probs = [[0.7, 0.2, 0.1] if "awful" in t else [0.2, 0.5, 0.3] for t in texts]
            return {
                m: {"run": r, "labels": ["1", "2", "3"], "probabilities": probs, "ms": 1.0} for m, r in runs.items()
            }

    out = influence(Stars(), "an awful film", {"full": "f"})["full"]
    assert out["toward"] == "1" and out["probability"] == 0.7  # one star, answered; not the last class, 3
    assert out["answered"] and "log-odds of the class in brackets fall" in influence_html({"full": out})
    assert [round(d, 3) for _, d, _ in out["words"]] == [0.0, round(log_odds(0.7) - log_odds(0.2), 3), 0.0]
