"""How many training sentences a run's max length cuts, said before the run is queued and in its log."""

from __future__ import annotations

from sentiment_lab.training.backbone import length_cut, load_config, load_tokenizer, token_limit
from sentiment_lab.training.config import RunConfig
from sentiment_lab.training.data import Dataset, subsample

SAMPLE = 2000  # sentences tokenised for the estimate: a bounded cost at submit, whatever the dataset's size
SAY_ABOVE = 0.01  # the share of cut sentences worth a word


def cut_warning(cfg: RunConfig, ds: Dataset, tokenizer=None, length: int | None = None) -> list[str]:
    """What to say when the run's max length (cut to what its model reads) cuts more than SAY_ABOVE of its
    training sentences, counted on a seeded sample of them: the model never reads their ends. `tokenizer` and
    `length`: the run's own, where it has them already (else read from its model)."""
    if tokenizer is None or length is None:
        tokenizer = load_tokenizer(cfg.model)
        length = length_cut(cfg.data.max_length, cfg.model, token_limit(tokenizer, load_config(cfg.model)))[0]
    train = subsample(ds.splits["train"], cfg.data.max_train_samples, cfg.seed)
    sample = subsample(train, SAMPLE, cfg.seed)
    if not len(sample):
        return []
    ids = tokenizer(sample.texts, truncation=False, verbose=False)["input_ids"]
    cut = sum(len(row) > length for row in ids)
    if cut <= SAY_ABOVE * len(ids):
        return []
    counted = (
        "the training sentences" if len(sample) == len(train) else f"a sample of {len(sample):,} training sentences"
    )
    return [
        f"max length {length} cuts {cut / len(ids):.0%} of {counted} ({cut:,}), their ends unread: a larger max "
        "length reads them whole"
    ]
