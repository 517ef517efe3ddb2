"""Sentiment Lab: fine-tune transformer sentiment classifiers and compare fine-tuning methods."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]  # the checkout: checkpoints/ and the workers' working folder
