"""The benchmarks' pure parts: bench.sweep's variant list and baselines, bench.accuracy's tests of a gap,
bench.levers' ladder and interleaving, bench.gpu's dry run on a CPU."""

from __future__ import annotations

import argparse
import math

import numpy as np
import pytest
from test_methods import prepared

from bench.accuracy import paired_over_seeds
from bench.sweep import parse_variants, summarise
from bench.throughput import fresh_accelerator_state
from sentiment_lab.serving.significance import paired_gap_interval
from sentiment_lab.training.config import METHODS


def test_variants_read_as_name_method_flags_and_bad_ones_are_named():
    assert parse_variants(" lora=lora; all=lora --lora_targets all --lr 5e-4 ;") == [
        ("lora", "lora", []),
        ("all", "lora", ["--lora_targets", "all", "--lr", "5e-4"]),
    ]
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


def test_gap_over_seeds_is_a_paired_t_test():
    gap, p = paired_over_seeds([0.80, 0.82, 0.81], [0.79, 0.80, 0.80])  # differences 1, 2, 1 pt: t = 4 on 2 df
    assert gap == pytest.approx(0.04 / 3) and p == pytest.approx(0.0572, abs=1e-4)
    gap, p = paired_over_seeds([0.8, 0.9], [0.7, 0.8])  # the same gap in every seed: no spread, no t
    assert gap == pytest.approx(0.1) and math.isnan(p)


def test_gap_interval_over_sentences_is_paired():
    rng = np.random.default_rng(1)
    b = rng.random(1000) < 0.8
    a = b.copy()
    a[np.flatnonzero(~b)[:10]] = True  # a = b but right on 10 more sentences: a gap of exactly 1 pt
    low, high = paired_gap_interval(a, b)
    # Resampling the two methods apart would give about +-3.5 pt; pairing sees only the 10 sentences.
    assert 0.0 < low < 0.01 < high < 0.02
    assert paired_gap_interval(b, b) == (0.0, 0.0)
    # Answers averaged over seeds (fractions of seeds right) work the same way.
    low, high = paired_gap_interval(np.full(500, 0.6), np.full(500, 0.4))
    assert low == pytest.approx(0.2) and high == pytest.approx(0.2)


def test_pack_halves_the_weights_and_the_project_loads_them_back_in_fp32(tiny_model, tiny_data, tmp_path):
    import torch
    from safetensors.torch import load_file

    from bench.pack import main as pack
    from sentiment_lab.training.backbone import load_classifier, load_tokenizer

    pack([str(tmp_path / "p"), "--model", str(tiny_model), "--data", str(tiny_data)])
    original = load_file(tiny_model / "model.safetensors")
    packed = load_file(tmp_path / "p" / "minilm" / "model.safetensors")
    assert packed.keys() == original.keys() and all(
        v.dtype == torch.float16 for v in packed.values() if v.is_floating_point()
    )
    model = load_classifier(str(tmp_path / "p" / "minilm"), {0: "neg", 1: "pos"})
    words = model.get_input_embeddings().weight
    assert words.dtype == torch.float32  # AdamW must not train in half precision
    assert torch.equal(words, original["embeddings.word_embeddings.weight"].half().float())
    text = "a great film"
    assert (
        load_tokenizer(str(tmp_path / "p" / "minilm"))(text).input_ids
        == load_tokenizer(str(tiny_model))(text).input_ids
    )
    for split in ("train", "validation", "test"):
        assert (tmp_path / "p" / "data" / f"{split}.parquet").read_bytes() == (
            tiny_data / f"{split}.parquet"
        ).read_bytes()


def test_pack_names_the_splits_a_data_folder_lacks(tmp_path, tiny_data):
    from bench.pack import pack_data

    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "train.parquet").write_bytes((tiny_data / "train.parquet").read_bytes())
    with pytest.raises(SystemExit, match="lacks the split\\(s\\) validation, test"):
        pack_data(tmp_path / "d", tmp_path / "out")


def test_levers_climb_a_ladder_and_interleaving_gives_every_variant_every_batch(monkeypatch):
    import bench.levers as levers

    assert levers.levers("int-attention") == {"fused", "math-attention", "int-dropout", "kept-grad", "int-attention"}
    assert levers.levers("cast-once") == levers.levers("int-attention") | {"cast-once"}
    assert levers.levers("first-token") == levers.levers("cast-once") | {"first-token"}
    assert levers.levers("math-attention") == {"fused", "math-attention"}
    assert levers.levers("compile") == {"compile"} and levers.levers("foreach") == {"foreach"}

    seen = []

    class Fake:
        def __init__(self, variant, cfg, ds):
            self.variant = variant

        def step(self, inputs, y):
            seen.append((self.variant, inputs))
            return {"a": 0.1, "b": 0.2}[self.variant]

    class Batches:
        def __init__(self, *args):
            pass

        def epoch(self, epoch):
            return iter([(i, None) for i in range(5)])

    monkeypatch.setattr(levers, "Stepper", Fake)
    monkeypatch.setattr(levers, "TokenBatches", Batches)
    ds = type("DS", (), {"splits": {"train": None}})()
    rates = levers.interleaved(["a", "b"], None, ds, type("T", (), {"pad_token_id": 0}), steps=3, warmup=2)
    assert sorted(seen) == sorted((v, i) for v in "ab" for i in range(5))
    assert [v for v, _ in seen[:4]] == ["a", "b", "b", "a"]  # the order turns each step
    assert rates[0][0] == pytest.approx(3 * 16 / 0.3) and rates[1] == pytest.approx((3 * 16 / 0.6, 0.4))


def test_throughput_repeats_take_the_median_of_each_pairs_ratio():
    from bench.throughput import summary

    # The machine slowed down between pairs: both sides of the second pair slowed alike.
    out = summary([(40.0, 120.0), (20.0, 64.0), (38.0, 110.0)])
    assert out["ratios"] == pytest.approx([3.0, 3.2, 110 / 38])
    assert out["ratio"] == pytest.approx(3.0)  # not median(ours) / median(trainer) = 110 / 38
    assert (out["trainer"], out["ours"]) == (38.0, 110.0)
    assert summary([(10.0, 25.0)])["ratio"] == 2.5


def test_gpu_bench_dry_run_measures_all_five_methods(tiny_models, tiny_data, monkeypatch):
    """`bench.gpu --device cpu` runs the whole script a GPU session would run, every method, on a tiny model."""
    from bench import gpu

    ds, tok = prepared(tiny_models["bert"], tiny_data)
    written = {}
    monkeypatch.setattr(gpu, "write_json", lambda name, payload: written.update({name: payload}))
    args = argparse.Namespace(
        methods=",".join(METHODS),
        batches="4,8",
        data=str(tiny_data),
        device="cpu",
        compile="full,adapters",
        bucket=8,
        compile_backend="aot_eager",  # dynamo and autograd's tracing without inductor's compile time
    )
    try:
        gpu.measure(args, 2, "cpu", 1e12, tok, ds, str(tiny_models["bert"]))
    finally:  # the Trainer and our loop set accelerate's process-wide state; later tests set their own
        fresh_accelerator_state()
    measured = written["gpu"]["methods"]
    assert list(measured) == [m for m in METHODS if m != "svm"] + ["svm"]
    for method in ("full", "lora", "adapters", "freeze"):
        assert measured[method]["trainer_fp32_b16"] > 0
        rows = [measured[method][f"ours_bf16_b{b}"] for b in (4, 8)]
        assert all(r["samples_per_s"] > 0 for r in rows)
        assert all(math.isnan(r["flops_per_s"]) == (method == "freeze") for r in rows)  # freeze's are not counted
    for method in ("full", "adapters"):  # steady, then compiled over length buckets
        steady, over_buckets = measured[method]["ours_bf16_b4_steady"], measured[method]["ours_bf16_b4_compiled"]
        assert steady["samples_per_s"] > 0 and over_buckets["samples_per_s"] > 0 and over_buckets["warm_s"] > 0
        assert steady["padding_share"] == 0 and 0 < over_buckets["padding_share"] < 1
    assert "ours_bf16_b4_compiled" not in measured["lora"]
    svm = measured["svm"]
    assert svm["plain_sentences_per_s"] > 0 and svm["ours_sentences_per_s"] > 0
    assert svm["cosine"] > 0.999  # both fp32 on a CPU: the same features
    [cut] = written["gpu"]["query_cut"]  # a CPU has one kernel to check: the math one
    assert cut["kernel"] == "MATH" and cut["logits_gap"] < 1e-5 and cut["grad_gap"] < 1e-4


def test_gpu_bench_names_an_unknown_method(capsys):
    from bench import gpu

    with pytest.raises(SystemExit):
        gpu.main(["--methods", "full,lorra", "--device", "cpu"])
    assert "unknown method(s): lorra" in capsys.readouterr().err


def test_bucket_batches_pad_to_the_bucket_and_warm_up_on_each_shape_the_timed_steps_meet(tiny_model, tiny_data):
    from bench.compiled import EVERY, BucketBatches

    ds, tok = prepared(tiny_model, tiny_data)
    split = ds.splits["train"]
    batches = BucketBatches(split, tok.pad_token_id, 4, bucket=4, timed=6)
    timed = batches._batches(0)[:6]
    shapes = {(len(idx), batches.width(idx)) for idx in timed}
    assert all(w % 4 == 0 and w >= split.lengths()[idx].max() for idx in timed for w in [batches.width(idx)])
    # Each shape the timed steps meet is warmed up at least three times, in a multiple of EVERY steps.
    warm = [(len(idx), batches.width(idx)) for idx in batches.warm]
    assert set(warm) == shapes and min(warm.count(s) for s in shapes) >= 3 and len(warm) % EVERY == 0
    first = list(batches.epoch(0))
    assert len(first) == len(batches.warm) + len(batches)
    inputs, y = first[len(batches.warm)]  # the first timed batch: padded with the pad id and a zero mask
    idx = timed[0]
    assert inputs["input_ids"].shape == (len(idx), batches.width(idx)) and y.tolist() == list(split.labels[idx])
    n = inputs["attention_mask"].sum(1)
    assert n.tolist() == list(split.lengths()[idx])
    assert all((row[k:] == tok.pad_token_id).all() for row, k in zip(inputs["input_ids"], n.tolist()))
    assert len(list(batches.epoch(1))) == len(batches)  # later epochs have no warm-up
    assert BucketBatches(split, tok.pad_token_id, 4, bucket=0, timed=6).width(idx) == split.lengths()[idx].max()


def test_gpu_bench_refuses_a_method_it_cannot_compile(capsys):
    from bench import gpu

    with pytest.raises(SystemExit):
        gpu.main(["--compile", "full,svm", "--device", "cpu"])
    assert "--compile: svm cannot be compiled; choose from full, lora, adapters" in capsys.readouterr().err


def test_gpu_bench_records_a_compiler_failure_and_keeps_the_rest(monkeypatch, capsys):
    from bench import gpu

    def failing(*args):
        yield "ours_bf16_b16_steady", "ours, steady", {"samples_per_s": 1.0}, ["1"] * 6
        raise RuntimeError("inductor: no C compiler")

    monkeypatch.setattr(gpu, "compiled_rows", failing)
    monkeypatch.setattr(gpu.RunConfig, "validated", lambda self: self)
    args = argparse.Namespace(compile="full", batches="16,128", data="d", device="cpu")
    out = {"methods": {"full": {"trainer_fp32_b16": 10.0}, "lora": {"trainer_fp32_b16": 5.0}}}
    gpu.compiled_section(args, 60, ["full", "lora"], "m", None, None, None, None, 1.0, out)
    assert out["methods"]["full"]["compile_error"] == "RuntimeError: inductor: no C compiler"
    assert out["methods"]["full"]["ours_bf16_b16_steady"] == {"samples_per_s": 1.0}  # measured before the failure
    assert out["methods"]["lora"] == {"trainer_fp32_b16": 5.0}  # not named by --compile
    assert "full compiled: RuntimeError: inductor: no C compiler" in capsys.readouterr().out


def test_the_readme_shows_the_accuracy_command_without_the_machines_output_folder():
    from bench.accuracy import shown_command

    assert shown_command(["--seeds", "42,43", "--out", "/some/disk/runs", "--readme"]) == (
        "python -m bench.accuracy --seeds 42,43 --readme"
    )
    assert shown_command(["--out=/x", "--methods", "full"]) == "python -m bench.accuracy --methods full"


def test_runs_at_once_baseline_differs_from_the_queues_line_by_the_thread_share_alone(tmp_path, monkeypatch):
    from bench.runs_at_once import FLAG, every_core
    from sentiment_lab.runs.launch import ENV_APP_OWN, launch_command
    from sentiment_lab.training.config import RunConfig

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    for name in ("SENTIMENT_LAB_NUM_PROCESSES", "SENTIMENT_LAB_ACCELERATE_CONFIG", "OMP_NUM_THREADS", ENV_APP_OWN):
        monkeypatch.delenv(name, raising=False)
    RunConfig.of().save(tmp_path / "config.json")
    ours = launch_command("r", tmp_path, ["--x"], runs=2)
    base = every_core("r", tmp_path, ["--x"], runs=2)
    at = ours.index(FLAG)
    assert base == ours[:at] + ours[at + 2 :] and FLAG not in base


def test_ceiling_counts_the_trainers_padding_and_our_last_layer_cut():
    from bench.ceiling import linear_work

    # Equal lengths: no padding on either side, so the ratio is the last layer's cut alone.
    same = linear_work(np.full(64, 10), layers=6)
    assert same["trainer_tokens"] == same["ours_tokens"] == 640
    assert same["ratio"] == pytest.approx((640 * 72) / (640 * 62 + 64 * 10))
    # A few long sentences pad every batch of the Trainer's they fall in; length grouping puts them in one.
    lengths = np.array([5] * 60 + [50] * 4)
    mixed = linear_work(lengths, layers=6)
    assert mixed["real_tokens"] == 5 * 60 + 50 * 4
    assert mixed["ours_tokens"] == 16 * 50 + 48 * 5
    assert mixed["trainer_tokens"] > mixed["ours_tokens"]


def test_oom_bench_dry_run_trains_on_in_parts_to_the_same_model(tiny_models, tiny_data, monkeypatch):
    """`bench.oom --device cpu` runs the script a GPU session would run, the device's error simulated."""
    from bench import oom

    monkeypatch.setattr(oom, "distilbert_folder", lambda tok, labels, folder: str(tiny_models["bert"]))
    monkeypatch.setattr(oom, "write_json", lambda name, payload: None)
    # In fp32 the parts sum to the whole batch's gradient to rounding; bf16 autocast, where the CPU has it, would not.
    argv = ["--device", "cpu", "--bf16", "off", "--batch", "8", "--steps", "3", "--tokenizer", str(tiny_models["bert"])]
    try:
        payload = oom.main([*argv, "--data", str(tiny_data)])
    finally:
        fresh_accelerator_state()
    whole, capped = payload["runs"]["whole"], payload["runs"]["capped"]
    assert (whole["micro_batches"], capped["micro_batches"]) == (1, 4) and whole["steps"] == capped["steps"] == 3
    assert payload["logit_gap"] < 1e-4


def _accuracy_runs(folder, vals: dict[int, float], method: str = "freeze"):
    """bench.accuracy's run folders with only what bench.rule reads: results and two evaluations each."""
    import json

    for seed, val in vals.items():
        run = folder / f"{method}-s{seed}-e3"
        run.mkdir(parents=True)
        results = {"validation": {"accuracy": val}, "test": {"accuracy": val}, "train_seconds": 1.0}
        (run / "results.json").write_text(json.dumps(results))
        rows = [{"step": 1, "eval_loss": 0.6, "eval_accuracy": val - 0.01}, {"step": 2, "eval_loss": 0.5}]
        (run / "metrics.jsonl").write_text("\n".join(json.dumps({"eval_accuracy": val, **r}) for r in rows))


def test_the_rule_asks_ten_seeds_half_a_point_and_a_paired_p_under_five_percent(tmp_path, capsys, monkeypatch):
    """A variant ahead by 1 pt with a little spread meets it over ten seeds; over nine, or ahead by 0.3 pt, or
    ahead by 1 pt on the mean from one lucky seed (p over 0.05), it does not. Seeds only one side has are left out."""
    from bench import rule

    written = {}
    monkeypatch.setattr(rule, "write_json", lambda name, payload: written.update({name: payload}))
    rng = np.random.default_rng(0)
    base = {s: 0.80 + 0.01 * rng.standard_normal() for s in range(42, 53)}
    cases = {
        "ahead": ({s: v + 0.010 + 0.002 * rng.standard_normal() for s, v in base.items() if s < 52}, True),
        "nine": ({s: v + 0.010 + 0.002 * rng.standard_normal() for s, v in base.items() if s < 51}, False),
        "small": ({s: v + 0.003 + 0.002 * rng.standard_normal() for s, v in base.items() if s < 52}, False),
        "lucky": ({s: v + (0.10 if s == 42 else 0.0) for s, v in base.items() if s < 52}, False),
    }
    _accuracy_runs(tmp_path / "textbook", base)
    for name, (vals, meets) in cases.items():
        _accuracy_runs(tmp_path / name, vals)
        rule.main([str(tmp_path / "textbook"), str(tmp_path / name)])
        said = capsys.readouterr().out
        assert ("the variant meets the rule" in said) == meets, (name, said)
        assert f"seeds {','.join(map(str, sorted(vals)))}:" in said
        assert written["rule"]["meets"] == meets and written["rule"]["seeds"] == sorted(vals)
    assert rule.verdict(rule.by_seed(tmp_path / "textbook", "freeze"), rule.by_seed(tmp_path / "ahead", "freeze"))[
        "ahead"
    ] == sum(cases["ahead"][0][s] > base[s] for s in cases["ahead"][0])
    with pytest.raises(SystemExit):
        rule.main([str(tmp_path / "textbook"), str(tmp_path / "ahead"), "--method", "lora"])  # no LoRA runs there
    assert "no finished lora runs in" in capsys.readouterr().err


def _seed_free_runs(folder, right: np.ndarray, seeds=range(42, 52), changed_seed: int | None = None):
    """SVM runs whose validation answers (right or wrong on each sentence) are the same for every seed but one."""
    import json

    _accuracy_runs(folder, {s: float(right.mean()) for s in seeds}, method="svm")
    labels = [i % 2 for i in range(len(right))]
    for seed in seeds:
        pred = [y if ok else 1 - y for y, ok in zip(labels, right)]
        if seed == changed_seed:  # the same accuracy, other answers: two sentences swap right and wrong
            first_right, first_wrong = int(np.argmax(right)), int(np.argmin(right))
            for i in (first_right, first_wrong):
                pred[i] = 1 - pred[i]
        answers = {"pred": pred, "label": labels}
        (folder / f"svm-s{seed}-e3" / "validation_predictions.json").write_text(json.dumps(answers))


def test_the_rule_tests_a_method_the_seed_does_not_change_over_its_validation_sentences(tmp_path, capsys, monkeypatch):
    """Runs with the same answers in every seed leave the t-test nothing to measure: McNemar over the validation
    sentences decides. 3 pt ahead on 1,000 sentences (30 more right, none fewer) meets the rule; 1 pt ahead from 60
    sentences right only for the variant against 50 only for the textbook does not (p about 0.4), nor does a 3 pt
    lead where one seed's answers differ (back to the t-test, which has no spread to test)."""
    from bench import rule

    monkeypatch.setattr(rule, "write_json", lambda name, payload: None)
    textbook = np.zeros(1000, dtype=bool)
    textbook[:700] = True
    _seed_free_runs(tmp_path / "textbook", textbook)
    clear = textbook.copy()
    clear[700:730] = True
    close = textbook.copy()
    close[:50], close[700:760] = False, True
    cases = {"clear": (clear, None, True), "close": (close, None, False), "one-seed-differs": (clear, 47, False)}
    for name, (right, changed, meets) in cases.items():
        _seed_free_runs(tmp_path / name, right, changed_seed=changed)
        rule.main([str(tmp_path / "textbook"), str(tmp_path / name), "--method", "svm"])
        said = capsys.readouterr().out
        assert ("the variant meets the rule" in said) == meets, (name, said)
        assert ("exact McNemar test over 1,000 validation sentences" in said) == (changed is None), (name, said)
