"""What the tabs and the API endpoints call: jobs and predictions, with user errors as gr.Error."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path
from typing import NamedTuple

import gradio as gr

from sentiment_lab.runs.archive import export_run, import_run
from sentiment_lab.runs.hub import PushError, pull_run
from sentiment_lab.runs.pace import expected, finished_runs
from sentiment_lab.runs.paths import RunIdError
from sentiment_lab.runs.queue import JobError, JobManager
from sentiment_lab.runs.repeats import repeats
from sentiment_lab.serving.error_analysis import analyse, read_answers, same_test_set
from sentiment_lab.serving.predict import Predictor, ReviewError
from sentiment_lab.serving.review_batch import read_reviews, tables
from sentiment_lab.serving.word_influence import influence
from sentiment_lab.training import methods
from sentiment_lab.training.backbone import hub_reachable, is_local_model
from sentiment_lab.training.config import ConfigError, RunConfig, rate_warning
from sentiment_lab.training.data import DatasetError, load_dataset
from sentiment_lab.training.hub_urls import hub_id
from sentiment_lab.training.own_head import ON_ITS_HEAD, head_warning
from sentiment_lab.training.records import read_status
from sentiment_lab.training.sentence_cuts import cut_warning
from sentiment_lab.ui.access import DemoLimits
from sentiment_lab.ui.downloads import fresh
from sentiment_lab.ui.forms import dataset_note, every_method_configs, form_to_configs
from sentiment_lab.ui.names import display_names
from sentiment_lab.ui.uploads import as_uploaded, store_upload, uploaded_names

USER_ERRORS = (ConfigError, JobError, RunIdError, ReviewError, PushError, ValueError)


def user_errors(fn):
    """Turn a user-caused error into one clear message in the UI (gr.Error), never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as e:
            raise gr.Error(str(e), print_exception=False) from None

    return wrapper


def said_here(what: str, *cleared):
    """A user error, said in the handler's first output (the message beside its button) as `**what:** reason`,
    with its other outputs set to `cleared`: one message in one place, no toast, nothing stale left on screen.
    A callable in `cleared` is called then: a component made while the page is built would join its layout."""

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except USER_ERRORS as e:
                message = f"**{what}:** {e}"
                return (message, *(c() if callable(c) else c for c in cleared)) if cleared else message

        return wrapper

    return decorate


def check_dataset(configs: list[RunConfig]) -> list[str]:
    """Read the runs' data, columns included, before they are queued: a wrong path or column is said in the
    form at once, not minutes later at the front of the queue. Returns what may mislead their scores, and what
    their max lengths cut."""
    said = {}
    key = lambda c: (c.data.dataset, c.data.text_column, c.data.label_column)  # noqa: E731
    for cfg in {key(c): c for c in configs}.values():
        try:
            ds = load_dataset(cfg.data.dataset, cfg.data.text_column, cfg.data.label_column, cfg.seed)
        except DatasetError as e:
            raise ConfigError(str(e).splitlines()[0]) from None
        said.update(dict.fromkeys(ds.warnings))
        same = [c for c in configs if key(c) == key(cfg)]
        cuts = {(c.model, c.data.max_length, c.data.max_train_samples): c for c in same}  # one a model and length
        for each in cuts.values():
            said.update(dict.fromkeys(cut_warning(each, ds)))
        for each in {c.model: c for c in same if c.method in ON_ITS_HEAD}.values():  # one word per model
            said.update(dict.fromkeys(head_warning(each, ds)))
    return list(said)


class Queued(NamedTuple):
    ids: list[str]
    warnings: list[str]  # what the runs will do otherwise than asked, or what may mislead their scores
    expected: dict[str, float] | None = None  # {run id: seconds} where finished runs like it took that long here


class Services:
    """One per app: the job manager over the checkpoints folder and the prediction cache."""

    def __init__(self, root: Path | None = None, max_running: int | None = None, demo: DemoLimits | None = None):
        self.jobs = JobManager(root, max_running=max_running)
        self.predictor = Predictor(self.jobs)
        self.demo = demo
        self._labels = None  # (run folders, names, methods), see labels()

    def queue(self, configs: list, visitor: str | None = None, skip_unfit: bool = False) -> Queued:
        """Check every config (the demo limits, its model, its data) before queueing any of them. With
        `skip_unfit`, a method that cannot train the model is left out and said, if another method can."""
        if self.demo:
            active = [r for r in self.jobs.list() if r["state"] in ("queued", "running")]
            busy = len(active) + len(configs)
            mine = sum(r.get("owner") == visitor for r in active) + len(configs)
            configs = [self.demo.check(cfg, busy, mine, self.uploads) for cfg in configs]
        said, unfit = {}, {}  # each warning once: the five methods of one model share its length limit
        free = shutil.disk_usage(self.jobs.root).free
        for cfg in {(c.model, c.method, c.data.max_length): c for c in configs}.values():
            try:
                said.update(dict.fromkeys(methods.check(cfg, free)))
            except methods.MethodUnfit as e:
                if not skip_unfit:
                    raise
                unfit[cfg.model, cfg.method] = str(e)
        configs = [c for c in configs if (c.model, c.method) not in unfit]
        if not configs:
            raise ConfigError(next(iter(unfit.values())))
        said.update(dict.fromkeys(check_dataset(configs)))
        said.update(dict.fromkeys(w for cfg in configs for w in rate_warning(cfg)))
        said.update(dict.fromkeys(f"not queued: {why}" for why in unfit.values()))
        said.update(dict.fromkeys(repeats(self.jobs, configs, self.names())))  # before the new runs join the list
        ids = [self.jobs.submit(cfg, owner=visitor) for cfg in configs]
        return Queued(ids, list(said), expected(self.jobs, dict(zip(ids, configs))))

    def queue_as_demo(self, form: dict) -> list[str]:
        """Queue the app's own run (the demo's start), outside the visitors' limits."""
        configs = form_to_configs(form)
        configs = [self.demo.check(cfg, busy=0) if self.demo else cfg for cfg in configs]
        return [self.jobs.submit(cfg) for cfg in configs]

    def labels(self) -> tuple[dict[str, str], dict[str, str | None]]:
        """({run id: display name}, {run id: method}) of every run. Neither changes once a run is submitted,
        so they are read again only when the set of run folders changes, not on every timer tick."""
        key = tuple(sorted(f.name for f in self.jobs.folders()))
        if self._labels is None or self._labels[0] != key:
            rows = self.jobs.list()
            self._labels = (key, display_names(rows), {r["id"]: r.get("method") for r in rows})
        return self._labels[1], self._labels[2]

    def names(self) -> dict[str, str]:
        """{run id: display name} of every run."""
        return self.labels()[0]

    def name_of(self, run_id: str | None) -> str:
        return self.names().get(run_id, run_id or "")

    def _check_owner(self, run_id: str, visitor: str | None, action: str) -> None:
        """In the public demo a visitor acts only on the runs they started."""
        if self.demo and read_status(self.jobs.folder(run_id)).get("owner") != visitor:
            raise JobError(f"demo mode: only whoever started run {run_id} can {action} it")

    def stop(self, run_id: str | None, visitor: str | None = None) -> str:
        if not run_id:
            raise JobError("choose a run first")
        self._check_owner(run_id, visitor, "stop")
        return self.jobs.stop(run_id)

    def resume(self, run_id: str | None, visitor: str | None = None) -> str:
        if not run_id:
            raise JobError("choose a run first")
        self._check_owner(run_id, visitor, "resume")
        result = self.jobs.resume(run_id)
        self.predictor.forget(run_id)  # its weights will change: never answer with the stopped ones
        return result

    def delete(self, run_id: str | None, visitor: str | None = None) -> str:
        if not run_id:
            raise JobError("choose a run first")
        self._check_owner(run_id, visitor, "delete")
        result = self.jobs.delete(run_id)
        self.predictor.forget(run_id)
        return result

    def export(self, run_id: str | None) -> str:
        """A zip of a finished run in this machine's temp folder (older exports there are cleared)."""
        if not run_id:
            raise JobError("choose a run first")
        return str(export_run(self.jobs, run_id, fresh("run", "")))  # a folder of its own: the zip keeps the run's name

    def copy_note(self, run_id: str) -> str:
        """What a copy of a run (its zip, its Hub repository) needs that it does not carry: a base model that is
        a folder of this machine. A full run's weights are a whole model, so it needs none."""
        try:
            cfg = RunConfig.load(self.jobs.folder(run_id) / "config.json")
        except (OSError, ValueError, JobError):
            return ""
        if cfg.method == "full" or not is_local_model(cfg.model):
            return ""
        return (
            f"its base model is the local folder {cfg.model!r}, which the copy does not carry: it answers only "
            "where that folder exists at that path"
        )

    def import_archive(self, path: str | None) -> str:
        """A run archive (zip) becomes a finished run; returns its id."""
        if not path:
            raise JobError("choose a run archive (.zip) first")
        if self.demo:
            raise JobError("demo mode: importing runs is off")
        return import_run(self.jobs, path)

    def pull(self, repo_id: str | None, token: str | None = None) -> str:

        if self.demo:
            raise JobError("demo mode: pulling runs in is off")
        return pull_run(self.jobs, repo_id or "", token)

    @property
    def uploads(self) -> Path:
        """Where uploaded tables are kept, under our own names."""
        return self.jobs.root / ".uploads"

    def may_read(self, dataset: str, upload: str | list[str] | None) -> bool:
        """Whether the form may read this data before a run is queued: in the demo, only what a visitor may train on."""
        return not self.demo or bool(upload) or self.demo.may_read(dataset, self.uploads)

    @functools.cached_property
    def hub_online(self) -> bool:
        return hub_reachable()

    def stored_upload(self, upload: str | list[str] | None) -> str | None:
        """Where an upload (a table, or one per split) is kept for runs to read; ConfigError names a bad one."""
        return store_upload(upload, self.uploads)

    def upload_to_read(self, upload: str | list[str] | None) -> str | None:
        """What the form reads of an upload before a run is queued: the file as uploaded, or the stored folder that
        split files make (stored only once there are several)."""
        files = [upload] if isinstance(upload, str) else list(upload or [])
        return files[0] if len(files) == 1 else self.stored_upload(files)

    def _queue_form(self, form: dict, upload, configs_of, visitor: str | None, skip_unfit: bool = False) -> Queued:
        """Queue the runs `configs_of` makes of the form, its dataset replaced by the stored copy of an upload, if
        any; what is said of that copy names the files as uploaded."""
        stored = self.stored_upload(upload)
        if not stored:
            return self.queue(configs_of(dict(form)), visitor, skip_unfit)
        names = uploaded_names(upload, stored)
        try:
            done = self.queue(configs_of({**form, "dataset": stored}), visitor, skip_unfit)
        except ConfigError as e:
            raise ConfigError(as_uploaded(str(e), names)) from None
        return done._replace(warnings=[as_uploaded(w, names) for w in done.warnings])

    def submit(self, form: dict, upload: str | list[str] | None = None, visitor: str | None = None) -> Queued:
        """Validate a Train-tab form (and an optional upload) and queue its run, one per learning rate and seed
        listed."""
        return self._queue_form(form, upload, form_to_configs, visitor)

    def submit_all(self, form: dict, upload: str | list[str] | None = None, visitor: str | None = None) -> Queued:
        """One run of each method with the same data and budget (for each seed listed); a method that cannot
        train the model is left out and said, so the others still run."""
        return self._queue_form(form, upload, every_method_configs, visitor, skip_unfit=True)

    def note_for(self, dataset: str) -> str:
        return dataset_note(hub_id(dataset, "dataset"), self.hub_online)

    def results(self) -> list[tuple[str, dict]]:
        """Finished runs' results.json, each read once (JobManager.final_result): the Curves tab asks for all of
        them every 5 s, twice."""
        return self.jobs.finished()

    def results_with_configs(self) -> list[tuple[str, dict, "RunConfig"]]:
        """Finished runs' results with the config each ran with (a run whose config cannot be read is left out)."""
        return finished_runs(self.jobs)

    def tested_runs(self) -> list[str]:
        """Finished runs whose test answers were saved: the ones the test-set view can read."""
        return [run_id for run_id, _ in self.results() if (self.jobs.folder(run_id) / "test_predictions.json").exists()]

    def test_errors(self, run_ids: list[str] | None, show: str = "disagree"):
        """Where the picked runs go wrong on their shared test set (an error_analysis.Analysis)."""
        runs = [read_answers(run_id, self.jobs.folder(run_id)) for run_id in run_ids or []]
        return analyse(runs, same_test_set(runs), show)

    def compare(self, review: str, picks: dict[str, str | None] | None = None) -> list[dict]:
        rows = self.predictor.predict(review, self.predictor.answering_runs(picks))
        self._say_training({r["method"]: r for r in rows})
        return rows

    def _say_training(self, answers: dict[str, dict]) -> dict[str, dict]:
        """A method that has no finished run says what its newest queued or running run is doing, if any."""
        if any("error" in a and not a.get("run") for a in answers.values()):
            training = self._training_by_method()
            for method, answer in answers.items():
                if "error" in answer and not answer.get("run") and method in training:
                    answer["error"] = training[method]
        return answers

    def _training_by_method(self) -> dict[str, str]:
        """For a method with no finished run: what its newest queued or running run is doing."""
        out = {}
        for r in self.jobs.list():  # newest first
            method = r.get("method")
            if method in out or r["state"] not in ("queued", "running"):
                continue
            if r["state"] == "queued":
                out[method] = "queued to train: it answers here once trained"
            else:
                total = r.get("total_steps")
                progress = f" (step {r.get('step') or 0} of {total})" if total else ""
                out[method] = f"training now{progress}: it answers here once done"
        return out

    def explain(self, review: str, picks: dict[str, str | None] | None = None) -> dict[str, dict]:
        """Each method's pull of every word of the review (word_influence.influence)."""
        return self._say_training(influence(self.predictor, review, self.predictor.answering_runs(picks)))

    def compare_many(self, path: str | None, typed: str | None, picks: dict[str, str | None] | None = None):
        """(one line per method, one line per review, a sentence on where they disagree) for many reviews."""
        texts, gold = read_reviews(path, typed)
        answers = self.predictor.predict_many(texts, self.predictor.answering_runs(picks))
        return tables(texts, gold, self._say_training(answers))
