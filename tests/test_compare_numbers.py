"""Compare reads at a glance: the table's and the chart's numbers agree, a near-chance run is flagged, and a
review unlike the training data says so."""

from __future__ import annotations

import pytest

from sentiment_lab.serving.predict import scores_on_test
from sentiment_lab.serving.review_notes import review_notes
from sentiment_lab.storage import write_json_atomic
from sentiment_lab.training.config import METHODS
from sentiment_lab.ui.compare_tab import rows_frame, summary_note
from sentiment_lab.ui.plots import SCALE_COLOURS, positive_bar, scale_place

ROWS = [
    {"method": "svm", "run": "a", "label": "neg", "probability": 0.834, "probabilities": {"neg": 0.834, "pos": 0.166},
     "ms": 3.0, "test_accuracy": 0.77},
    {"method": "lora", "run": "b", "label": "pos", "probability": 0.61, "probabilities": {"neg": 0.39, "pos": 0.61},
     "ms": 9.0, "test_accuracy": 0.58},
    {"method": "full", "run": None, "error": "no finished full run yet: train one in the Train tab"},
]  # fmt: skip


def test_the_table_keeps_confidence_and_p_positive_apart_and_agrees_with_the_chart():
    frame = rows_frame(ROWS)
    svm = frame.iloc[0]
    assert (svm["label"], svm["confidence in label"], svm["P(positive)"]) == ("neg", 0.834, 0.166)
    assert list(positive_bar(ROWS).data[0].y) == list(frame["P(positive)"].dropna())


def test_a_run_near_chance_is_flagged_in_the_table_and_the_note():
    frame = rows_frame(ROWS)
    assert frame.iloc[1]["label"] == "pos ⚠ near chance" and "⚠" not in frame.iloc[0]["label"]
    note = summary_note(ROWS, "a fine film")
    assert "Close to chance on its test set" in note and "LoRA (0.58)" in note and "SVM" not in note


def three_way(accuracy, chance=None):
    probabilities = {"negative": 0.2, "neutral": 0.3, "positive": 0.5}
    return {"method": "lora", "run": "c", "label": "positive", "probability": 0.5, "probabilities": probabilities,
            "ms": 1.0, "test_accuracy": accuracy, "chance": chance}  # fmt: skip


@pytest.mark.parametrize(
    "row,near",
    [
        (three_way(0.55, chance=0.37), False),  # well above the commonest class of three
        (three_way(0.45), True),  # no saved answers: guessing among three scores 1/3
        ({**ROWS[0], "test_accuracy": 0.91, "chance": 0.9}, True),  # nine in ten test sentences are one class
        ({**ROWS[0], "test_accuracy": 0.97, "chance": 0.9}, False),
    ],
)
def test_chance_is_the_test_sets_commonest_class_not_a_fixed_score(row, near):
    assert ("near chance" in rows_frame([row]).iloc[0]["label"]) is near


def test_with_three_classes_the_chart_stacks_each_methods_class_probabilities():
    fig = positive_bar([three_way(0.9), ROWS[2]])
    assert [t.name for t in fig.data] == ["negative", "neutral", "positive"] and fig.layout.barmode == "stack"
    assert [t.y[0] for t in fig.data] == [0.2, 0.3, 0.5] and not fig.layout.shapes  # no 0.5 line to read
    # The classes keep the colours their names mean (the two-class bar's green and red), whatever order a run
    # names them in: negative at the bottom, positive on top.
    named_otherwise = {**three_way(0.9), "probabilities": {"Positive": 0.5, "mixed": 0.3, "Negative": 0.2}}
    fig = positive_bar([named_otherwise])
    assert [(t.name, t.marker.color) for t in fig.data] == [
        ("Negative", "#E45756"), ("mixed", "#BAB0AC"), ("Positive", "#54A24B")
    ]  # fmt: skip
    assert {t.marker.color for t in positive_bar([three_way(0.9)]).data} == {"#E45756", "#BAB0AC", "#54A24B"}


def test_five_graded_classes_stack_from_very_negative_to_very_positive_in_shades_of_their_side():
    sst5 = ["very positive", "positive", "neutral", "somewhat negative", "Very Negative", "other"]
    fig = positive_bar([{**three_way(0.9), "probabilities": dict.fromkeys(sst5, 1 / 6)}])
    names = [t.name for t in fig.data]
    assert names == ["Very Negative", "somewhat negative", "neutral", "other", "positive", "very positive"]
    colours = dict(zip(names, (t.marker.color for t in fig.data)))
    assert colours["positive"] == "#54A24B" and colours["neutral"] == "#BAB0AC"
    assert len(set(colours.values())) == 6 and colours["other"] not in SCALE_COLOURS.values()
    assert [scale_place(n) for n in names] == [-2, -0.5, 0, None, 1, 2]


def test_a_runs_chance_rate_is_read_from_its_saved_test_answers(tmp_path):
    write_json_atomic(tmp_path / "results.json", {"test": {"accuracy": 0.8}})
    assert scores_on_test(tmp_path) == (0.8, None, None, None)
    write_json_atomic(tmp_path / "test_predictions.json", {"pred": [0, 0, 1, 2], "label": [0, 0, 0, 2]})
    assert scores_on_test(tmp_path)[:2] == (0.8, 0.75)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("A gorgeous, funny and deeply moving film.", []),
        ("Ein wunderschöner, lustiger und zutiefst bewegender Streifen.", ["does not look English"]),
        ("美しくて面白い映画でした", ["does not look English"]),
        ("the film drags " * 50, ["150 words"]),
    ],
)
def test_a_review_unlike_the_training_data_is_named(text, expected):
    notes = review_notes(text)
    assert len(notes) == len(expected) and all(e in n for e, n in zip(expected, notes))
    assert all(f"⚠ {n}" in summary_note(ROWS, text) for n in notes)


def test_with_no_answer_the_chart_says_so_instead_of_drawing_empty_axes():
    fig = positive_bar([{"method": "LoRA", "error": "no finished lora run yet: train one in the Train tab"}])
    assert not fig.data and not fig.layout.xaxis.visible and not fig.layout.shapes  # no 0.5 line over nothing
    assert [a.text for a in fig.layout.annotations] == ["No method answered: the table says why"]


def test_runs_trained_on_different_data_are_said_not_to_compare(isolated_checkpoints, finished_runs, capsys):
    import json
    import shutil

    from sentiment_lab import compare
    from sentiment_lab.runs.queue import JobManager
    from sentiment_lab.serving.predict import Predictor
    from sentiment_lab.serving.review_batch import tables

    same = [{**ROWS[0], "dataset": "cornell-movie-review-data/rotten_tomatoes"},
            {**ROWS[1], "dataset": "../shared/data/rotten_tomatoes"}]  # fmt: skip
    assert "different data" not in summary_note(same, "a fine film")  # a Hub id and its local copy are one
    root = isolated_checkpoints  # where the compare command looks too
    shutil.copytree(finished_runs, root, dirs_exist_ok=True)
    config = root / "svm-tiny" / "config.json"
    saved = json.loads(config.read_text())
    saved["data"]["dataset"] = "uploads/three-classes.csv"  # as if the SVM had learned from another file
    config.write_text(json.dumps(saved))
    rows = Predictor(JobManager(root)).predict("a fine film", {"svm": "svm-tiny", "full": "full-tiny"})
    note = summary_note(rows, "a fine film")  # nothing said the SVM's test accuracy was on other data
    assert "trained on different data" in note and "SVM on frozen features on three-classes.csv" in note
    assert "Full fine-tuning on data" in note  # the tiny data's folder
    assert compare.main(["a fine film", "--run", "svm=svm-tiny", "--run", "full=full-tiny"]) == 0
    assert "note: These runs trained on different data" in capsys.readouterr().out
    answers = Predictor(JobManager(root)).predict_many(
        ["a fine film", "a dull one"], {"svm": "svm-tiny", "full": "full-tiny"}
    )
    note = tables(["a fine film", "a dull one"], None, answers)[2]  # many reviews: where they disagree, and why
    assert "trained on different data, so their test accuracies do not compare: svm on three-classes.csv" in note


def test_a_run_scored_on_part_of_its_test_split_is_said_to_be_so(isolated_checkpoints, finished_runs, capsys):
    import json
    import shutil

    from sentiment_lab import compare
    from sentiment_lab.runs.queue import JobManager
    from sentiment_lab.serving.predict import Predictor

    root = isolated_checkpoints
    shutil.copytree(finished_runs, root, dirs_exist_ok=True)
    picks = {"svm": "svm-tiny", "full": "full-tiny"}
    whole = Predictor(JobManager(root)).predict("a fine film", picks)
    assert "part of a test split" not in summary_note(whole, "a fine film")
    results = root / "svm-tiny" / "results.json"
    saved = json.loads(results.read_text())
    assert saved["test_sentences"] == saved["test_split"]  # the tiny runs are scored on all of it
    results.write_text(json.dumps({**saved, "test_sentences": 8}))  # as if run with --max_eval_samples 8
    rows = Predictor(JobManager(root)).predict("a fine film", picks)
    assert (rows[0]["test_sentences"], rows[0]["test_split"]) == (8, saved["test_split"])  # the API's rows too
    note = summary_note(rows, "a fine film")  # nothing said the SVM's accuracy was from 8 sentences
    part = next(line for line in note.splitlines() if "part of a test split (max_eval_samples)" in line)
    assert part.endswith(f": SVM on frozen features (8 of {saved['test_split']}).")  # the full run is scored on all
    assert compare.main(["a fine film", "--run", "svm=svm-tiny", "--run", "full=full-tiny"]) == 0
    assert "note: Scored on part of a test split (max_eval_samples), so" in capsys.readouterr().out


def test_a_compare_before_any_run_has_finished_says_what_to_do_once():
    rows = [
        {"method": m, "run": None, "error": f"no finished {m} run yet: train one in the Train tab"} for m in METHODS
    ]
    note = summary_note(rows, "a fine film")
    assert note.startswith("No method answered") and "Train all five" in note and " ms" not in note
    broken = [{**rows[0], "error": "its weights cannot be read"}, *rows[1:]]
    assert "Train all five" not in summary_note(broken, "a fine film")  # a run exists: training anew is no answer
