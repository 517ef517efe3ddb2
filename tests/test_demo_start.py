"""A fresh public demo starts its own five runs (or pulls them from the Hub), and Compare says what each is doing."""

from __future__ import annotations

from sentiment_lab.training.config import RunConfig
from sentiment_lab.ui import demo_start
from sentiment_lab.ui.access import DemoLimits
from sentiment_lab.ui.services import Services


def quiet(services: Services) -> Services:
    """The queue starts nothing: these tests look at what is queued, and no training outlives them."""
    services.jobs.advance = lambda: []
    return services


def test_an_empty_demo_queues_all_five_within_its_limits_once(tmp_path):
    services = quiet(Services(tmp_path / "runs", demo=DemoLimits()))
    started = demo_start.start_demo(services)
    rows = {r["id"]: r for r in services.jobs.list()}
    assert sorted(rows[i]["method"] for i in started) == sorted(["svm", "full", "lora", "freeze", "adapters"])
    assert rows[started[0]]["method"] == "svm"  # the quickest answers first
    for run_id in started:
        cfg = RunConfig.load(services.jobs.folder(run_id) / "config.json")
        epochs = None if cfg.method == "svm" else cfg.optimisation.epochs  # the SVM has no epochs
        assert (cfg.model, epochs, cfg.data.max_train_samples, cfg.data.max_length) == (
            "minilm",
            None if cfg.method == "svm" else 1,
            2000,
            128,
        )
        assert rows[run_id]["owner"] is None  # the app's own: no visitor's quota spent
    assert demo_start.start_demo(services) == []  # a restart with runs there queues nothing more
    queued = "queued to train: it answers here once trained"
    rows = services.compare("a fine film")
    assert {r["method"]: r["error"] for r in rows}["lora"] == queued
    assert services.explain("a fine film")["lora"]["error"] == queued  # each view of Compare says the same
    summary, _, _ = services.compare_many(None, "a fine film\na dull one")
    assert summary.set_index("method").loc["lora", "run"] == queued


def test_a_demo_with_hub_repositories_pulls_them_instead(tmp_path, monkeypatch):
    pulled = []
    monkeypatch.setenv(demo_start.ENV_REPOS, "me/svm-run, me/lora-run")
    monkeypatch.setattr(demo_start, "pull_run", lambda jobs, repo, token: pulled.append(repo) or repo.split("/")[1])
    services = quiet(Services(tmp_path / "runs", demo=DemoLimits()))
    assert demo_start.start_demo(services) == ["svm-run", "lora-run"] and pulled == ["me/svm-run", "me/lora-run"]
    assert services.jobs.list() == []  # nothing queued to train
