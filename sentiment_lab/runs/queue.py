"""Launch, queue, stop and list runs. No Gradio here: the app, the CLI and the workers all use it.

The queue is the run folders themselves: a run waits as `queued` until fewer than the allowed
number of runs are `running`; whoever is alive (the app, a CLI call, a finishing worker) starts
the next one, under a file lock so two processes never start the same run.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from sentiment_lab import REPO
from sentiment_lab.runs.launch import (
    gpu_split,
    launch_command,
    machine_gpus,
    whole_count,
    worker_env,
)
from sentiment_lab.runs.liveness import group_alive
from sentiment_lab.runs.paths import RunIdError, check_run_name, checkpoints_root, new_run_id, run_dir
from sentiment_lab.storage import read_json
from sentiment_lab.training.config import RunConfig
from sentiment_lab.training.records import FINAL, MetricsCursor, read_metrics, read_results, read_status, write_status
from sentiment_lab.training.state import has_state, room_for_next, saved_step

ENV_MAX_RUNS = "SENTIMENT_LAB_MAX_RUNS"
STOP_GRACE_S = 8.0
LOG_TAIL_LINES = 20


class JobError(ValueError):
    """A user-visible problem with a job request (unknown run, run already finished...)."""


def log_tail(folder: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with open(folder / "log.txt", "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    # tqdm redraws with \r: keep only the last state of each line
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.splitlines()[-lines:])


def run_slots(max_running: int | None = None) -> int:
    """Runs training at once: --max-runs, else SENTIMENT_LAB_MAX_RUNS, else 1; a bad count is one message."""
    if max_running is not None:
        return whole_count(max_running, "--max-runs")
    return whole_count(os.environ.get(ENV_MAX_RUNS) or 1, ENV_MAX_RUNS)


class JobManager:
    """Runs under one checkpoints folder. Several managers (app, CLI, workers) may share a folder."""

    def __init__(self, root: Path | None = None, max_running: int | None = None, launcher=launch_command):
        """Args:
        launcher: (run_id, folder, train_args, gpus=, runs=) -> argv of the worker (launch_command's
            arguments); tests swap in fake workers.
        """
        self.launcher = launcher
        self.root = Path(root) if root else checkpoints_root()
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_running = run_slots(max_running)
        self.children: dict[str, subprocess.Popen] = {}
        self.cursors: dict[str, MetricsCursor] = {}
        self.summaries: dict[str, dict] = {}
        self.final_results: dict[str, tuple] = {}  # (when it ended, results.json) of ended runs, read once

    # ---- queue -------------------------------------------------------------------------
    @contextmanager
    def _locked(self):
        with open(self.root / ".queue.lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def submit(self, cfg: RunConfig, train_args: list[str] | None = None, owner: str | None = None) -> str:
        """Create a queued run folder for `cfg` and start it if a slot is free; return its id.

        Args:
            cfg: a validated config: the form, the API and the command line validate what they take in, and
                the worker reads it back through RunConfig.load, which validates a file from disk.
            owner: an opaque visitor key (demo mode counts runs per visitor with it).
        """
        check_run_name(cfg.run_name)  # the folder it names stays inside the runs folder, whoever calls
        run_id = new_run_id(cfg.method, cfg.model, cfg.run_name)
        folder = run_dir(run_id, self.root)
        folder.mkdir()
        cfg.save(folder / "config.json")
        # The worker reads the config saved here, whole: a default changed while it waits does not reach it.
        write_status(
            folder,
            "queued",
            submitted=time.time(),
            owner=owner,
            args=train_args if train_args is not None else ["--config", str(folder / "config.json")],
        )
        self.advance()
        return run_id

    def advance(self) -> list[str]:
        """Mark dead runs failed, then start queued runs (oldest first) while slots are free."""
        self._reap_children()
        started = []
        with self._locked():
            statuses = {f.name: read_status(f) for f in self.folders()}
            running, taken = 0, set()  # the GPUs running runs have to themselves
            for run_id, st in statuses.items():
                if st.get("state") == "running":
                    if group_alive(st.get("pgid")):
                        running += 1
                        taken |= set(st.get("gpus") or [])
                    else:
                        self._mark_lost(run_id, st)
            queued = sorted((queued_at(st), rid) for rid, st in statuses.items() if st.get("state") == "queued")
            gpus = machine_gpus()
            for _, run_id in queued:
                if running >= self.max_running:
                    break
                own = gpu_split(run_dir(run_id, self.root), gpus, [g for g in gpus if g not in taken], self.max_running)
                if own is None:
                    break  # oldest first: it waits for GPUs to come free, and the runs after it with it
                taken |= set(own)
                self._start(run_id, statuses[run_id], own)
                running += 1
                started.append(run_id)
        return started

    def _start(self, run_id: str, status: dict, gpus: list[str]) -> None:
        """Start the run's worker; `gpus`, if any, are the GPUs it has to itself (the others hidden from it)."""
        folder = run_dir(run_id, self.root)
        args = list(status.get("args") or [])
        cmd = self.launcher(run_id, folder, args, gpus=gpus, runs=self.max_running)
        env = worker_env(
            {
                "SENTIMENT_LAB_CHECKPOINTS": str(self.root),
                ENV_MAX_RUNS: str(self.max_running),
                "PYTHONUNBUFFERED": "1",
                "TOKENIZERS_PARALLELISM": "false",
            }
            | ({"CUDA_VISIBLE_DEVICES": ",".join(gpus)} if gpus else {})
        )
        with open(folder / "log.txt", "ab") as log:
            proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=REPO,
                env=env,
                start_new_session=True,
            )
        self.children[run_id] = proc
        # The group id is the launcher's pid (new session); the worker inherits it.
        write_status(folder, "running", pid=proc.pid, pgid=proc.pid, started=time.time(), gpus=gpus)

    def _reap_children(self) -> None:
        for run_id, proc in list(self.children.items()):
            if proc.poll() is not None:
                del self.children[run_id]

    def _mark_lost(self, run_id: str, status: dict) -> None:
        folder = run_dir(run_id, self.root)
        tail = log_tail(folder)
        write_status(
            folder,
            "failed",
            error="the worker process ended without finishing (killed, out of memory or machine restart)"
            + (f"; log tail:\n{tail}" if tail else ""),
        )

    # ---- stop ---------------------------------------------------------------------------
    def stop(self, run_id: str, wait: bool = False, grace: float = STOP_GRACE_S) -> str:
        """Cancel a queued run or stop a running one: SIGTERM now, SIGKILL of the group after `grace`."""
        folder = self.folder(run_id)
        with self._locked():
            st = read_status(folder)
            state = st.get("state")
            if state == "queued" and has_state(folder):  # a resume waiting its turn: back to where it stopped
                step = saved_step(folder)
                where = f"step {step}" if step is not None else "its last saved state"
                now = time.time()  # no stretch of training to add: the time spent stays what it was
                write_status(folder, "stopped", started=now, finished=now, error=f"its resume was cancelled at {where}")
                return f"resume cancelled: the run stays stopped, and Resume goes on from {where}"
            if state == "queued":
                write_status(folder, "cancelled", error=None)
                return "cancelled"
            if state != "running":
                raise JobError(f"run {run_id} is {state or 'unknown'}, not running or queued")
            pgid = st.get("pgid")
            write_status(folder, "running", stop_requested=time.time())
        if group_alive(pgid):
            os.killpg(pgid, signal.SIGTERM)
        escalate = threading.Thread(target=self._escalate, args=(run_id, pgid, grace), daemon=True)
        escalate.start()
        if wait:
            escalate.join()
        return "stopping"

    def _escalate(self, run_id: str, pgid: int, grace: float) -> None:
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and group_alive(pgid):
            time.sleep(0.1)
            self._reap_children()
        killed = group_alive(pgid)
        if killed:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            while group_alive(pgid) and time.monotonic() < deadline + 5:
                time.sleep(0.05)
                self._reap_children()
        folder = run_dir(run_id, self.root)
        # A worker that ended on Stop without writing its state had not started training (or had not yet
        # set up its handler): nothing was lost. One that outlived the grace was killed.
        message = (
            (
                f"stopped by the user: the process did not end within {grace:g} s of Stop and was killed; Resume "
                "goes on "
                "from its last saved training state, if any"
            )
            if killed
            else "stopped by the user before training began: nothing to resume"
        )
        with self._locked():
            if read_status(folder).get("state") == "running":
                write_status(folder, "stopped", error=message)
        self.advance()

    # ---- resume -------------------------------------------------------------------------
    def resume(self, run_id: str) -> str:
        """Queue a stopped or failed run to go on from its saved training state (train_state.py)."""
        folder = self.folder(run_id)
        with self._locked():
            st = read_status(folder)
            state = st.get("state")
            if state not in ("stopped", "failed"):
                raise JobError(f"run {run_id} is {state or 'unknown'}: only a stopped or failed run can be resumed")
            if _read_config(folder).get("method") == "svm":
                raise JobError(
                    f"run {run_id} is an SVM: it fits in one go, so there is nothing to resume; train it again"
                )
            if not has_state(folder):
                raise JobError(
                    f"run {run_id} has no saved training state (it ended before its first evaluation): train it again"
                )
            args = [a for a in st.get("args") or [] if a != "--resume"] + ["--resume"]
            # The time it ran before: the run list shows time spent over all its stretches.
            before = (st.get("spent_before") or 0) + max(
                0, (st.get("finished") or 0) - (st.get("started") or st.get("finished") or 0)
            )
            write_status(
                folder,
                "queued",
                queued=time.time(),
                args=args,
                error=None,
                finished=None,
                started=None,
                stop_requested=None,
                pid=None,
                pgid=None,
                spent_before=before,
            )
        step = saved_step(folder)
        short = room_for_next(folder)
        self.advance()
        return (
            "queued to resume"
            + (f" from step {step}" if step is not None else " from its last saved state")
            + (f"; {short}" if short else "")
        )

    # ---- delete -------------------------------------------------------------------------
    def delete(self, run_id: str) -> str:
        """Remove an ended run (done, failed, stopped, cancelled) with its checkpoint and log."""
        folder = self.folder(run_id)
        with self._locked():
            state = read_status(folder).get("state")
            if state in ("queued", "running"):
                raise JobError(f"run {run_id} is {state}: {'cancel' if state == 'queued' else 'stop'} it first")
            if users := self.trained_from(folder):
                named = ", ".join(users[:3]) + (f" and {len(users) - 3} more" if len(users) > 3 else "")
                raise JobError(f"run {run_id} is the model runs {named} trained from: delete them first")
            # One rename under the queue lock: no listing, worker or reader ever sees half a run.
            # Hidden names are not runs (folders()), so a removal cut short leaves no run behind.
            trash = self.root / f".deleted-{run_id}-{secrets.token_hex(3)}"
            try:
                folder.rename(trash)
            except OSError as e:  # a read-only disk, say: the run stays whole
                raise JobError(f"run {run_id} could not be deleted: {e.strerror or e}") from None
        shutil.rmtree(trash, ignore_errors=True)
        for cache in (self.children, self.cursors, self.summaries, self.final_results):
            cache.pop(run_id, None)
        return "deleted"

    def trained_from(self, folder: Path) -> list[str]:
        """The runs whose model is this run's folder (a full run's weights, trained on): they load it to answer."""
        own = {folder.resolve(), (folder / "artefacts").resolve()}
        users = []
        for other in self.folders():
            model = read_json(other / "config.json", {}).get("model", "")
            if other != folder and Path(str(model)).expanduser().resolve() in own:
                users.append(other.name)
        return users

    def adopt(self, staging: Path, wanted: str, suffix: str) -> str:
        """Make a complete folder in this root (hidden while it was filled) a run: one rename under the
        queue lock, so listings see the whole run or none of it; a taken name gets `-<suffix>-xxxx`."""
        with self._locked():
            run_id = wanted
            while (self.root / run_id).exists():
                run_id = f"{wanted[:100]}-{suffix}-{secrets.token_hex(2)}"
            staging.rename(run_dir(run_id, self.root))
        return run_id

    # ---- reading ------------------------------------------------------------------------
    def folders(self) -> list[Path]:
        """Every run folder (hidden folders such as .uploads are not runs)."""
        return sorted(
            p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / "config.json").exists()
        )

    def folder(self, run_id: str) -> Path:
        """The folder of an existing run; JobError for an unknown or unsafe id."""
        try:
            folder = run_dir(run_id, self.root)
        except RunIdError as e:
            raise JobError(str(e)) from None
        if not (folder / "config.json").exists():
            raise JobError(f"no run named {run_id!r}")
        return folder

    def list(self) -> list[dict]:
        """Every run, newest first, with state, progress and best validation accuracy."""
        self.advance()
        rows = [self.describe(folder.name) for folder in self.folders()]
        rows.sort(key=lambda r: r.get("submitted") or 0, reverse=True)
        return rows

    def describe(self, run_id: str) -> dict:
        folder = self.folder(run_id)
        st = read_status(folder)
        cfg = _read_config(folder)
        summary = self._summary(run_id, folder)
        row = {
            "id": run_id,
            "state": st.get("state") or "failed",
            "method": cfg.get("method"),
            "model": cfg.get("model"),
            "run_name": cfg.get("run_name"),
            "dataset": (cfg.get("data") or {}).get("dataset", cfg.get("dataset")),  # format 3 in sections, older flat
            "submitted": st.get("submitted") or st.get("started"),
            "queued": queued_at(st),
            "started": st.get("started"),
            "spent_before": st.get("spent_before"),
            "finished": st.get("finished"),
            "error": st.get("error") if st else "status.json is missing",
            "owner": st.get("owner"),
            # What a running run does before its first step (features, the SVM's fit); its steps say the rest.
            "phase": st.get("phase") if st.get("state") == "running" and not summary.get("total_steps") else None,
            **summary,
        }
        if row["state"] in ("stopped", "failed"):
            row["resumable"] = has_state(folder)
            row["resume_step"] = saved_step(folder)
        results = self.final_result(run_id, folder, st) if row["state"] in FINAL else None
        if results:
            row["test_accuracy"] = results.get("test", {}).get("accuracy")
            row["best_eval_accuracy"] = results.get("validation", {}).get("accuracy")
            row["warning"] = results.get("warning")
            row["early_stop"] = results.get("early_stop")
        return row

    def final_result(self, run_id: str, folder: Path | None = None, status: dict | None = None) -> dict:
        """An ended run's results.json ({} if none), read once per ending: it never changes after the run
        ends (delete drops it; a resumed run ends again, at a new time), and the app's timers ask for
        every run's every few seconds."""
        folder = folder or self.folder(run_id)
        ended = (status if status is not None else read_status(folder)).get("finished")
        cached = self.final_results.get(run_id)
        if cached is None or cached[0] != ended:
            cached = self.final_results[run_id] = (ended, read_results(folder) or {})
        return cached[1]

    def finished(self) -> list[tuple[str, dict]]:
        """(run id, results) of every run that ended with a test score (final_result: each read once)."""
        out = []
        for folder in self.folders():
            if (folder / "results.json").is_file():
                res = self.final_result(folder.name, folder)
                if "test" in res:
                    out.append((folder.name, res))
        return out

    def metrics(self, run_id: str, since: int = 0) -> list[dict]:
        """All metric rows (since = 0) or only those after the first `since` rows."""

        return read_metrics(self.folder(run_id))[since:]

    def _summary(self, run_id: str, folder: Path) -> dict:
        cursor = self.cursors.setdefault(run_id, MetricsCursor(folder / "metrics.jsonl"))
        new = cursor.read_new()
        if cursor.restarted:  # a resumed run trimmed its rows: sum them up again
            self.summaries.pop(run_id, None)
        s = self.summaries.setdefault(
            run_id, {"step": 0, "total_steps": None, "epoch": 0.0, "best_eval_accuracy": None, "elapsed": None}
        )
        for row in new:
            s["step"] = max(s["step"], row.get("step") or 0)
            s["epoch"] = max(s["epoch"], row.get("epoch") or 0.0)
            s["total_steps"] = row.get("total_steps") or s["total_steps"]
            s["elapsed"] = row.get("elapsed") or s["elapsed"]
            if row.get("eval_accuracy") is not None:
                s["best_eval_accuracy"] = max(s["best_eval_accuracy"] or 0.0, row["eval_accuracy"])
        return dict(s)

    def logs(self, run_id: str, lines: int = 200) -> str:
        return log_tail(self.folder(run_id), lines)


def queued_at(status: dict) -> float:
    """When a run joined the queue: a resumed run joins at the back, behind runs queued before it."""
    return status.get("queued") or status.get("submitted") or 0


def queue_places(rows: list[dict]) -> dict[str, int]:
    """{run id: its place in line (1: next)} of the queued runs among `rows`: the queue starts the oldest first."""
    queued = sorted((queued_at(r), r["id"]) for r in rows if r.get("state") == "queued")
    return {run_id: i for i, (_, run_id) in enumerate(queued, 1)}


def _read_config(folder: Path) -> dict:
    try:
        return json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return {}
