"""The repository's lint and format rules (ruff.toml) hold, so CI fails on a violation."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True)


def test_lint_passes():
    out = ruff("check", "--output-format", "concise", ".")
    assert out.returncode == 0, out.stdout + out.stderr


def test_format_holds():
    out = ruff("format", "--check", ".")
    assert out.returncode == 0, out.stdout + out.stderr


def test_no_run_output_is_tracked():
    """Run folders (status.json, metrics.jsonl) and weights never enter git, wherever a run was written."""
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip("not a git checkout")
    outputs = (".safetensors", ".bin", ".pt", ".pkl", "status.json", "metrics.jsonl")
    tracked = [p for p in out.stdout.splitlines() if p.endswith(outputs)]
    assert not tracked, tracked
