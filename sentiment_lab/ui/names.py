"""Short names people can read for runs, and one colour per method, shared by every list, legend and table.

A run shows its typed name when it has one, else its method, its model and a counter (`LoRA minilm #3`);
the id stays one click away (the run's config view), since files and the API use it.
"""

from __future__ import annotations

from pathlib import PurePath

SHORT = {"svm": "SVM", "full": "Full", "lora": "LoRA", "freeze": "Freeze", "adapters": "Adapters"}
# One colour per method in every chart (Tableau 10): a method reads the same in the curves and in Compare.
METHOD_COLOURS = {"svm": "#9D755D", "full": "#4C78A8", "lora": "#F58518", "freeze": "#72B7B2", "adapters": "#B279A2"}
OTHER_COLOUR = "#BAB0AC"
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")  # runs of one method told apart
MAX_MODEL = 14


def own_name(model: str) -> str:
    """A model's last path or Hub-id part; a run's artefacts folder goes by its run's name."""
    path = PurePath(model)
    return (path.parent.name if path.name == "artefacts" else path.name) or model


def model_short(model: str | None) -> str:
    """The model's own name, cut to fit a chip."""
    name = own_name(str(model or "?"))
    return name if len(name) <= MAX_MODEL else name[: MAX_MODEL - 1] + "…"


def model_in_table(model: str | None) -> str:
    """A model as a results table shows it: a Hub id whole (`owner/name`), a local folder by its own name,
    since a machine's path fills the column and says little."""
    model = str(model or "")
    local = model.startswith(("/", ".", "~")) or model.count("/") > 1
    return own_name(model) if local else model


def display_names(rows: list[dict]) -> dict[str, str]:
    """{run id: name} for the runs in `rows` (JobManager.list rows); counters follow submission order, and
    a name two runs would share gets the later one's id suffix."""
    counters: dict[tuple, int] = {}
    names: dict[str, str] = {}
    for r in sorted(rows, key=lambda r: (r.get("submitted") or 0, r["id"])):
        if r.get("run_name"):
            name = r["run_name"]
        else:
            key = (r.get("method"), model_short(r.get("model")))
            counters[key] = counters.get(key, 0) + 1
            name = f"{SHORT.get(r.get('method'), r.get('method') or '?')} {key[1]} #{counters[key]}"
        if name in names.values():
            name = f"{name} ({r['id'][-4:]})"
        names[r["id"]] = name
    return names


def method_styles(methods: dict[str, str | None]) -> dict[str, dict]:
    """{run id: plotly line style}: the method's colour, and a dash per run within the method."""
    seen: dict[str | None, int] = {}
    styles = {}
    for run_id, method in methods.items():
        n = seen[method] = seen.get(method, -1) + 1
        styles[run_id] = {"color": METHOD_COLOURS.get(method, OTHER_COLOUR), "dash": DASHES[n % len(DASHES)]}
    return styles
