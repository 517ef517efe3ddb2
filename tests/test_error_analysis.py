"""The test-set view: each run's errors, every two runs' paired test, the sentences, and refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fakes.runs import finished_run

from sentiment_lab.serving.error_analysis import AnalysisError, analyse, read_answers, same_test_set
from sentiment_lab.serving.significance import Z95, matched_gap_interval, mcnemar, wilson_interval
from sentiment_lab.storage import write_json_atomic

LABELS = [0, 1, 0, 1, 0, 1]


def dataset(folder, test_labels=LABELS, words="sentence"):
    folder.mkdir()
    for split, labels in (("train", [0, 1] * 4), ("validation", [0, 1]), ("test", test_labels)):
        pd.DataFrame({"text": [f"{split} {words} {i}" for i in range(len(labels))], "label": labels}).to_parquet(
            folder / f"{split}.parquet"
        )
    return folder


def run_with_answers(root, name, data, pred, labels=LABELS, **config):
    folder = finished_run(root, name, "full", 0.0, dataset=str(data), **config)
    write_json_atomic(
        folder / "results.json",
        {"labels": ["neg", "pos"], "test": {"accuracy": float(np.mean(np.equal(pred, labels)))}},
    )
    write_json_atomic(folder / "test_predictions.json", {"pred": pred, "label": labels})
    return read_answers(name, folder)


def test_two_runs_errors_gap_and_the_sentences_they_disagree_on(tmp_path):
    data = dataset(tmp_path / "data")
    a = run_with_answers(tmp_path, "a", data, [0, 1, 0, 1, 1, 0])  # wrong on sentences 5 and 6
    b = run_with_answers(tmp_path, "b", data, [0, 0, 0, 1, 1, 1])  # wrong on 2 and 5
    texts = same_test_set([a, b])
    assert texts == [f"test sentence {i}" for i in range(6)]

    result = analyse([a, b], texts, "disagree")
    assert result.runs["wrong"].tolist() == [2, 2]
    assert result.runs["wrong / sentences, by true label"].tolist() == ["neg 1/3 · pos 1/3", "neg 1/3 · pos 1/3"]
    pair = result.pairs.iloc[0]
    assert (pair["only first right"], pair["only second right"], pair["gap (pt)"]) == (1, 1, "+0.00")
    assert result.sentences["#"].tolist() == [2, 6]  # the answers differ there; on 5 both say pos
    assert result.sentences["a"].tolist() == ["pos", "neg ✗"] and result.sentences["b"].tolist() == ["neg ✗", "pos"]
    assert "they disagree on 2, at least one is wrong on 3, all are wrong on 1" in result.note

    assert analyse([a, b], texts, "all").sentences["#"].tolist() == [5]
    assert analyse([a, b], texts, "any").sentences["#"].tolist() == [5, 2, 6]  # both wrong first, then by position


def test_one_run_shows_its_errors_and_asks_for_a_second(tmp_path):
    a = run_with_answers(tmp_path, "a", dataset(tmp_path / "data"), [0, 1, 0, 1, 1, 0])
    result = analyse([a], same_test_set([a]), "disagree")
    assert result.sentences["#"].tolist() == [5, 6] and result.pairs.empty
    assert "wrong on 2 of 6" in result.note and "Pick a second run" in result.note


def test_mcnemar_counts_the_discordant_sentences():
    a = np.array([1, 1, 1, 1, 1, 0], dtype=bool)
    b = np.array([0, 0, 0, 0, 0, 0], dtype=bool)
    assert mcnemar(a, b) == (5, 0, 0.0625)  # 5 of 5 discordant one way: 2 x 0.5**5
    assert mcnemar(a, a) == (0, 0, 1.0)


def test_accuracy_interval_is_wilsons_and_keeps_its_width_when_every_answer_is_right():
    assert wilson_interval(np.array([1] * 8 + [0] * 2)) == pytest.approx((0.4902, 0.9433), abs=1e-4)  # textbook
    low, high = wilson_interval(np.ones(27, dtype=bool))
    assert low == pytest.approx(27 / (27 + Z95**2)) and high == pytest.approx(1.0)  # 27 of 27 is not certainty


def simulated_coverage(interval, n=30, only_a=0.06, only_b=0.02, repeats=2000):
    """How often `interval` holds the true gap over test sets of n sentences drawn from known rates."""
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(repeats):
        u = rng.random(n)
        a, b = u >= only_b, (u < only_b) | (u >= only_a + only_b)  # a wrong where only b is right, and back
        low, high = interval(a, b)
        hits += low <= only_a - only_b <= high
    return hits / repeats


def test_gap_interval_holds_the_true_gap_when_two_runs_disagree_on_few_sentences():
    assert simulated_coverage(matched_gap_interval) >= 0.95  # a percentile bootstrap falls well short here
    same = np.array([1, 1, 0, 1, 0, 1], dtype=bool)
    low, high = matched_gap_interval(same, same)
    assert low < 0 < high and low == pytest.approx(-high)  # the same answers are no proof of the same accuracy


def test_a_run_right_on_every_test_sentence_shows_an_interval_below_one(tmp_path):
    data = dataset(tmp_path / "data")
    a, b = (run_with_answers(tmp_path, name, data, LABELS) for name in "ab")
    result = analyse([a, b], same_test_set([a, b]), "any")
    assert result.runs["95% interval"].tolist() == ["[0.610, 1.000]"] * 2  # Wilson at 6 of 6
    assert result.pairs.iloc[0]["95% interval (pt)"] == "[-24.50, +24.50]"


def test_runs_of_different_test_sets_are_refused_naming_both(tmp_path):
    a = run_with_answers(tmp_path, "a", dataset(tmp_path / "data"), [0] * 6)
    b = run_with_answers(tmp_path, "b", dataset(tmp_path / "other", words="review"), [0] * 6)  # the same labels
    with pytest.raises(AnalysisError, match="a and b were tested on different sentences"):
        same_test_set([a, b])


def test_a_dataset_changed_since_the_run_is_named(tmp_path):
    data = dataset(tmp_path / "data", test_labels=[1, 1, 1, 0, 0, 0])  # not the labels the run saved
    a = run_with_answers(tmp_path, "a", data, [0] * 6)
    with pytest.raises(AnalysisError, match="has changed since it ran"):
        same_test_set([a])


def test_a_run_without_test_answers_or_without_its_dataset_says_so(tmp_path):
    folder = finished_run(tmp_path, "unfinished", "lora", 0.0)
    with pytest.raises(AnalysisError, match="run unfinished has no test answers"):
        read_answers("unfinished", folder)
    gone = run_with_answers(tmp_path, "gone", tmp_path / "deleted-data", [0] * 6)
    with pytest.raises(AnalysisError, match="test sentences of run gone cannot be read"):
        same_test_set([gone])
    with pytest.raises(AnalysisError, match="pick one or more"):
        same_test_set([])


def test_services_refuse_a_bad_run_name_and_list_only_tested_runs(tmp_path):
    from sentiment_lab.runs.queue import JobError
    from sentiment_lab.ui.services import Services

    services = Services(tmp_path / "runs")
    run_with_answers(tmp_path / "runs", "a", dataset(tmp_path / "data"), [0, 1, 0, 1, 1, 0])
    finished_run(tmp_path / "runs", "no-answers", "svm", 0.0)
    assert services.tested_runs() == ["a"]
    assert services.test_errors(["a"], "any").sentences["#"].tolist() == [5, 6]
    with pytest.raises(JobError, match="invalid run id"):
        services.test_errors(["../../x"])
    with pytest.raises(AnalysisError, match="unknown view"):
        services.test_errors(["a"], "some")


def test_every_column_of_the_panel_has_a_width(tmp_path):
    from sentiment_lab.ui.errors_panel import PAIR_WIDTHS, RUN_WIDTHS, sentence_widths

    data = dataset(tmp_path / "data")
    runs = [run_with_answers(tmp_path, name, data, [0] * 6) for name in "abcdefgh"]
    result = analyse(runs, same_test_set(runs), "any")
    assert list(result.runs.columns) == list(RUN_WIDTHS) and list(result.pairs.columns) == list(PAIR_WIDTHS)
    widths = sentence_widths(len(runs))
    assert len(widths) == len(result.sentences.columns) and abs(sum(float(w[:-1]) for w in widths) - 100) < 1
    assert float(widths[1][:-1]) >= 50  # the review keeps half the table with the most runs allowed
