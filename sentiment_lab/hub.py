"""Push a finished run to the Hugging Face Hub (Spaces have no persistent disk): button and CLI.

`python -m sentiment_lab.hub push RUN_ID USER/REPO [--token T]` (or $HF_TOKEN).
"""
from __future__ import annotations

import argparse
import os
import sys

from .backbone import hub_reachable
from .jobs import JobError, JobManager
from .runs import read_status

PUSHED = ("config.json", "results.json", "metrics.jsonl", "test_predictions.json", "artefacts/**")


class PushError(RuntimeError):
    """Why nothing could be pushed, in words a user can act on."""


def push_run(jobs: JobManager, run_id: str, repo_id: str, token: str | None = None) -> str:
    """Upload the run's config, results, metrics and artefacts to a Hub model repo; return its URL."""
    folder = jobs.folder(run_id)
    if read_status(folder).get("state") != "done" or not (folder / "artefacts").is_dir():
        raise PushError(f"run {run_id} is not finished with saved artefacts: nothing to push")
    token = (token or os.environ.get("HF_TOKEN") or "").strip()
    if not token:
        raise PushError("no Hugging Face token: set HF_TOKEN (a Space secret) or paste a write token")
    if not repo_id or repo_id.count("/") != 1 or ".." in repo_id:
        raise PushError("repository must look like user/name")
    if not hub_reachable():
        raise PushError("the Hugging Face Hub cannot be reached from this machine: nothing can be pushed")
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, repo_type="model", exist_ok=True, private=True)
        api.upload_folder(folder_path=str(folder), repo_id=repo_id, allow_patterns=list(PUSHED),
                          commit_message=f"Sentiment Lab run {run_id}")
    except Exception as e:  # auth, quota, network: the user needs the reason, not the trace
        raise PushError(f"push to {repo_id} failed: {type(e).__name__}: {str(e).splitlines()[0][:200]}") from None
    return f"https://huggingface.co/{repo_id}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sentiment_lab.hub", description="Push a finished run to the Hub.")
    sub = parser.add_subparsers(dest="command", required=True)
    push = sub.add_parser("push")
    push.add_argument("run")
    push.add_argument("repo", help="user/name of a model repository (created private if missing)")
    push.add_argument("--token", help="write token (default: $HF_TOKEN)")
    args = parser.parse_args(argv)
    try:
        print(push_run(JobManager(), args.run, args.repo, args.token))
    except (PushError, JobError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
