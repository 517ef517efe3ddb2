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


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_method_trains_on_every_family_and_loads_with_the_standard_tools(family, method, family_models, tiny_data,
                                                                                 isolated_checkpoints, monkeypatch):
    import sentiment_lab.predict as predict

    root = isolated_checkpoints
    run_id = f"{family}-{method}"
    cfg = RunConfig(method=method, model=str(family_models[family]), dataset=str(tiny_data), epochs=1, device="cpu",
                    bf16="off", batch_size=8).validated()
    assert Runner(cfg, root / run_id, progress=False).run() == 0, read_status(root / run_id).get("error")
    assert read_status(root / run_id)["state"] == "done"
    assert read_results(root / run_id)["labels"] == ["neg", "pos"]

    monkeypatch.setattr(predict, "cpu_has_native_bf16", lambda: False)  # the app in fp32, as the snippets run
    app = predict.Predictor(JobManager(root)).predict_many(TEXTS, {method: run_id})[method]
    assert "error" not in app, app
    scope = {"run": str(root / run_id / "artefacts"), "texts": list(TEXTS)}
    exec(compile(readme_blocks()[method], f"README.md ({method})", "exec"), scope)
    standard = np.asarray(scope["probs"], dtype=np.float64)
    assert standard.shape == (len(TEXTS), 2)
    difference = np.abs(standard - np.asarray(app["probabilities"])).max()
    print(f"{family} {method}: largest probability difference {difference:.2e}")
    assert difference <= TOLERANCE, (family, method, difference)
