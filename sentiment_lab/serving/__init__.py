"""Answers from finished runs: predictions, explanations, batch compare, error analysis."""
