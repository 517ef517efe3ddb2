"""Several seeds from one form, and the results table's one line per setting over its seeds."""

from __future__ import annotations

import sys

import pytest

from sentiment_lab.runs.queue import JobManager
from sentiment_lab.training.config import ConfigError, RunConfig
from sentiment_lab.ui.forms import form_to_configs, parse_seeds
from sentiment_lab.ui.names import display_names
from sentiment_lab.ui.tables import settings_frame


@pytest.mark.parametrize("value, seeds", [("42", [42]), (" 1, 2 3 ", [1, 2, 3]), ("", None), (None, None), (7, [7])])
def test_seed_field_takes_one_or_several_seeds(value, seeds):
    assert parse_seeds(value) == seeds


@pytest.mark.parametrize(
    "value, message",
    [
        ("4x", "seed must be whole numbers"),
        ("1, 2, 1", "seed 1 is listed twice"),
        (",".join(map(str, range(11))), "11 seeds; at most 10"),
    ],
)
def test_bad_seed_lists_are_named(value, message):
    with pytest.raises(ConfigError, match=message):
        form_to_configs({"method": "lora", "seed": value})


def test_a_learning_rate_sweep_crosses_the_seeds_and_reads_per_setting():
    configs = form_to_configs({"method": "lora", "lr": "1e-4, 3e-4", "seed": "1 2"})
    assert [(c.optimisation.lr, c.seed) for c in configs] == [(1e-4, 1), (1e-4, 2), (3e-4, 1), (3e-4, 2)]
    assert [c.run_name for c in configs] == [
        "LoRA minilm lr1e-4-s1",
        "LoRA minilm lr1e-4-s2",
        "LoRA minilm lr3e-4-s1",
        "LoRA minilm lr3e-4-s2",
    ]  # which is which, in the run list: the method and model as an unnamed run's, then what differs
    local = form_to_configs({"method": "full", "seed": "1 2", "model": "/models/my..odd+model name (v2)/"})
    assert [c.run_name for c in local] == ["Full my.odd-model-n s1", "Full my.odd-model-n s2"]  # a run name's letters
    named = form_to_configs({"method": "lora", "lr": "1.5e-3, 2e-5", "run_name": "x" * 48})
    assert [c.run_name for c in named] == ["x" * 39 + "-lr1.5e-3", "x" * 41 + "-lr2e-5"] and named[0].seed == 42
    assert [c.optimisation.lr for c in form_to_configs({"method": "full", "lr": " 2e-5 ", "seed": ""})] == [2e-5]
    assert [c.learning_rate for c in form_to_configs({"method": "full", "lr": "", "seed": ""})] == [
        5e-5
    ]  # blank: the measured default
    frame = settings_frame([(f"r{i}", result(0.8 + i / 100), c) for i, c in enumerate(configs)])
    assert frame["settings"].tolist() == ["lr=0.0003", "lr=0.0001"] and frame["seeds"].tolist() == ["1, 2", "1, 2"]
    again = settings_frame([(f"r{i}", result(0.8), c) for i, c in enumerate([configs[0], configs[0], configs[1]])])
    assert again["seeds"].tolist() == ["1 (×2), 2"]  # a setting trained twice on one seed, not "1, 1, 2"


@pytest.mark.parametrize(
    "values, message",
    [
        ({"lr": "1e-4, fast"}, "learning rate must be numbers, several separated by commas"),
        ({"lr": "1e-3 1e-3"}, "learning rate 0.001 is listed twice"),
        ({"lr": "1e-4 2e-4 3e-4", "seed": "1 2 3 4"}, "3 learning rates × 4 seeds is 12 runs; at most 10"),
        ({"lr": "1e-4, -1"}, "Learning rate must be in"),
        ({"method": "svm", "lr": "1e-4, 1e-3"}, "the SVM has no learning rate"),
    ],
)
def test_bad_learning_rate_lists_are_named(values, message):
    with pytest.raises(ConfigError, match=message):
        form_to_configs({"method": "lora", **values})


def test_a_form_with_three_seeds_queues_three_runs_and_train_all_five_fifteen(tmp_path):
    from sentiment_lab.ui.services import Services

    services = Services(tmp_path)
    services.jobs = JobManager(tmp_path, launcher=lambda run_id, folder, args, **_: [sys.executable, "-c", "pass"])
    ids = services.submit({"method": "lora", "seed": "1, 2, 3", "epochs": 1}).ids
    assert sorted(RunConfig.load(tmp_path / i / "config.json").seed for i in ids) == [1, 2, 3]
    ids = services.submit_all({"method": "lora", "seed": "5 6 7", "epochs": 1}).ids
    configs = [RunConfig.load(tmp_path / i / "config.json") for i in ids]
    assert len(ids) == 15 and {(c.method, c.seed) for c in configs} == {
        (m, s) for m in ("svm", "full", "lora", "freeze", "adapters") for s in (5, 6, 7)
    }
    names = display_names(services.jobs.list())  # each method's seed 5 is its own, not five runs called "s5"
    assert sorted(names[i] for i in ids if RunConfig.load(tmp_path / i / "config.json").seed == 5) == [
        "Adapters minilm s5",
        "Freeze minilm s5",
        "Full minilm s5",
        "LoRA minilm s5",
        "SVM minilm s5",
    ]
    assert (
        services.submit({"method": "svm", "seed": ""}).ids
        and RunConfig.load(tmp_path / services.jobs.list()[0]["id"] / "config.json").seed == 42
    )


def result(acc, seconds=10.0):
    return {"test": {"accuracy": acc, "f1": acc, "loss": 1 - acc}, "train_seconds": seconds}


def test_results_per_setting_average_over_seeds_and_name_what_changed():
    rows = [
        ("a", result(0.80), RunConfig.of(method="lora", seed=1)),
        ("b", result(0.84, 30.0), RunConfig.of(method="lora", seed=2, run_name="x")),  # a name is not a setting
        ("c", result(0.90), RunConfig.of(method="lora", seed=1, lr=1e-3, epochs=1)),
        ("d", result(0.70), RunConfig.of(method="svm", seed=3)),
    ]
    frame = settings_frame(rows)
    assert frame["settings"].tolist() == ["lr=0.001, epochs=1", "defaults", "defaults"]
    assert frame["test acc ± std"].tolist() == ["0.9000", "0.8200 ± 0.0200", "0.7000"]  # one seed has no spread
    assert frame["seeds"].tolist() == ["1", "1, 2", "3"] and frame["train s"].tolist() == [10.0, 20.0, 10.0]


def test_another_methods_settings_neither_split_a_setting_nor_show():
    rows = [
        ("a", result(0.80), RunConfig.of(method="full", seed=1)),
        ("b", result(0.82), RunConfig.of(method="full", seed=2, lora_r=16)),
    ]
    frame = settings_frame(rows)  # the form sends LoRA's boxes with every run; a full run ignores them
    assert frame["seeds"].tolist() == ["1, 2"] and frame["settings"].tolist() == ["defaults"]


def test_the_features_settings_belong_to_the_feature_methods():
    """A full run trained when the SVM's pooling default was another is the same run (bench.accuracy reuses
    runs by these settings); a freeze run with another pooling is not."""
    assert RunConfig.of(method="full", pooling="mean_last4").settings() == RunConfig.of(method="full").settings()
    assert RunConfig.of(method="lora", svm_c=0.1).settings() == RunConfig.of(method="lora").settings()
    assert RunConfig.of(method="freeze", pooling="mean_last4").settings() != RunConfig.of(method="freeze").settings()
    assert RunConfig.of(method="freeze", svm_c=0.1).settings() == RunConfig.of(method="freeze").settings()
    assert RunConfig.of(method="svm", svm_c=0.1).settings() != RunConfig.of(method="svm").settings()


def test_a_files_columns_are_named_with_its_dataset_not_as_settings():
    """The per-setting view listed `text_column=Review, label_column=stars` as if they were hyper-parameters."""
    mine = form_to_configs(
        {"method": "svm", "dataset": "/data/mine.csv", "text_column": "Review", "label_column": "stars"}
    )
    other = form_to_configs(
        {"method": "svm", "dataset": "/data/mine.csv", "text_column": "Review", "label_column": "mood"}
    )
    frame = settings_frame([("a", result(0.8), *mine), ("b", result(0.7), *other)])
    assert frame["dataset"].tolist() == ["mine.csv (Review, stars)", "mine.csv (Review, mood)"]  # two groups still
    assert frame["settings"].tolist() == ["defaults", "defaults"]
