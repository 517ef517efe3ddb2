"""How long a run about to be queued may take: how long finished runs like it took on this machine. Like it:
the same method, model, data and budget (epochs, batch, lengths, samples, evaluations), on the same kind of
device in as many processes; its seed, rate and method settings may differ, as in a sweep. Nothing is said
without such a run: scaling another run's time by its sentences would be a guess (features, evaluations and
training steps each cost differently)."""

from __future__ import annotations

import statistics

from sentiment_lab.runs.launch import processes_from, visible_gpus
from sentiment_lab.runs.queue import JobError, JobManager
from sentiment_lab.training.config import RunConfig


def budget(cfg: RunConfig) -> tuple:
    """What a run's time depends on, beyond the machine."""
    data, opt = cfg.data, cfg.optimisation
    return (
        cfg.method,
        cfg.model,
        data.dataset,
        data.text_column,
        data.label_column,
        data.max_length,
        data.max_train_samples,
        data.max_eval_samples,
        *((opt.epochs, opt.batch_size, opt.evals_per_epoch, opt.patience) if cfg.method != "svm" else ()),
    )


def expected_seconds(
    cfg: RunConfig, finished: list[tuple[dict, RunConfig]], device: str, processes: int
) -> float | None:
    """The median time finished runs like this one took from their first step to their end, or None."""
    took = [
        res["total_seconds"]
        for res, past in finished
        if budget(past) == budget(cfg)
        and str(res.get("device", "")).split(":")[0] == device
        and int(res.get("processes") or 1) == processes
        and (res.get("total_seconds") or 0) > 0
    ]
    return statistics.median(took) if took else None


def finished_runs(jobs: JobManager) -> list[tuple[str, dict, RunConfig]]:
    """(run id, results, config) of every finished run (one whose config cannot be read is left out)."""
    out = []
    for run_id, res in jobs.finished():
        try:
            out.append((run_id, res, RunConfig.load(jobs.folder(run_id) / "config.json")))
        except (OSError, ValueError, JobError):
            continue
    return out


def expected(jobs: JobManager, queued: dict[str, RunConfig]) -> dict[str, float]:
    """{run id: seconds} for the queued runs like which runs have finished on this machine."""
    finished, gpus = [(res, cfg) for _, res, cfg in finished_runs(jobs)], visible_gpus()
    device = "cuda" if gpus else "cpu"
    took = {
        run_id: expected_seconds(cfg, finished, device, processes_from(cfg.processes, gpus))
        for run_id, cfg in queued.items()
    }
    return {run_id: seconds for run_id, seconds in took.items() if seconds is not None}


def about(seconds: float) -> str:
    """A rough duration, as rough as the estimate: '40 s', '6 min', '1 h 20 min'."""
    if seconds < 90:
        return f"{max(10, round(seconds, -1)):.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 90 else f"{minutes // 60} h {minutes % 60:02d} min"
