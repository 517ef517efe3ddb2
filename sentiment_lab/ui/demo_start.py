"""A fresh public demo is never empty: at start, with no runs, it pulls runs from the Hub repositories named in
$SENTIMENT_LAB_DEMO_REPOS, or else queues all five methods on the bundled model within the demo's limits."""

from __future__ import annotations

import os

from sentiment_lab.runs.hub import pull_run
from sentiment_lab.training.config import METHODS
from sentiment_lab.ui.services import Services

ENV_REPOS = "SENTIMENT_LAB_DEMO_REPOS"  # user/name[,user/name...]: runs pushed with `python -m sentiment_lab.hub push`


def start_demo(services: Services) -> list[str]:
    """Pull or queue the demo's runs when the checkpoints folder has none; returns their ids ([] when it had)."""
    if services.jobs.list():
        return []
    repos = [r.strip() for r in os.environ.get(ENV_REPOS, "").split(",") if r.strip()]
    if repos:
        return [pull_run(services.jobs, repo, os.environ.get("HF_TOKEN")) for repo in repos]
    limits = services.demo
    form = {"model": "minilm", "epochs": limits.max_epochs, "max_train_samples": str(limits.max_train_samples)}
    form["max_length"] = limits.max_length
    # the app's own runs, owned by no visitor; the quickest to train first, so Compare answers soonest
    order = sorted(METHODS, key=("svm", "freeze", "lora", "adapters", "full").index)
    return [run_id for method in order for run_id in services.queue_as_demo({**form, "method": method})]
