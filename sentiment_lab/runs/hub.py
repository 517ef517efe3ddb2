"""A finished run to and from the Hugging Face Hub (Spaces have no persistent disk): buttons and CLI.

`python -m sentiment_lab.hub push RUN_ID USER/REPO [--token T]` (or $HF_TOKEN);
`python -m sentiment_lab.hub pull USER/REPO [--token T]` brings a pushed run back as a finished run.
"""

from __future__ import annotations

import json
import os

from sentiment_lab.runs.archive import RUN_PATTERNS, ArchiveError, adopt_run, is_run_file
from sentiment_lab.runs.model_card import model_card
from sentiment_lab.runs.queue import JobManager
from sentiment_lab.training.backbone import hub_reachable
from sentiment_lab.training.hub_urls import hub_id
from sentiment_lab.training.records import read_status


class PushError(RuntimeError):
    """Why nothing could be pushed, in words a user can act on."""


def _checked_repo(repo_id: str | None) -> str:
    repo_id = hub_id(repo_id or "", "model")  # a repository's address pasted for its id
    if repo_id.count("/") != 1 or ".." in repo_id or not all(repo_id.split("/")):
        raise PushError("repository must look like user/name")
    return repo_id


def push_run(jobs: JobManager, run_id: str, repo_id: str, token: str | None = None) -> str:
    """Upload the run's config, results, metrics and artefacts with a model card to a Hub model repo; its URL."""
    folder = jobs.folder(run_id)
    if read_status(folder).get("state") != "done" or not (folder / "artefacts").is_dir():
        raise PushError(f"run {run_id} is not finished with saved artefacts: nothing to push")
    token = (token or os.environ.get("HF_TOKEN") or "").strip()
    if not token:
        raise PushError("no Hugging Face token: set HF_TOKEN (a Space secret) or paste a write token")
    repo_id = _checked_repo(repo_id)
    if not hub_reachable():
        raise PushError("the Hugging Face Hub cannot be reached from this machine: nothing can be pushed")
    from huggingface_hub import CommitOperationAdd, HfApi

    files = [f for f in sorted(folder.rglob("*")) if f.is_file() and is_run_file(f.relative_to(folder).as_posix())]
    card = model_card(folder, repo_id).encode("utf-8")
    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, repo_type="model", exist_ok=True, private=True)
        api.create_commit(  # one commit: the repository never holds a run without its card, or a card alone
            repo_id=repo_id,
            repo_type="model",
            operations=[
                *(CommitOperationAdd(f.relative_to(folder).as_posix(), str(f)) for f in files),
                CommitOperationAdd("README.md", card),
            ],
            commit_message=f"Sentiment Lab run {run_id}",
        )
    except Exception as e:  # auth, quota, network: the user needs the reason, not the trace
        raise PushError(f"push to {repo_id} failed: {type(e).__name__}: {str(e).splitlines()[0][:200]}") from None
    return f"https://huggingface.co/{repo_id}"


def pull_run(jobs: JobManager, repo_id: str, token: str | None = None) -> str:
    """Download a pushed run's own files (nothing else the repository holds) and add it as a finished run."""
    import secrets
    import shutil

    repo_id = _checked_repo(repo_id)
    if not hub_reachable():
        raise PushError("the Hugging Face Hub cannot be reached from this machine: nothing can be pulled")
    from huggingface_hub import snapshot_download

    staging = jobs.root / f".pulling-{secrets.token_hex(4)}"
    try:
        try:  # only the files a run holds: a pickle, a script or a README in the repository is never fetched
            snapshot_download(
                repo_id,
                repo_type="model",
                local_dir=staging,
                token=(token or os.environ.get("HF_TOKEN") or None),
                allow_patterns=list(RUN_PATTERNS),
            )
        except Exception as e:  # not found, private, network: the reason, not the trace
            raise PushError(f"pull from {repo_id} failed: {type(e).__name__}: {str(e).splitlines()[0][:200]}") from None
        for file in [f for f in staging.rglob("*") if f.is_file()]:
            place = file.relative_to(staging).as_posix()
            if not is_run_file(place):  # the download's own bookkeeping (.cache/), or a pattern matching deeper
                file.unlink()
        shutil.rmtree(staging / ".cache", ignore_errors=True)
        if not (staging / "config.json").is_file():
            raise ArchiveError(f"{repo_id} holds no Sentiment Lab run (no config.json)")
        if _model_config(staging / "config.json"):  # a transformers model: one to train from, not a run
            raise ArchiveError(
                f"{repo_id} is a model, not a Sentiment Lab run: to train from it, put {repo_id} in the Model box"
            )
        return adopt_run(jobs, staging, repo_id.split("/")[1], source=f"hf.co/{repo_id}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _model_config(path) -> bool:
    """Whether a config.json is a transformers model's (its model_type), not a run's."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False  # the run's own reading says what is wrong with it
    return isinstance(saved, dict) and "model_type" in saved and "method" not in saved
