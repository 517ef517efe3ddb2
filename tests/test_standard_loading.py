"""Every method on every encoder family: a tiny random model of each trains one epoch, and the README's
loading lines (transformers, PEFT, safetensors alone) give the app's probabilities for the saved run."""
from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import FAMILIES, ROOT, build_tiny

from sentiment_lab.config import METHODS, RunConfig
from sentiment_lab.jobs import JobManager
from sentiment_lab.runner import Runner
from sentiment_lab.runs import read_results, read_status

TEXTS = ["a great and moving film", "the plot was dull , boring and flat", "unknownword movie", "fun"]
# The app's probabilities and the standard tools' differ only by float rounding (batching, op order).
TOLERANCE = 1e-4


def readme_blocks() -> dict[str, str]:
    """The README's loading snippets, keyed by the method named on their first line."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Loading a finished run with the standard tools"):]
    section = section[:section.index("\n## ", 1)]
    blocks = re.findall(r"```python\n# (\w+)\n(.*?)```", section, re.S)
    return {method: code for method, code in blocks}


@pytest.fixture(scope="module")
def family_models(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("families")
    return {kind: build_tiny(kind, root / kind) for kind in FAMILIES}


def test_the_readme_has_a_loading_snippet_for_every_method():
    assert set(readme_blocks()) == set(METHODS)


def train_one(model: str, method: str, data, root, run_id: str) -> None:
    cfg = RunConfig(method=method, model=model, dataset=str(data), epochs=1, device="cpu", bf16="off", batch_size=8,
                    max_train_samples=128, max_eval_samples=64).validated()
    assert Runner(cfg, root / run_id, progress=False).run() == 0, read_status(root / run_id).get("error")
    assert read_status(root / run_id)["state"] == "done"


def app_probabilities(root, method: str, run_id: str, monkeypatch) -> np.ndarray:
    import sentiment_lab.predict as predict

    monkeypatch.setattr(predict, "cpu_has_native_bf16", lambda: False)  # the app in fp32, as the snippets run
    app = predict.Predictor(JobManager(root)).predict_many(TEXTS, {method: run_id})[method]
    assert "error" not in app, app
    return np.asarray(app["probabilities"])


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_method_trains_on_every_family_and_loads_with_the_standard_tools(family, method, family_models, tiny_data,
                                                                                 isolated_checkpoints, monkeypatch):
    root, run_id = isolated_checkpoints, f"{family}-{method}"
    train_one(str(family_models[family]), method, tiny_data, root, run_id)
    assert read_results(root / run_id)["labels"] == ["neg", "pos"]
    app = app_probabilities(root, method, run_id, monkeypatch)
    scope = {"run": str(root / run_id / "artefacts"), "texts": list(TEXTS)}
    exec(compile(readme_blocks()[method], f"README.md ({method})", "exec"), scope)
    standard = np.asarray(scope["probs"], dtype=np.float64)
    assert standard.shape == (len(TEXTS), 2)
    difference = np.abs(standard - app).max()
    print(f"{family} {method}: largest probability difference {difference:.2e}")
    assert difference <= TOLERANCE, (family, method, difference)


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains_on_the_bundled_minilm(method, isolated_checkpoints, monkeypatch):
    """The real encoder on 128 real sentences; its saved runs name it by its Hub id."""
    import json

    from conftest import SHARED_DATA

    root, run_id = isolated_checkpoints, f"minilm-{method}"
    train_one("minilm", method, SHARED_DATA, root, run_id)
    probs = app_probabilities(root, method, run_id, monkeypatch)
    assert probs.shape == (len(TEXTS), 2) and np.allclose(probs.sum(1), 1, atol=1e-5)
    artefacts = root / run_id / "artefacts"
    spec = next((artefacts / f).read_text() for f in ("adapter_config.json", "adapters.json", "head.json", "svm.json")
                if (artefacts / f).is_file()) if method != "full" else "{}"
    names = json.loads(spec)
    assert names.get("base_model", names.get("base_model_name_or_path", "sentence-transformers/all-MiniLM-L6-v2")) \
        == "sentence-transformers/all-MiniLM-L6-v2"
