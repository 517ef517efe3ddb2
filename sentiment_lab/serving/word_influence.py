"""Which words moved each method's answer: the review scored again with each word left out in turn.
The same for the SVM and all four fine-tuned kinds, and each number is the difference of two real
predictions (not a gradient's local guess); one batch through all five. No Gradio."""

from __future__ import annotations

import math

from sentiment_lab.serving.predict import ReviewError, check_review, positive_index

MAX_WORDS = 120  # 121 sentences through all five: about 3 s on 2 cores


def log_odds(p: float) -> float:
    """Differences in probability vanish for a confident answer (0.996 -> 0.990 for the review's best
    word): in log-odds the same change reads 5.5 -> 4.6, comparable with an unsure answer's."""
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def without_each(words: list[str]) -> list[str]:
    return [" ".join(words[:i] + words[i + 1 :]) for i in range(len(words))]


def influence(predictor, review: str, runs: dict[str, str | None]) -> dict[str, dict]:
    """{method: {run, toward (the class explained), answered (whether it is the one answered, none being the
    positive one), probability (of it, for the whole review), words: [(word,
    how much leaving it out lowers that class's log-odds, the probability without it)]}} or {method: {run,
    error}}. A positive pull: the word pulls toward the class; negative: away from it."""
    review = check_review(review)
    words = review.split()
    if len(words) > MAX_WORDS:
        raise ReviewError(f"the review has {len(words):,} words; word influence is computed for up to {MAX_WORDS}")
    texts = [review] + without_each(words)
    # Batches of 32 (the lock is taken per batch, so a one-review compare waits for one batch, not all
    # the sentences), every one in the same precision: the pulls are differences of answers.
    answers = predictor.predict_many(texts, runs, batch_size=32, one_precision=True)
    out = {}
    for method, answer in answers.items():
        if "error" in answer:
            out[method] = {"run": answer["run"], "error": answer["error"]}
            continue
        k = positive_index(answer["labels"])
        answered = k is None  # no class is the positive one: explain the class the method answers
        if answered:
            whole = answer["probabilities"][0]
            k = max(range(len(whole)), key=whole.__getitem__)
        p = [probs[k] for probs in answer["probabilities"]]
        out[method] = {
            "run": answer["run"],
            "toward": answer["labels"][k],
            "answered": answered,
            "probability": p[0],
            "words": [(word, log_odds(p[0]) - log_odds(p[i + 1]), p[i + 1]) for i, word in enumerate(words)],
            "ms": answer["ms"],
        }
    return out
