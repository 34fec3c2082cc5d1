"""Training curves of a run folder: its log read back, drawn to ``training_curves.png``.

Reads what `hamlearn.training.loop.RunLog` writes (``log.jsonl`` with ``kind``
'train' / 'val', or ``train.csv`` + ``val.csv``) without trusting the last line: a run
killed mid-write leaves a partial record, which is skipped. The figure itself is
`hamlearn.plotting.training_curve_panels`.

Example:
    >>> plot_training_curves("runs/quickstart")  # doctest: +SKIP
    PosixPath('runs/quickstart/training_curves.png')
"""

from __future__ import annotations

import csv
import json
import logging
import os
from pathlib import Path

from hamlearn.plotting import training_curve_panels

log = logging.getLogger("hamlearn.training")

CURVES_PNG = "training_curves.png"


def read_log(workdir: str | Path) -> dict[str, list[dict]]:
    """The 'train' and 'val' records of a run folder, damaged lines skipped.

    Args:
        workdir: run folder with ``log.jsonl`` (preferred when present) or
            ``train.csv`` / ``val.csv``.

    Returns:
        ``{'train': [...], 'val': [...]}`` in file order, numbers as int/float.
    """
    workdir = Path(workdir)
    out: dict[str, list[dict]] = {"train": [], "val": []}
    jsonl = workdir / "log.jsonl"
    if jsonl.is_file():
        for line in jsonl.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a kill, or an empty one
            if isinstance(rec, dict) and rec.get("kind") in out:
                out[rec["kind"]].append(rec)
        return out
    for kind in out:
        path = workdir / f"{kind}.csv"
        if not path.is_file():
            continue
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                if None in row or any(v is None for v in row.values()):
                    continue  # too many or too few fields: a cut line
                out[kind].append({k: _number(v) for k, v in row.items()})
    return out


def _number(text: str):
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return {"True": True, "False": False}.get(text, text)


def plot_training_curves(workdir: str | Path) -> Path | None:
    """Write ``training_curves.png`` into a run folder: loss (train epoch means and
    validation) and one validation-MAE panel per target against epoch.

    Args:
        workdir: run folder of `hamlearn.training.run.train` (or a direct surrogate's).

    Returns:
        the PNG's path, or None when the folder's log has no train steps (no log yet, or a
        direct surrogate's closed-form fit, whose log holds validation rows only).
    """
    from matplotlib.figure import Figure  # no pyplot: no backend, no global figure list

    workdir = Path(workdir)
    records = read_log(workdir)
    if not records["train"]:
        return None
    fig = training_curve_panels(records["train"], records["val"],
                                fig=Figure(layout="constrained"))
    ncols = min(len(fig.axes), 3)
    fig.set_size_inches(4.2 * ncols, 3.2 * -(-len(fig.axes) // ncols))
    path = workdir / CURVES_PNG
    tmp = path.with_name(path.name + ".tmp")
    fig.savefig(tmp, dpi=110, format="png")
    os.replace(tmp, path)  # never a half-written PNG
    log.info("training curves: %s", path)
    return path
