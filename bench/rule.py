"""The rule a variant must meet to become a default: `python -m bench.rule TEXTBOOK VARIANT [--method M]`.

TEXTBOOK and VARIANT are `--out` folders of `python -m bench.accuracy` (runs named `<method>-s<seed>-e<epochs>`),
trained at whatever commits each needed. On the seeds both hold, for each: the means of the kept validation
accuracy, the lowest validation loss, the validation accuracy averaged over the run's evaluations and the test
accuracy; then the variant's gain in kept validation accuracy, its paired t-test p over those seeds and in how many
seeds it is ahead. The verdict is README's rule ("Defaults: the textbook methods"): at least +0.5 pt over at least
ten seeds with p < 0.05. Test accuracy is printed, never used for the verdict.

A method whose runs give the same validation answers for every seed (the SVM) has no noise between seeds to test
against: where both sides do, p is the exact McNemar test over the validation sentences' paired answers instead
(docs/experiments.md, "The SVM on [CLS]").
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

from bench.accuracy import paired_over_seeds
from bench.common import table, write_json
from bench.sweep import measures
from sentiment_lab.serving.significance import mcnemar
from sentiment_lab.storage import read_json

MIN_GAIN, MAX_P, MIN_SEEDS = 0.005, 0.05, 10  # README's rule, fixed before any run


def run_folders(folder: Path, method: str) -> dict[int, Path]:
    """{seed: run folder} of the finished runs of `method` in a bench.accuracy folder."""
    out = {}
    for run in sorted(folder.glob(f"{method}-s*-e*")):
        seed = re.fullmatch(rf"{re.escape(method)}-s(\d+)-e[^-]+", run.name)
        if seed and (run / "results.json").is_file():
            out[int(seed.group(1))] = run
    return out


def by_seed(folder: Path, method: str) -> dict[int, dict]:
    """{seed: measures} of the finished runs of `method` in a bench.accuracy folder."""
    return {seed: measures(run) for seed, run in run_folders(folder, method).items()}


def seed_free_answers(folder: Path, method: str, seeds: list[int]) -> dict | None:
    """The validation answers and labels of these seeds' runs when every one gave the same answers; else None."""
    runs = run_folders(folder, method)
    saved = [read_json(runs[seed] / "validation_predictions.json") if seed in runs else None for seed in seeds]
    if not seeds or any(not s for s in saved) or any(s != saved[0] for s in saved):
        return None
    return saved[0]


def verdict(
    textbook: dict[int, dict], variant: dict[int, dict], sentences: tuple[np.ndarray, np.ndarray] | None = None
) -> dict:
    """The rule on the seeds both hold; `sentences` (variant's and textbook's right answers), given when neither
    side's answers change with the seed, puts the McNemar test over those sentences in place of the t-test."""
    seeds = sorted(set(textbook) & set(variant))
    a, b = [variant[s]["val"] for s in seeds], [textbook[s]["val"] for s in seeds]
    gain, p = paired_over_seeds(a, b) if seeds else (float("nan"), float("nan"))
    test = "paired t-test over seeds"
    if sentences is not None:
        p, test = mcnemar(*sentences)[2], f"exact McNemar test over {len(sentences[0]):,} validation sentences"
    meets = len(seeds) >= MIN_SEEDS and gain >= MIN_GAIN and p < MAX_P
    return {
        "seeds": seeds,
        "gain": gain,
        "p": p,
        "test": test,
        "ahead": sum(x > y for x, y in zip(a, b)),
        "meets": bool(meets),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("textbook", type=Path, help="bench.accuracy --out folder of the textbook method")
    parser.add_argument("variant", type=Path, help="bench.accuracy --out folder of the variant")
    parser.add_argument("--method", default="freeze")
    args = parser.parse_args(argv)
    folders = {"textbook": args.textbook, "variant": args.variant}
    runs = {name: by_seed(folder, args.method) for name, folder in folders.items()}
    for name, folder in folders.items():
        if not runs[name]:
            parser.error(f"no finished {args.method} runs in {folder}")
    seeds = sorted(set(runs["textbook"]) & set(runs["variant"]))
    saved = [seed_free_answers(folder, args.method, seeds) for folder in (args.variant, args.textbook)]
    sentences = None
    if all(saved) and saved[0]["label"] == saved[1]["label"]:  # the same validation sentences, answered alike by seed
        sentences = tuple(np.asarray(s["pred"]) == np.asarray(s["label"]) for s in saved)
    v = verdict(runs["textbook"], runs["variant"], sentences)
    rows = []
    for name, folder in folders.items():
        same = [runs[name][s] for s in v["seeds"]]
        rows.append(
            [name, folder.name]
            + [f"{np.mean([r[k] for r in same]):.4f}" if same else "–" for k in ("val", "loss", "val_mean", "test")]
        )
    headers = ["", "runs", "val acc (kept)", "lowest val loss", "val mean of evals", "test acc"]
    print(table(rows, headers))
    print(
        f"seeds {','.join(map(str, v['seeds']))}: variant {100 * v['gain']:+.2f} pt kept validation accuracy, "
        f"p = {v['p']:.2g} ({v['test']}), ahead in {v['ahead']} of {len(v['seeds'])}"
    )
    write_json("rule", {"method": args.method, "folders": {k: str(f) for k, f in folders.items()}, **v, "runs": runs})
    print(
        f"verdict: the variant {'meets' if v['meets'] else 'does not meet'} the rule "
        f"(+{100 * MIN_GAIN:g} pt, p < {MAX_P:g}, {MIN_SEEDS} seeds or more)"
    )


if __name__ == "__main__":
    main()
