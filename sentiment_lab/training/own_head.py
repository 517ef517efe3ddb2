"""A model that is a sentiment classifier already (an SST-2 model, a finished full run): what becomes of its
trained head, said before a run is queued and in its log."""

from __future__ import annotations

from sentiment_lab.training.backbone import load_config
from sentiment_lab.training.config import RunConfig
from sentiment_lab.training.data import Dataset

# The methods that train on the model's own classification head (transformers' AutoModelForSequenceClassification);
# the SVM and the head-only method read the encoder's features and draw their own.
ON_ITS_HEAD = ("full", "lora", "adapters")


def head_warning(cfg: RunConfig, ds: Dataset, config=None) -> list[str]:
    """What to say when the run starts from a classifier's trained head: drawn anew where its classes are not
    as many as the data's, else taken over with its classes read as the data's in order. `config`: the model's,
    where the caller has it."""
    if cfg.method not in ON_ITS_HEAD:
        return []
    config = load_config(cfg.model) if config is None else config
    if not any(str(a).endswith("ForSequenceClassification") for a in getattr(config, "architectures", None) or ()):
        return []
    theirs = [str(config.id2label[i]) for i in sorted(config.id2label)]
    ours = [str(name) for name in ds.label_names]
    if len(theirs) != len(ours):
        return [
            f"{cfg.model} is a {len(theirs)}-class classifier already ({', '.join(theirs)}) and the data has "
            f"{len(ours)} classes: its head's output layer is drawn anew for them"
        ]
    if [t.lower() for t in theirs] == [o.lower() for o in ours]:
        return []
    return [
        f"{cfg.model} is a classifier already: training starts from its head, its classes "
        f"{', '.join(theirs)} read as the data's {', '.join(ours)}, in that order"
    ]
