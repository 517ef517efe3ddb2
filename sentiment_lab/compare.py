"""The Compare tab from a command line: one review (or many) through every method's finished run.

python -m sentiment_lab.compare "a gorgeous, moving film"            # each method's label
python -m sentiment_lab.compare "not bad, just dull" --words          # and each word's pull
python -m sentiment_lab.compare --file reviews.csv --csv answers.csv  # many (a text column, maybe label)
python -m sentiment_lab.compare "..." --run lora=RUN_ID               # a chosen run instead of the latest
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from sentiment_lab.runs.paths import RunIdError
from sentiment_lab.runs.queue import JobError, JobManager
from sentiment_lab.serving.predict import Predictor, ReviewError, p_positive
from sentiment_lab.serving.review_batch import loading_note, read_reviews, tables
from sentiment_lab.serving.review_notes import review_notes
from sentiment_lab.serving.run_notes import data_note, part_note
from sentiment_lab.serving.word_influence import influence
from sentiment_lab.storage import os_message, reader_gone
from sentiment_lab.training.config import ConfigError


def _picks(items: list[str]) -> dict[str, str]:
    picks = {}
    for item in items:
        method, sep, run_id = item.partition("=")
        if not sep or not run_id:
            raise ConfigError(f"--run takes METHOD=RUN_ID, got {item!r}")
        picks[method.strip()] = run_id.strip()
    return picks


def _one(predictor: Predictor, review: str, runs: dict, words: bool) -> None:
    rows = predictor.predict(review, runs)
    missing = [r["method"] for r in rows if r.get("run") is None]
    frame = pd.DataFrame(
        [
            [
                r["method"],
                r.get("label", "—"),
                round(r["probability"], 3) if "probability" in r else "",
                round(p, 3) if "probabilities" in r and (p := p_positive(r["probabilities"])) is not None else "",
                round(r["test_accuracy"], 3) if r.get("test_accuracy") else "",
                round(r["ms"], 1) if "ms" in r else "",
                f"no finished {r['method']} run yet" if r["method"] in missing else r.get("error") or r["run"],
            ]
            for r in rows
        ],
        columns=["method", "label", "confidence in label", "P(positive)", "test acc", "ms", "run"],
    )
    print(frame.to_string(index=False))
    if missing:
        print(f"note: `python -m sentiment_lab.jobs submit --method METHOD` trains a run for {', '.join(missing)}")
    answered = [r for r in rows if "error" not in r]
    for note in [data_note(answered), part_note(answered), *review_notes(review)]:
        if note:
            print(f"note: {note}")
    if loading_note(rows):
        print(loading_note(rows).strip())
    if words:
        for method, r in influence(predictor, review, runs).items():
            if "words" in r:
                pulls = " ".join(f"{w}({d:+.1f})" for w, d, _ in r["words"])
                print(f"{method}: P({r['toward']}) {r['probability']:.3f}; each word's pull in log-odds: {pulls}")


def _many(predictor: Predictor, path: str | None, typed: list[str], runs: dict, csv: str | None) -> None:

    texts, gold = read_reviews(path, "\n".join(typed))
    summary, per_review, note = tables(texts, gold, predictor.predict_many(texts, runs))
    print(summary.to_string(index=False), "", note, sep="\n")
    if csv:
        per_review.to_csv(csv, index=False)
        print(f"{len(per_review):,} reviews written to {csv}")
    else:
        print(per_review.head(20).to_string(index=False, max_colwidth=60))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sentiment_lab.compare",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("reviews", nargs="*", help="one or more reviews (quote each)")
    parser.add_argument(
        "--file", help="CSV / TSV / JSON / parquet / text file of reviews (a text, review or sentence column)"
    )
    parser.add_argument(
        "--run", action="append", default=[], metavar="METHOD=RUN_ID", help="answer with this run for METHOD"
    )
    parser.add_argument("--words", action="store_true", help="one review: how much each word pulls each method")
    parser.add_argument("--csv", help="many reviews: write each review's answers to this CSV")
    args = parser.parse_args(argv)
    if not args.reviews and not args.file:
        parser.error("give a review (quoted), several, or --file")
    predictor = Predictor(JobManager())
    try:
        runs = predictor.answering_runs(_picks(args.run))
        if len(args.reviews) == 1 and not args.file:
            _one(predictor, args.reviews[0], runs, args.words)
        elif args.words:
            raise ReviewError("--words explains one review at a time")
        else:
            _many(predictor, args.file, args.reviews, runs, args.csv)
    except (ConfigError, JobError, RunIdError, ValueError) as e:  # ReviewError and unreadable files are ValueErrors
        print(f"error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return reader_gone()
    except OSError as e:  # --csv where nothing can be written
        print(f"error: {os_message(e)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
