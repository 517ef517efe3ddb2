"""The worker: `python -m sentiment_lab.train` (or `accelerate launch -m sentiment_lab.train`) trains one run.

It writes the run folder (config.json, status.json, metrics.jsonl, results.json, artefacts) and
turns SIGTERM / SIGINT into a polite stop: the loop ends at the next step and keeps what it has.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from typing import NamedTuple

from sentiment_lab.runs.foreground import run_in_processes, starts_processes
from sentiment_lab.runs.paths import RunIdError, check_run_name, checkpoints_root, new_run_id, run_dir
from sentiment_lab.runs.queue import JobManager
from sentiment_lab.training.cli_args import add_config_flags, config_from_args, given_flags, ignored_flags
from sentiment_lab.training.config import EXERCISE_METHOD, ConfigError, RunConfig
from sentiment_lab.training.records import read_status, write_status

USER_ERRORS = (ConfigError, RunIdError)


class Worker(NamedTuple):
    cfg: RunConfig
    out: Path | None
    managed: bool
    """the job runner started this worker (--run_id)"""
    resume: bool = False


def parse_args(argv=None, prog: str = "python -m sentiment_lab.train", queued: bool = False) -> Worker:
    """The run config, its folder, whether the job runner started it, whether it resumes (`prog`: the command
    the user typed, which its messages name). `queued`: a run for the queue (`jobs submit`), which picks its
    folder itself and starts afresh, so --output_dir and --resume are not offered and `out` is None."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Queue one training run." if queued else "Train one sentiment classifier run."
    )
    add_config_flags(parser)
    parser.add_argument(
        "--exercise",
        type=int,
        choices=(1, 2, 3),
        help="reference lab numbering: 1 = svm, 2 = full, 3 = --method (lora, freeze or adapters)",
    )
    parser.add_argument(
        "--config", help="train exactly this run config (a config.json, as the job queue saved it at submit)"
    )
    if not queued:
        parser.add_argument("--output_dir", help="run folder (default: checkpoints/<run_id>)")
        parser.add_argument("--run_id", help=argparse.SUPPRESS)  # set by the job runner
        parser.add_argument(
            "--resume",
            action="store_true",
            help="go on from where the run in --output_dir stopped (its saved training state and its own settings)",
        )
    parser.set_defaults(output_dir=None, run_id=None, resume=False)
    args = parser.parse_args(argv)
    if args.resume:
        try:
            return Worker(resumed_config(args), Path(args.output_dir or ""), args.run_id is not None, resume=True)
        except (*USER_ERRORS, OSError, ValueError) as e:
            parser.error(str(e))
    if args.exercise in EXERCISE_METHOD:
        if args.method not in (None, EXERCISE_METHOD[args.exercise]):
            parser.error(f"--exercise {args.exercise} is method {EXERCISE_METHOD[args.exercise]}, not {args.method}")
        args.method = EXERCISE_METHOD[args.exercise]
    elif args.exercise == 3:
        args.method = args.method or "lora"
        if args.method not in ("lora", "freeze", "adapters"):
            parser.error("--exercise 3 takes --method lora, freeze or adapters")
    try:
        cfg = submitted_config(args) if args.config else config_from_args(args)
        check_run_name(cfg.run_name)
        if queued:
            out = None
        elif args.output_dir:
            out = Path(args.output_dir)
        else:
            out = run_dir(args.run_id or new_run_id(cfg.method, cfg.model, cfg.run_name), checkpoints_root())
    except USER_ERRORS as e:
        parser.error(str(e))
    for warning in ignored_flags(given_flags(args), cfg.method):
        print(f"warning: {warning}", file=sys.stderr)
    return Worker(cfg, out, args.run_id is not None)


def submitted_config(args: argparse.Namespace) -> RunConfig:
    """The whole config a run was submitted with, so it trains with what the user asked for whatever the
    defaults are by the time it starts; setting flags beside it would be a second source."""
    given = list(given_flags(args))
    if given:
        raise ConfigError(f"--config carries the whole run config; drop --{', --'.join(given)}")
    try:
        return RunConfig.load(args.config)
    except OSError as e:
        raise ConfigError(f"--config {args.config}: {e.strerror or e}") from None
    except ValueError as e:  # not JSON, or JSON that is not a run config
        raise ConfigError(f"--config {args.config} is not a run's config.json ({e})") from None


def resumed_config(args: argparse.Namespace) -> RunConfig:
    """A resumed run trains with its own config.json; flags given too must agree with it."""
    if not args.output_dir:
        raise ConfigError("--resume needs the run's folder: --output_dir checkpoints/RUN_ID")
    if not (Path(args.output_dir) / "config.json").is_file():
        raise ConfigError(f"--resume: {args.output_dir} holds no run (no config.json): give a run's folder")
    saved = RunConfig.load(Path(args.output_dir) / "config.json")
    merged = RunConfig.of(**{**saved.flat(), **given_flags(args)}).validated()
    if merged.settings() != saved.settings():
        changed = sorted(k for k, v in merged.settings().items() if saved.settings().get(k) != v)
        raise ConfigError(
            f"--resume trains with the run's own settings; these differ from its config.json: {', '.join(changed)}"
        )
    return saved


class StopFlag:
    """Set by SIGTERM / SIGINT; the loop checks it every step. Before the loop's first check (loading data,
    the model, features; an SVM's whole run) there is nothing to keep, so a stop ends the process at once."""

    def __init__(self, folder: Path):
        self.event = threading.Event()
        self.folder = folder
        self.asked = False

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, *_) -> None:
        self.event.set()
        if not self.asked:
            # Only over a run still going: the launcher also ends the others this way when one process has
            # failed, and a run that has just ended (an SVM's, which never asks) keeps its words.
            if int(os.environ.get("RANK", "0")) == 0 and read_status(self.folder).get("state") in ("queued", "running"):
                write_status(
                    self.folder, "stopped", error="stopped by the user before training began: nothing to resume"
                )
            os._exit(0)

    def __call__(self) -> bool:
        self.asked = True
        return self.event.is_set()


def main(argv=None) -> int:
    cfg, out, managed, resume = parse_args(argv)
    if not managed and starts_processes(cfg):
        try:
            return run_in_processes(cfg, out, resume)
        except ConfigError as e:  # more processes than this machine has
            print(f"error: {e}", file=sys.stderr)
            return 2
    stop = StopFlag(out)
    stop.install()
    from sentiment_lab.training.process_group import end_processes  # torch loads after the arguments are checked
    from sentiment_lab.training.runner import Runner

    code = Runner(cfg, out, should_stop=stop, resume=resume).run()
    end_processes(wait=code == 0)
    if managed and int(os.environ.get("RANK", "0")) == 0:
        JobManager(out.parent).advance()
    return code


if __name__ == "__main__":
    sys.exit(main())
