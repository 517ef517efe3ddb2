"""Runs a new one would repeat: the same settings, all but its name, already queued, training, finished,
stopped with a state to go on from, or failed. Said when it is queued, since a second click costs a whole run."""

from __future__ import annotations

from sentiment_lab.runs.queue import JobManager
from sentiment_lab.training.config import RunConfig

# Settings that only name a run or say how often it logs: runs that differ in these alone train alike.
NOT_TRAINING = ("run_name", "project", "log_every")


def trained_settings(cfg: RunConfig) -> dict:
    return {k: v for k, v in cfg.flat().items() if k not in NOT_TRAINING}


def repeats(jobs: JobManager, configs: list[RunConfig], names: dict[str, str] | None = None) -> list[str]:
    """One warning per kind of run already here with the settings of one of `configs` (asked before they are
    queued): still to end, finished, stopped and resumable, or failed."""
    wanted = [trained_settings(c) for c in configs]
    matching = []
    for folder in jobs.folders():
        try:
            if trained_settings(RunConfig.load(folder / "config.json")) in wanted:
                matching.append(jobs.describe(folder.name))  # state, score, saved step: read for matches only
        except (OSError, ValueError):
            continue  # a damaged config is the run list's to say
    active, done, resumable, failed = [], [], [], []
    for row in sorted(matching, key=lambda r: r.get("submitted") or 0, reverse=True):  # newest first, as listed
        name = f"`{(names or {}).get(row['id'], row['id'])}`"
        if row["state"] in ("queued", "running"):
            active.append(name)
        elif row["state"] == "done" and row.get("test_accuracy") is not None:
            done.append((name, row["test_accuracy"]))
        elif row.get("resumable"):
            resumable.append(name)
        elif row["state"] == "failed":
            failed.append((name, (row.get("error") or "").strip().split("\n")[0][:200]))  # its reason, in brief
    said = []
    if active:
        has, is_, copy = ("has", "is", "copy") if len(active) == 1 else ("have", "are", "copies")
        said.append(
            f"{_listed(active)} {has} the same settings and {is_} still to end: if this was a second click, "
            f"Stop / Cancel the {copy}"
        )
    if done:
        score = f" (test accuracy {done[0][1]:.4f})" if len(done) == 1 else ""
        said.append(
            f"{_listed([n for n, _ in done])} already trained the same settings{score}: another seed shows how far "
            "a run lands from it"
        )
    if resumable:
        said.append(
            f"{_listed(resumable)} stopped with the same settings and can go on: Resume takes it from where it "
            "stopped instead of from the start"
        )
    if failed:
        why = f" ({failed[0][1].rstrip('.')})" if len(failed) == 1 and failed[0][1] else ""
        said.append(
            f"{_listed([n for n, _ in failed])} failed with the same settings{why}: unless what failed it has "
            "changed since, this run may fail the same way"
        )
    return said


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
