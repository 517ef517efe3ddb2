"""Every method on every encoder family: a tiny random model of each trains one epoch, and the README's
loading lines (transformers, PEFT, safetensors alone) give the app's probabilities for the saved run."""

from __future__ import annotations

import re
import sys
import time
import warnings

import numpy as np
import pytest
from conftest import FAMILIES, ROOT, build_tiny, train_one

from sentiment_lab.runs.queue import JobManager
from sentiment_lab.training.config import METHODS
from sentiment_lab.training.records import read_results

TEXTS = ["a great and moving film", "the plot was dull , boring and flat", "unknownword movie", "fun"]
# The app's probabilities and the standard tools' differ only by float rounding (batching, op order).
TOLERANCE = 1e-4


def readme_blocks() -> dict[str, str]:
    """The README's loading snippets, keyed by the method named on their first line."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Loading a finished run with the standard tools") :]
    section = section[: section.index("\n## ", 1)]
    blocks = re.findall(r"```python\n# (\w+)\n(.*?)```", section, re.S)
    return {method: code for method, code in blocks}


@pytest.fixture(scope="module")
def family_models(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("families")
    return {kind: build_tiny(kind, root / kind) for kind in FAMILIES}


def test_the_readme_has_a_loading_snippet_for_every_method():
    assert set(readme_blocks()) == set(METHODS)


def app_probabilities(root, method: str, run_id: str, monkeypatch) -> np.ndarray:
    import sentiment_lab.serving.predict as predict

    monkeypatch.setattr(predict, "cpu_has_native_bf16", lambda: False)  # the app in fp32, as the snippets run
    app = predict.Predictor(JobManager(root)).predict_many(TEXTS, {method: run_id})[method]
    assert "error" not in app, app
    return np.asarray(app["probabilities"])


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_method_trains_on_every_family_and_loads_with_the_standard_tools(
    family, method, family_models, tiny_data, isolated_checkpoints, monkeypatch
):
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


@pytest.fixture(scope="module")
def decoders_without_padding(tmp_path_factory) -> dict:
    """A tiny GPT-2 and a tiny Llama whose byte-level BPE tokenizer, as theirs, has an end-of-text token and no
    padding one."""
    import transformers
    from conftest import FILLER, NEGATIVE, POSITIVE
    from tokenizers import ByteLevelBPETokenizer

    bpe, end = ByteLevelBPETokenizer(), "<|endoftext|>"
    bpe.train_from_iterator([" ".join(POSITIVE + NEGATIVE + FILLER)] * 10, vocab_size=300, special_tokens=[end])
    tokenizer = transformers.GPT2TokenizerFast(
        tokenizer_object=bpe._tokenizer, eos_token=end, bos_token=end, unk_token=end
    )
    assert tokenizer.pad_token is None
    size, ends = len(tokenizer), dict(bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id)
    configs = {
        "gpt2": transformers.GPT2Config(vocab_size=size, n_embd=32, n_layer=2, n_head=2, n_positions=64, **ends),
        "llama": transformers.LlamaConfig(
            vocab_size=size,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=2,
            max_position_embeddings=64,
            **ends,
        ),
    }
    folders = {}
    for kind, config in configs.items():
        folders[kind] = tmp_path_factory.mktemp(kind)
        tokenizer.save_pretrained(folders[kind])
        transformers.AutoModel.from_config(config).save_pretrained(folders[kind])
    return folders


# GPT-2's Conv1D projections take neither LoRA nor adapters (refused by name, above).
@pytest.mark.parametrize(
    "kind, method", [("gpt2", m) for m in ("svm", "full", "freeze")] + [("llama", m) for m in METHODS]
)
def test_a_model_whose_tokenizer_has_no_padding_token_trains_and_loads_with_the_standard_tools(
    kind, method, decoders_without_padding, tiny_data, isolated_checkpoints, monkeypatch
):
    """GPT-2's and Llama's tokenizers have no padding token: every run failed at its first batch, and Compare's
    batches failed for LoRA and adapters. They pad with the end-of-text token, as transformers' guides do, and
    their heads find each sentence's last token by that id."""
    root, run_id = isolated_checkpoints, f"{kind}-{method}"
    train_one(str(decoders_without_padding[kind]), method, tiny_data, root, run_id)
    app = app_probabilities(root, method, run_id, monkeypatch)  # four reviews in one batch
    scope = {"run": str(root / run_id / "artefacts"), "texts": list(TEXTS)}
    exec(compile(readme_blocks()[method], f"README.md ({method})", "exec"), scope)
    assert np.abs(np.asarray(scope["probs"], dtype=np.float64) - app).max() <= TOLERANCE


# Where each method's saved files name the base model.
BASE_NAMED_IN = {
    "lora": ("adapter_config.json", "base_model_name_or_path"),
    "adapters": ("adapters.json", "base_model"),
    "freeze": ("head.json", "base_model"),
    "svm": ("svm.json", "base_model"),
}


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains_on_the_bundled_minilm(method, isolated_checkpoints, monkeypatch):
    """The real encoder on 128 real sentences; its saved runs name it by its Hub id."""
    import json

    from conftest import SHARED_DATA

    root, run_id = isolated_checkpoints, f"minilm-{method}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train_one("minilm", method, SHARED_DATA, root, run_id)
    # Saving asks nothing of the Hub (offline, PEFT warned it could not find the base model's config).
    assert not [w for w in caught if "Could not find a config" in str(w.message)]
    probs = app_probabilities(root, method, run_id, monkeypatch)
    assert probs.shape == (len(TEXTS), 2) and np.allclose(probs.sum(1), 1, atol=1e-5)
    artefacts = root / run_id / "artefacts"
    if method == "full":  # a whole model: it names no base, it carries the label names
        assert json.loads((artefacts / "config.json").read_text())["id2label"] == {"0": "neg", "1": "pos"}
        return
    file, key = BASE_NAMED_IN[method]
    assert json.loads((artefacts / file).read_text())[key] == "sentence-transformers/all-MiniLM-L6-v2"


def test_a_model_a_method_cannot_train_is_refused_before_it_is_queued(family_models, tiny_data, tmp_path):
    """GPT-2's projections are Conv1D, not linear layers: LoRA and adapters say so at submit, no run folder is made."""
    import transformers

    from sentiment_lab.training.config import ConfigError
    from sentiment_lab.ui.services import Services

    gpt2 = tmp_path / "gpt2"
    transformers.GPT2Model(
        transformers.GPT2Config(vocab_size=60, n_embd=32, n_layer=2, n_head=2, n_positions=64)
    ).save_pretrained(gpt2)
    transformers.BertTokenizerFast(
        vocab={w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a"])}
    ).save_pretrained(gpt2)
    services = Services(tmp_path / "runs")
    for method in ("lora", "adapters"):
        with pytest.raises(
            ConfigError,
            match=f"{method} cannot train model .*gpt2.*no encoder layer of this 'gpt2' model has an attention block",
        ):
            services.submit({"method": method, "model": str(gpt2)})
    with pytest.raises(ConfigError, match="no-such-org/no-such-model.*could not be loaded"):
        services.submit({"method": "full", "model": "no-such-org/no-such-model"})
    assert services.jobs.list() == []
    # Train all five queues the three methods that can train it and says which two it left out, and why.
    services.jobs = JobManager(tmp_path / "runs", launcher=lambda run_id, folder, args, **_: [sys.executable, "-c", ""])
    done = services.submit_all({"method": "lora", "model": str(gpt2), "dataset": str(tiny_data)})
    assert sorted(r["method"] for r in services.jobs.list()) == ["freeze", "full", "svm"]
    assert len(done.ids) == 3
    left_out = [w for w in done.warnings if w.startswith("not queued")]
    assert [w.split(":")[1].split()[0] for w in left_out] == ["lora", "adapters"]
    assert all("has an attention block of linear layers (nn.Linear)" in w for w in left_out)


def sentencepiece_folder(folder):
    """A DeBERTa-v3-like model folder whose tokenizer is only a SentencePiece model, as the Hub's is."""
    import json

    import sentencepiece
    import transformers
    from conftest import tiny_texts

    folder.mkdir()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(tiny_texts(200, 0)["text"].tolist()),
        model_prefix=str(folder / "spm"),
        vocab_size=40,
        pad_id=0,
        unk_id=1,
        bos_id=2,
        eos_id=3,
        user_defined_symbols=["[CLS]", "[SEP]", "[MASK]"],
        hard_vocab_limit=False,
        minloglevel=2,
    )
    (folder / "spm.vocab").unlink()
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "DebertaV2Tokenizer"}))
    size = len(transformers.AutoTokenizer.from_pretrained(folder))  # its special tokens too
    config = transformers.DebertaV2Config(
        vocab_size=size, pad_token_id=0, **{k: v for k, v in FAMILIES["deberta-v2"][1].items() if k != "pad_token_id"}
    )
    transformers.AutoModel.from_config(config).save_pretrained(folder)
    return folder


def test_a_sentencepiece_only_tokenizer_trains_with_the_packages_the_setup_installs(
    tiny_data, isolated_checkpoints, tmp_path
):
    folder = sentencepiece_folder(tmp_path / "deberta-v3")
    assert not (folder / "tokenizer.json").exists()
    train_one(str(folder), "lora", tiny_data, isolated_checkpoints, "deberta-v3-lora")


def test_a_tokenizer_that_needs_a_missing_package_names_it(tmp_path, monkeypatch):
    import importlib.util

    import sentiment_lab.training.backbone as backbone

    folder = sentencepiece_folder(tmp_path / "deberta-v3")
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "sentencepiece" else real(name, *a)
    )

    def fails_as_without_it(loader, name, **kwargs):  # what transformers says without sentencepiece
        raise backbone.ModelLoadError(
            f"model {name!r} could not be loaded: tiktoken is required to read a tiktoken file"
        )

    monkeypatch.setattr(backbone, "_load", fails_as_without_it)
    with pytest.raises(backbone.ModelLoadError, match="needs the sentencepiece package, which is not installed"):
        backbone.load_tokenizer(str(folder))


def test_a_run_says_what_it_does_before_its_first_step(tiny_models, tiny_data, tmp_path, monkeypatch, capsys):
    """An SVM run spends minutes on features and a fit with no training step to count: the runs table shows
    each phase rather than a bare dash, and a run past them shows none."""
    import sentiment_lab.training.runner as runner
    from sentiment_lab import jobs
    from sentiment_lab.ui.tables import runs_frame

    said, write = [], runner.write_status
    monkeypatch.setattr(runner, "write_status", lambda folder, state, **extra: said.append(extra.get("phase", "-"))
                        or write(folder, state, **extra))  # fmt: skip
    train_one(tiny_models["bert"], "svm", tiny_data, tmp_path, "svm-run")
    phases = [p if p in (None, "-") else p["name"] for p in said]
    assert phases[0] is None and "features" in phases and phases[-2:] == ["fit", None], phases  # None: done
    features = [p for p in said if p not in (None, "-") and p["name"] == "features"]
    assert features[0]["total"] == 64 + 16 + 16 and all(0 < p["done"] <= p["total"] for p in features)
    assert len({p["since"] for p in features}) == 1  # when the features began: their time left follows
    folder, jm = tmp_path / "svm-run", JobManager(tmp_path)
    assert jm.describe("svm-run")["phase"] is None  # done: no phase shown
    for phase, shown in (
        ({"name": "features", "done": 38, "total": 100}, "features 38%"),
        # 90 sentences in 90.5 s: the 10 left take 10 s at that pace (and still do 8 s later)
        ({"name": "features", "done": 90, "total": 100, "since": time.time() - 90.5}, "features 90% · 10s left"),
        ({"name": "fit"}, "fitting"),
    ):
        write(folder, "running", phase=phase)
        assert runs_frame([{**jm.describe("svm-run"), "step": 0, "total_steps": None}])["progress"][0] == shown
        (folder / "metrics.jsonl").write_text("")  # no step yet, as before a run's first one
        monkeypatch.setenv("SENTIMENT_LAB_CHECKPOINTS", str(tmp_path))
        assert jobs.main(["list"]) == 0 and f"running               {shown} best -" in capsys.readouterr().out


def test_the_cls_state_is_refused_where_the_first_token_is_no_cls_token(
    decoders_without_padding, family_models, tiny_data, tmp_path
):
    """Llama's first token is the same <s> for every sentence: its [CLS]-state features were one point, and the SVM
    and the head-only method answered at chance without a word said."""
    from sentiment_lab.training.config import RunConfig
    from sentiment_lab.training.methods import MethodUnfit
    from sentiment_lab.training.records import read_status
    from sentiment_lab.training.runner import Runner
    from sentiment_lab.ui.services import Services

    services = Services(tmp_path / "runs")
    services.jobs = JobManager(tmp_path / "runs", launcher=lambda run_id, folder, args, **_: [sys.executable, "-c", ""])
    for kind in ("gpt2", "llama"):
        for method in ("svm", "freeze"):
            form = {"method": method, "model": str(decoders_without_padding[kind]), "dataset": str(tiny_data)}
            with pytest.raises(MethodUnfit, match=r"the \[CLS\] state reads each sentence's first token, and .* puts"):
                services.submit({**form, "pooling": "cls"})
            services.submit(form)  # the token mean reads them all
    for kind in ("bert", "xlm-roberta", "deberta-v2"):  # their tokenizers' [CLS] (here, all WordPiece) comes first
        services.submit({"method": "svm", "model": str(family_models[kind]), "pooling": "cls"})
    cfg = RunConfig.of(method="svm", model=str(decoders_without_padding["llama"]), dataset=str(tiny_data))
    cfg.features.pooling = "cls"
    assert Runner(cfg.validated(), tmp_path / "direct", progress=False).run() == 1  # started without the queue
    assert "not a [CLS] token: pick the token mean" in read_status(tmp_path / "direct")["error"]


def test_a_model_that_reads_one_input_length_only_is_refused_before_it_is_queued(tiny_data, tmp_path):
    """Nystromformer's segment means need inputs of exactly its segment length: every method failed at its first
    step with a shape error, after the run was queued."""
    import transformers
    from conftest import SMALL, tiny_vocab

    from sentiment_lab.training.config import ConfigError, RunConfig
    from sentiment_lab.training.records import read_status
    from sentiment_lab.training.runner import Runner
    from sentiment_lab.ui.services import Services

    folder = tmp_path / "nystromformer"
    config = transformers.NystromformerConfig(
        **SMALL, vocab_size=len(tiny_vocab()), max_position_embeddings=80, segment_means_seq_len=64, num_landmarks=8
    )
    transformers.AutoModel.from_config(config).save_pretrained(folder)
    transformers.BertTokenizerFast(vocab=tiny_vocab(), do_lower_case=True).save_pretrained(folder)
    services = Services(tmp_path / "runs")
    for method in ("svm", "lora"):
        with pytest.raises(ConfigError, match="reads inputs of exactly 64 tokens only"):
            services.submit({"method": method, "model": str(folder), "dataset": str(tiny_data)})
    assert services.jobs.list() == []
    cfg = RunConfig.of(method="full", model=str(folder), dataset=str(tiny_data), epochs=1, device="cpu", bf16="off")
    assert Runner(cfg.validated(), tmp_path / "run", progress=False).run() == 1  # started without the queue's check
    assert "reads inputs of exactly 64 tokens only" in read_status(tmp_path / "run")["error"]
