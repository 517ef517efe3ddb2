"""README's front matter is the Space's config: the Gradio and Python a Space builds with are those tested here."""

from __future__ import annotations

import sys

import yaml
from conftest import ROOT
from packaging.requirements import Requirement
from packaging.version import Version


def front_matter() -> dict:
    text = (ROOT / "README.md").read_text()
    assert text.startswith("---\n"), "README.md must open with the Space's YAML front matter"
    return yaml.safe_load(text.split("---\n")[1])


def test_the_space_runs_app_py_with_a_gradio_and_python_the_tests_use():
    config = front_matter()
    assert config["sdk"] == "gradio" and (ROOT / config["app_file"]).is_file()
    gradio = next(
        Requirement(line)
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip().startswith("gradio")
    )
    # Spaces install sdk_version's Gradio: it must be one requirements.txt allows, or the Space runs untested code.
    assert Version(str(config["sdk_version"])) in gradio.specifier, (config["sdk_version"], str(gradio.specifier))
    assert config["python_version"] == f"{sys.version_info.major}.{sys.version_info.minor}"
