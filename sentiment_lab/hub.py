"""Command line: `python -m sentiment_lab.hub push RUN_ID USER/REPO [--token T]` (or $HF_TOKEN), `... pull
USER/REPO`."""

from __future__ import annotations

import argparse
import sys

from sentiment_lab.runs.hub import PushError, pull_run, push_run
from sentiment_lab.runs.queue import JobError, JobManager


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sentiment_lab.hub", description="Push a finished run to the Hub, or pull one back."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    push = sub.add_parser(
        "push", help="upload a finished run (its config, curves, results and model) to a private model repository"
    )
    push.add_argument("run", help="the run's id (python -m sentiment_lab.jobs list shows them)")
    push.add_argument("repo", help="user/name of a model repository (created private if missing)")
    push.add_argument("--token", help="write token (default: $HF_TOKEN)")
    pull = sub.add_parser("pull", help="bring a pushed run back as a finished run")
    pull.add_argument("repo", help="user/name of the model repository a run was pushed to")
    pull.add_argument("--token", help="read token for a private repository (default: $HF_TOKEN)")
    args = parser.parse_args(argv)
    try:
        if args.command == "push":
            print(push_run(JobManager(), args.run, args.repo, args.token))
        else:
            print(pull_run(JobManager(), args.repo, args.token))
    except (PushError, JobError, ValueError) as e:  # ValueError: an ArchiveError naming what is wrong with the run
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
