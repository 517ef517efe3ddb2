"""bench.sweep's pure parts: reading the variant list and comparing each variant with its baseline."""
from __future__ import annotations

import pytest

from bench.sweep import parse_variants, summarise


def test_variants_read_as_name_method_flags_and_bad_ones_are_named():
    assert parse_variants(" lora=lora; all=lora --lora_targets all --lr 5e-4 ;") == [
        ("lora", "lora", []), ("all", "lora", ["--lora_targets", "all", "--lr", "5e-4"])]
    with pytest.raises(SystemExit, match="'lora' must read name=method"):
        parse_variants("lora")
    with pytest.raises(SystemExit, match="must differ"):
        parse_variants("a=lora; a=full")


def run(val, test=0.5):
    return {"val": val, "loss": 0.4, "val_mean": val, "test": test, "seconds": 10.0}


def test_each_variant_is_compared_with_its_methods_first_variant_on_shared_seeds_only():
    variants = parse_variants("lora=lora; wide=lora --lora_r 16; ad=adapters")
    done = {"lora": {42: run(0.80), 43: run(0.90)}, "wide": {42: run(0.85)}, "ad": {42: run(0.70)}}
    rows, out = summarise(variants, done)
    assert out["wide"]["val_vs_baseline_same_seeds"] == pytest.approx(0.05)  # seed 43 has no partner
    assert out["lora"]["val_vs_baseline_same_seeds"] is None and out["ad"]["baseline"] == "ad"
    assert [r[0] for r in rows] == ["lora", "wide", "ad"] and rows[1][6] == "+5.00 pt"
