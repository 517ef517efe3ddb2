"""Load finished runs and predict one review with all of them at once.

SVM, freeze, LoRA and adapters all sit on the same frozen encoder: one copy in memory per
backbone serves them all (shared_encoder.py), so five loaded methods cost little more than one
model. Only full fine-tuning keeps its own weights.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from sentiment_lab.runs.queue import JobManager
from sentiment_lab.serving.fair_lock import FairLock
from sentiment_lab.storage import read_json
from sentiment_lab.training import methods
from sentiment_lab.training.backbone import (
    ModelLoadError,
    length_cut,
    load_config,
    load_encoder,
    load_tokenizer,
    token_limit,
)
from sentiment_lab.training.config import METHODS, ConfigError, RunConfig
from sentiment_lab.training.device import cpu_has_native_bf16
from sentiment_lab.training.features import last_hidden, pool
from sentiment_lab.training.records import read_results, read_status

MAX_REVIEW_CHARS = 5000


def positive_index(labels: list[str]) -> int | None:
    """The positive class: a 'pos' / 'positive' label, else the second of two (1 of 0 / 1); None among more
    classes, none of them named so (1 to 5 stars; bad, good, okay), where the last is no more positive than another."""
    names = [str(n).lower() for n in labels]
    found = next((names.index(n) for n in ("pos", "positive") if n in names), None)
    return found if found is not None or len(labels) != 2 else 1


def p_positive(probabilities: dict[str, float]) -> float | None:
    """P(the positive class), from {label: probability}; None where no class is the positive one."""
    k = positive_index(list(probabilities))
    return None if k is None else list(probabilities.values())[k]


class ScoresOnTest(NamedTuple):
    """How far to trust a run's answers: its test accuracy, what always answering its test set's commonest
    class scores there, and how many of its test split's sentences it was scored on (None: not saved)."""

    accuracy: float | None
    chance: float | None
    sentences: int | None = None
    split: int | None = None


def scores_on_test(folder: Path, results: dict | None = None) -> ScoresOnTest:
    """A run's test scores (ScoresOnTest) from its results and the answers it saved."""
    results = (read_results(folder) or {}) if results is None else results
    labels = (read_json(folder / "test_predictions.json") or {}).get("label")
    chance = float(np.bincount(labels).max() / len(labels)) if labels else None
    accuracy = (results.get("test") or {}).get("accuracy")
    return ScoresOnTest(accuracy, chance, results.get("test_sentences"), results.get("test_split"))


class ReviewError(ValueError):
    pass


def check_review(text) -> str:
    """The review as the models will read it, or one clear error."""
    if not isinstance(text, str):
        raise ReviewError("the review must be text")
    text = text.replace("\x00", "").strip()
    if not text:
        raise ReviewError("the review is empty: type a sentence to classify")
    if len(text) > MAX_REVIEW_CHARS:
        raise ReviewError(f"the review is {len(text):,} characters; at most {MAX_REVIEW_CHARS:,} are accepted")
    return text


def BF16():
    return torch.autocast("cpu", dtype=torch.bfloat16)


FP32 = contextlib.nullcontext
CALIBRATION_REVIEW = "Not the best movie of the year, but the cast is charming enough to carry it."


def _broken(run_id: str, error: Exception) -> dict:
    # A ModelLoadError's message is written for the user; another error's type says what kind of fault it is.
    kind = "" if isinstance(error, ModelLoadError) else f"{type(error).__name__}: "
    return {
        "run": run_id,
        "error": f"run {run_id} could not be used: {kind}{str(error).splitlines()[0][:200]}",
    }


class Predictor:
    """Caches loaded runs; thread-safe; each prediction reports its own latency."""

    def __init__(self, jobs: JobManager):
        self.jobs = jobs
        self.lock = FairLock()  # per batch, first come first served: long jobs let short compares in between
        self.encoders: dict[str, torch.nn.Module] = {}
        self.tokenizers: dict[str, object] = {}
        self.limits: dict[str, int | None] = {}  # model -> the most tokens it reads
        # run -> (when it ended, (model, tokenizer, config, labels), its ScoresOnTest)
        self.models: dict[str, tuple] = {}
        self.methods: dict[str, tuple[str, bool]] = {}  # run id -> (method, learned); a finished run never changes
        self.one_review_in_bf16: bool | None = None  # measured on first use (_precision)
        self.fp32_runs: set[str] = set()  # runs whose model fails under bf16 autocast (X-MOD's index writes)

    def latest_runs(self) -> dict[str, str | None]:
        """The most recent finished run of each method trained here, passing over runs that did not learn (they
        answer one class whatever the review) and imported or pulled runs (they answer only when picked) unless
        a method has nothing else."""
        latest: dict[str, tuple[bool, bool, float, str]] = {}
        for folder in self.jobs.folders():
            st = read_status(folder)
            if st.get("state") != "done" or not (folder / "artefacts").is_dir():
                continue
            if folder.name not in self.methods:
                learned = not (read_results(folder) or {}).get("warning")
                self.methods[folder.name] = (RunConfig.load(folder / "config.json").method, learned)
            method, learned = self.methods[folder.name]
            key = (learned, not st.get("imported_from"), st.get("finished") or 0, folder.name)
            if method not in latest or key > latest[method]:
                latest[method] = key
        return {m: latest[m][-1] if m in latest else None for m in METHODS}

    def scores_on_test(self, run_id: str) -> ScoresOnTest:
        """The run's test scores: how far to trust its answers. Read with its model."""
        cached = self.models.get(run_id)
        return scores_on_test(self.jobs.folder(run_id)) if cached is None else cached[2]

    def answering_runs(self, picks: dict[str, str | None] | None = None) -> dict[str, str | None]:
        """Each method's latest finished run, or the one picked for it."""
        runs = self.latest_runs()
        for method, run_id in (picks or {}).items():
            if method not in runs:
                raise ConfigError(f"unknown method {method!r}: one of {', '.join(METHODS)}")
            if run_id:
                runs[method] = run_id
        return runs

    def forget(self, run_id: str) -> None:
        """Drop a deleted run's loaded model (the shared encoder stays for the other runs)."""
        with self.lock:
            self.models.pop(run_id, None)
            self.methods.pop(run_id, None)

    def _precision(self, batch: int, run_id: str):
        """The autocast for a batch: fp32 where the CPU lacks native bf16; bf16 for several reviews, where it
        is faster; for one review whichever this CPU runs faster, timed once per process on `run_id`'s model,
        since hosts with the same bf16 flags differ there (`python -m bench.compare` measures both)."""
        if not cpu_has_native_bf16():
            return FP32()
        if batch > 1:
            return BF16()
        if self.one_review_in_bf16 is None:
            timings = {"bf16": [], "fp32": []}
            try:
                for _ in range(2):  # interleaved rounds: a busy moment does not favour one precision
                    for name, precision in (("bf16", BF16), ("fp32", FP32)):
                        with precision():
                            for _ in range(5):
                                started = time.perf_counter()
                                self._answer(run_id, [CALIBRATION_REVIEW], {})
                                timings[name].append(time.perf_counter() - started)
            except Exception:  # a broken run: predict_many reports it; measure on another next time
                return BF16()
            self.one_review_in_bf16 = min(timings["bf16"][1:]) < min(timings["fp32"][1:])
        return BF16() if self.one_review_in_bf16 else FP32()

    def _encoder(self, model_name: str):
        if model_name not in self.encoders:
            self.encoders[model_name] = load_encoder(model_name).eval().requires_grad_(False)
        return self.encoders[model_name]

    def _length(self, cfg: RunConfig, tokenizer) -> int:
        """The run's max length, cut to what its model reads (as its training cut it)."""
        if cfg.model not in self.limits:
            self.limits[cfg.model] = token_limit(tokenizer, load_config(cfg.model))
        return length_cut(cfg.data.max_length, cfg.model, self.limits[cfg.model])[0]

    def _tokenizer(self, model_name: str):
        if model_name not in self.tokenizers:
            self.tokenizers[model_name] = load_tokenizer(model_name)
        return self.tokenizers[model_name]

    def load(self, run_id: str):
        """(model, tokenizer, config, label names) of a finished run, loaded once per ending (a run
        resumed elsewhere, by the jobs CLI say, ends again with other weights)."""
        folder = self.jobs.folder(run_id)
        ended = read_status(folder).get("finished")
        if run_id in self.models and self.models[run_id][0] == ended:
            return self.models[run_id][1]
        cfg = RunConfig.load(folder / "config.json")
        results = read_results(folder) or {}
        labels = results.get("labels")
        artefacts = folder / "artefacts"
        if not labels or not artefacts.is_dir():
            raise FileNotFoundError(f"run {run_id} has no saved model (artefacts or results.json missing)")
        id2label = dict(enumerate(labels))
        method = methods.get(cfg.method)
        encoder = self._encoder(cfg.model) if method.SHARES_ENCODER else None
        model = method.load(artefacts, cfg, id2label, encoder=encoder).eval().requires_grad_(False)
        entry = (model, self._tokenizer(cfg.model), cfg, labels)
        self.models[run_id] = (ended, entry, scores_on_test(folder, results))
        return entry

    def _loaded(self, run_id: str):
        """A run's entry as this request's first turn loaded (and checked) it; loaded again if forgotten since."""
        cached = self.models.get(run_id)
        return cached[1] if cached is not None else self.load(run_id)

    def _answer(self, run_id: str, texts: list[str], shared: dict) -> tuple[list[list[float]], list[str]]:
        """One run's class probabilities for `texts` (padded as one batch), and its label names. `shared`
        holds this batch's encoder states: SVM and freeze on one encoder read them from one pass, each pooling its own
        way."""
        model, tok, cfg, labels = self._loaded(run_id)
        length = self._length(cfg, tok)
        enc = tok(texts, truncation=True, max_length=length, padding=True, return_tensors="pt")
        method, features = methods.get(cfg.method), None
        if method.INPUT == "features":
            key = (id(model.encoder), id(tok), length)
            if key not in shared:
                shared[key] = last_hidden(model.encoder, enc["input_ids"], enc["attention_mask"])
            features = pool(shared[key], enc["attention_mask"], model.pooling)
        logits = method.logits(model, enc["input_ids"], enc["attention_mask"], features)
        return logits.float().softmax(-1).tolist(), labels

    def _answer_in_any_precision(self, run_id: str, texts: list[str], shared: dict):
        """`_answer`, in fp32 for a model that fails under bf16 autocast (remembered, so it fails once)."""
        if run_id not in self.fp32_runs:
            try:
                return self._answer(run_id, texts, shared)
            except RuntimeError:
                if not torch.is_autocast_enabled("cpu"):
                    raise
                self.fp32_runs.add(run_id)
        with torch.autocast("cpu", enabled=False):
            return self._answer(run_id, texts, {})  # the batch's shared encoder states are bf16 ones

    @torch.inference_mode()
    def predict_many(
        self, texts: list[str], runs: dict[str, str | None], batch_size: int = 32, one_precision: bool = False
    ) -> dict[str, dict]:
        """Every method's answers for checked `texts`: {method: {run, labels, probabilities (one list per
        text, in order), ms answering, load_ms loading (0 once loaded), dataset}} or {method: {run, error}}. One
        broken run never silences the others.

        Args:
            one_precision: every batch in the precision chosen for all the texts together (a last batch
                of one would otherwise get one review's): answers meant to be subtracted from each other.
        """
        answers = {}
        for method in METHODS:
            run_id = runs.get(method)
            answers[method] = (
                {"run": run_id, "probabilities": [None] * len(texts), "ms": 0.0}
                if run_id
                else {"run": None, "error": f"no finished {method} run yet: train one in the Train tab"}
            )
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # like lengths together: little padding
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            shared: dict[tuple, tuple[torch.Tensor, ...]] = {}  # encoder states per (encoder, tokenizer, length)
            # The lock per batch, so a long list does not hold up one-review compares; the models load in
            # the first batch's turn, so a compare waits behind a long job for one of its batches, not two.
            with self.lock:
                if start == 0:
                    self._load_all(answers)
                first = next((a["run"] for a in answers.values() if "error" not in a), None)
                if first is None:
                    break
                with self._precision(len(texts) if one_precision else len(idx), first):
                    for method, answer in answers.items():
                        if "error" in answer:
                            continue
                        run_id, started = answer["run"], time.perf_counter()
                        try:
                            probs, answer["labels"] = self._answer_in_any_precision(
                                run_id, [texts[i] for i in idx], shared
                            )
                        except Exception as e:
                            self.models.pop(run_id, None)
                            answers[method] = _broken(run_id, e)
                            continue
                        for i, p in zip(idx, probs):
                            answer["probabilities"][i] = p
                        answer["ms"] += (time.perf_counter() - started) * 1000
        return answers

    def _load_all(self, answers: dict) -> None:
        """Load each answering run (under the lock): "load_ms" is a first use's wait, "ms" answering."""
        for method, answer in answers.items():
            if "error" in answer:
                continue
            started = time.perf_counter()
            try:
                cfg = self.load(answer["run"])[2]
            except Exception as e:
                answers[method] = _broken(answer["run"], e)
                continue
            answer["load_ms"] = (time.perf_counter() - started) * 1000
            answer["dataset"] = cfg.data.dataset  # what it learned from: answers of runs on other data differ

    def predict(self, text: str, runs: dict[str, str | None]) -> list[dict]:
        """One row per method: label, its probability, every class probability, milliseconds answering
        and loading (0 once loaded), its run's test scores and dataset, or an error."""
        rows = []
        for method, answer in self.predict_many([check_review(text)], runs).items():
            row = {"method": method, "run": answer["run"]}
            if "error" in answer:
                row["error"] = answer["error"]
            else:
                probs, labels = answer["probabilities"][0], answer["labels"]
                best = max(range(len(probs)), key=probs.__getitem__)
                scores = self.scores_on_test(answer["run"])
                row.update(
                    label=labels[best],
                    probability=probs[best],
                    probabilities=dict(zip(labels, probs)),
                    ms=answer["ms"],
                    load_ms=answer["load_ms"],
                    test_accuracy=scores.accuracy,
                    chance=scores.chance,
                    test_sentences=scores.sentences,
                    test_split=scores.split,
                    dataset=answer["dataset"],
                )
            rows.append(row)
        return rows
