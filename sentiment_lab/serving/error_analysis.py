"""Where finished runs go wrong on their test set, and where they differ: each run's errors by true
label, every two runs' paired test, and the sentences themselves. Reads the answers each run saved
(test_predictions.json) and the run's own test split, rebuilt from its config; no Gradio."""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sentiment_lab.serving.significance import matched_gap_interval, mcnemar, wilson_interval
from sentiment_lab.storage import read_json
from sentiment_lab.training.config import RunConfig
from sentiment_lab.training.data import DatasetError, load_dataset, subsample
from sentiment_lab.training.records import read_results

SHOW = {"disagree": "where they disagree", "any": "where any is wrong", "all": "where all are wrong"}
MAX_RUNS = 8  # one column each in the sentence table; more no longer fits a screen
MAX_SHOWN = 500  # rows in the UI table; the CSV and the API have every one


class AnalysisError(ValueError):
    """The runs cannot be compared on a test set; the message names the run and the reason."""


@dataclass
class RunAnswers:
    run_id: str
    method: str
    pred: np.ndarray
    label: np.ndarray
    label_names: list[str]
    config: RunConfig

    @property
    def correct(self) -> np.ndarray:
        return self.pred == self.label


def read_answers(run_id: str, folder) -> RunAnswers:
    saved, results = read_json(folder / "test_predictions.json"), read_results(folder) or {}
    if not saved or "labels" not in results:
        raise AnalysisError(f"run {run_id} has no test answers: it has not finished, or stopped before its test")
    config = RunConfig.load(folder / "config.json")
    return RunAnswers(
        run_id, config.method, np.asarray(saved["pred"]), np.asarray(saved["label"]), list(results["labels"]), config
    )


@functools.lru_cache(maxsize=8)
def _test_split(
    dataset: str, text_column: str, label_column: str, seed: int, limit: int | None
) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The test sentences a run with these settings was scored on (the runner's own load and subsample)."""
    test = subsample(load_dataset(dataset, text_column, label_column, seed).splits["test"], limit, seed)
    return tuple(test.texts), tuple(int(x) for x in test.labels)


def test_texts(answers: RunAnswers) -> list[str]:
    """The run's test sentences in the order of its answers, checked against the labels it saved."""
    cfg = answers.config
    try:
        texts, labels = _test_split(
            cfg.data.dataset, cfg.data.text_column, cfg.data.label_column, cfg.seed, cfg.data.max_eval_samples
        )
    except DatasetError as e:
        raise AnalysisError(f"the test sentences of run {answers.run_id} cannot be read: {e}") from None
    if len(texts) != len(answers.label) or not np.array_equal(labels, answers.label):
        raise AnalysisError(
            f"run {answers.run_id}'s dataset {cfg.data.dataset} has changed since it ran: "
            f"its test split no longer matches the {len(answers.label):,} answers saved"
        )
    return list(texts)


def same_test_set(runs: list[RunAnswers]) -> list[str]:
    """The one test set every run was scored on, or an AnalysisError naming two runs that differ."""
    if not runs:
        raise AnalysisError("pick one or more finished runs")
    if len(runs) > MAX_RUNS:
        raise AnalysisError(f"{len(runs)} runs picked; at most {MAX_RUNS} at once")
    first, texts = runs[0], test_texts(runs[0])
    for other in runs[1:]:
        if other.label_names != first.label_names:
            raise AnalysisError(
                f"runs {first.run_id} and {other.run_id} have different labels "
                f"({', '.join(first.label_names)} vs {', '.join(other.label_names)})"
            )
        if test_texts(other) != texts:
            raise AnalysisError(
                f"runs {first.run_id} and {other.run_id} were tested on different sentences "
                "(another dataset, or a different --max_eval_samples or seed): pick runs of one test set"
            )
    return texts


@dataclass
class Analysis:
    runs: pd.DataFrame  # one line per run: accuracy with its interval, errors by true label
    pairs: pd.DataFrame  # one line per two runs: the gap, its interval over sentences, McNemar
    sentences: pd.DataFrame  # every test sentence the chosen view keeps, most-missed first
    note: str


def _pct(x: float) -> str:
    return f"{100 * x:+.2f}"


def analyse(runs: list[RunAnswers], texts: list[str], show: str = "disagree") -> Analysis:
    if show not in SHOW:
        raise AnalysisError(f"unknown view {show!r}: one of {', '.join(SHOW)}")
    names = runs[0].label_names
    lines = []
    for r in runs:
        low, high = wilson_interval(r.correct)
        wrong_by_label = " · ".join(
            f"{name} {int(np.sum(~r.correct & (r.label == i)))}/{int(np.sum(r.label == i))}"
            for i, name in enumerate(names)
        )
        lines.append(
            [
                r.run_id,
                r.method,
                round(float(r.correct.mean()), 4),
                f"[{low:.3f}, {high:.3f}]",
                int(np.sum(~r.correct)),
                wrong_by_label,
            ]
        )
    run_frame = pd.DataFrame(
        lines, columns=["run", "method", "test acc", "95% interval", "wrong", "wrong / sentences, by true label"]
    )
    pairs = []
    for a, b in itertools.combinations(runs, 2):
        only_a, only_b, p = mcnemar(a.correct, b.correct)
        low, high = matched_gap_interval(a.correct, b.correct)
        pairs.append(
            [
                f"{a.run_id} vs {b.run_id}",
                _pct(a.correct.mean() - b.correct.mean()),
                f"[{_pct(low)}, {_pct(high)}]",
                only_a,
                only_b,
                float(f"{p:.3g}"),
            ]
        )
    pair_frame = pd.DataFrame(
        pairs, columns=["runs", "gap (pt)", "95% interval (pt)", "only first right", "only second right", "McNemar p"]
    )

    wrong = np.stack([~r.correct for r in runs]).sum(0)
    answers = np.stack([r.pred for r in runs])
    disagree = (answers != answers[0]).any(0)
    keep = {"disagree": disagree if len(runs) > 1 else wrong > 0, "any": wrong > 0, "all": wrong == len(runs)}[show]
    order = sorted(np.flatnonzero(keep), key=lambda i: (-wrong[i], i))  # the sentences most runs miss first
    sentences = pd.DataFrame(
        {
            "#": [i + 1 for i in order],
            "review": [texts[i] for i in order],
            "true label": [names[runs[0].label[i]] for i in order],
        }
    )
    for r in runs:  # an answer that is wrong says so, so a wide table still reads at a glance
        sentences[r.run_id] = [names[r.pred[i]] + ("" if r.correct[i] else " ✗") for i in order]

    counts = (
        f"at least one is wrong on {int(np.sum(wrong > 0)):,}, all are wrong on {int(np.sum(wrong == len(runs))):,}"
    )
    if len(runs) > 1:
        note = (
            f"{len(runs)} runs on the same {len(texts):,} test sentences: "
            f"they disagree on {int(disagree.sum()):,}, {counts}."
        )
        note += " A gap whose interval spans 0 is within this test set's noise."
    else:
        note = f"Run {runs[0].run_id} is wrong on {int(np.sum(wrong > 0)):,} of {len(texts):,} test sentences."
        if show == "disagree":
            note += " Pick a second run to see where they disagree."
    return Analysis(run_frame, pair_frame, sentences, note)
