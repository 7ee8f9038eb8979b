"""Run folders (``WS/runs/{run}/``), the ``run`` table, and the paper-style result tables.

A single-fold run folder holds ``config.json``, ``metrics.csv`` (a row per epoch),
``best.pt``/``last.pt``, ``metrics.json`` (the final result), ``predictions.csv``,
``confusion.png`` and ``tsne.png``. A ``--fold all`` run folder holds one such folder per
fold (``fold1/`` … ``fold5/``, run names ``{run}/fold1`` …) and the aggregate:
``summary.csv``/``summary.md`` (per-class recall, UAR, WAR per fold, their mean — the
headline — and standard deviation, and the pooled predictions, in the layout of DFEW's
Tables 4–6), the pooled ``predictions.csv`` and ``confusion.png``, and ``metrics.json``.
"""

from __future__ import annotations

import csv
import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from dfew_build.emotions import NAMES
from dfew_build.errors import TrainingError
from dfew_build.tempfiles import remove_stale, temp_path

PAPER_NAMES = {"resnet3d_18": "3D Resnet18", "r3d_18": "R3D18", "r2plus1d_18": "R(2+1)D-18",
               "mc3_18": "MC3-18", "c3d": "C3D", "c3d_bn": "C3D (BN)", "p3d": "P3D",
               "i3d": "I3D-RGB", "vgg11_lstm": "VGG11+LSTM", "resnet18_lstm": "Resnet18+LSTM",
               "resnet18_lstm_basic": "Resnet18+LSTM (basic blocks)",
               "nr_dfernet": "NR-DFERNet", "former_dfer": "Former-DFER", "lfer_ldl": "LFER-LDL"}
LOSS_SUFFIX = {"ce": "", "center": ", center loss", "ecstfl": ", EC-STFL",
               "ecstfl_released": ", EC-STFL (released code)", "ldl": ", LDL",
               "combo": ", combo loss"}


def write_json(path: Path, data) -> None:
    tmp = temp_path(path)
    tmp.write_text(json.dumps(data, indent=2, default=_json_default) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def read_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TrainingError(f"cannot read {path} ({exc})") from None


def new_run_name(runs_dir: Path, model: str, loss: str, fold) -> str:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = f"{model}-{loss}-{'all' if fold == 'all' else f'fold{fold}'}-{stamp}"
    name, n = base, 1
    while (Path(runs_dir) / name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


def run_dir(workspace, name: str) -> Path:
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+(/fold\d+)?", name) or ".." in name:
        raise TrainingError(f"{name!r} is not a run name (see `ls {workspace.runs_dir}`)")
    return workspace.runs_dir / name


def run_config(workspace, name: str, *, action: str = "") -> dict:
    """The config.json of run ``name``. TrainingError when there is no such run, or its
    folder has no config.json: an empty folder (left by a ``train`` that was refused
    before this version checked everything first) is named as such, with the fix.
    ``action`` words the not-found case ("to resume")."""
    folder = run_dir(workspace, name)
    config = folder / "config.json"
    if config.is_file():
        return read_json(config)
    if folder.is_dir():
        if not any(folder.iterdir()):
            raise TrainingError(
                f"run {name!r} is an empty folder ({folder}): a `train` that stopped before "
                f"its first epoch left it; nothing is lost by deleting it: rm -r {folder}")
        raise TrainingError(
            f"run {name!r} has no config.json ({folder} holds "
            f"{', '.join(sorted(p.name for p in folder.iterdir())[:5])} but no config.json): "
            f"it is not a dfew-build run folder; move it out of {workspace.runs_dir}")
    raise TrainingError(f"no run {name!r}{' ' + action if action else ''}: {config} not "
                        f"found" + (f" (runs are in {workspace.runs_dir})" if action else ""))


def checkpoint_path(workspace, name: str, which: str, keep: str | None = None) -> Path:
    """``{run}/{which}.pt``; TrainingError saying why it is not there: removed by ``--keep``
    (use the other), or the run stopped before its first epoch ended (resume it)."""
    folder = run_dir(workspace, name)
    path = folder / f"{which}.pt"
    if path.is_file():
        return path
    other = "last" if which == "best" else "best"
    if (folder / f"{other}.pt").is_file():
        why = f" (the run kept only {other}.pt: --keep {keep})" if keep else ""
        raise TrainingError(f"run {name!r} has no {which}.pt{why}; use --checkpoint {other}")
    raise TrainingError(
        f"run {name!r} has no checkpoint: it stopped before its first epoch ended; continue "
        f"it with `dfew-build train --resume {name}`, or delete {folder}")


def kept_checkpoint(workspace, name: str) -> Path:
    """A run's weights for ``--init-from RUN``: best.pt, else last.pt."""
    folder = run_dir(workspace, name)
    run_config(workspace, name)
    if (folder / "best.pt").is_file():
        return folder / "best.pt"
    return checkpoint_path(workspace, name, "last")


def remove_stale_temporaries(workspace) -> list[Path]:
    """Delete the temporaries a killed ``train`` or ``evaluate`` left in WS/runs/ (their
    writer pid is gone; see ``dfew_build.tempfiles``)."""
    return remove_stale(workspace.runs_dir, recursive=True)


# -- metrics.csv ----------------------------------------------------------------------------

def append_metrics_row(path: Path, row: dict) -> None:
    """One row per epoch; the header is the first row's keys."""
    exists = path.is_file() and path.stat().st_size > 0
    if exists:
        with open(path, newline="", encoding="utf-8") as handle:
            fields = next(csv.reader(handle))
    else:
        fields = list(row)
    with open(path, "a", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
        if not exists:
            writer.writeheader()
        writer.writerow(row)
        handle.flush()
        os.fsync(handle.fileno())


def truncate_metrics(path: Path, last_epoch: int) -> None:
    """Drop rows after the checkpoint being resumed (an epoch interrupted after its row)."""
    if not path.is_file():
        return
    table = pd.read_csv(path)
    kept = table[table["epoch"] <= last_epoch]
    if len(kept) != len(table):
        tmp = temp_path(path)
        kept.to_csv(tmp, index=False)
        os.replace(tmp, path)


# -- predictions ----------------------------------------------------------------------------

def write_predictions(path: Path, result: dict, fold_of=None) -> None:
    """predictions.csv: clip_id, fold, label/prediction as codes 1..7 and names, and the
    softmax probability of each emotion."""
    probs = np.asarray(result["probs"])
    table = pd.DataFrame({
        "clip_id": result["clip_ids"],
        "fold": fold_of if fold_of is not None else 0,
        "label": np.asarray(result["y_true"]) + 1,
        "label_name": [NAMES[i] for i in result["y_true"]],
        "prediction": np.asarray(result["y_pred"]) + 1,
        "prediction_name": [NAMES[i] for i in result["y_pred"]],
    })
    for i, name in enumerate(NAMES):
        table[f"p_{name}"] = probs[:, i].round(6) if len(probs) else []
    tmp = temp_path(path)
    table.to_csv(tmp, index=False)
    os.replace(tmp, path)


def read_predictions(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise TrainingError(f"cannot read {path} ({exc})") from None


# -- the run table --------------------------------------------------------------------------

def record_run(workspace, name: str, *, model: str, loss: str, fold, scheme: str,
               config: dict, metrics: dict | None = None, checkpoint: Path | None = None,
               finished: bool = False) -> None:
    """Insert or update the ``run`` row of a run (fold None for a ``--fold all`` aggregate)."""
    from sqlalchemy import select

    from dfew_build.db.models import Run, utcnow

    with workspace.session() as session:
        row = session.scalars(select(Run).where(Run.name == name)).one_or_none()
        if row is None:
            row = Run(name=name, model=model, loss=loss)
            session.add(row)
        row.fold = fold if isinstance(fold, int) else None
        row.scheme, row.config = scheme, json.loads(json.dumps(config, default=_json_default))
        row.metrics = json.loads(json.dumps(metrics, default=_json_default)) if metrics else None
        if checkpoint is not None:
            row.checkpoint_path = str(Path(checkpoint).relative_to(workspace.root)
                                      if Path(checkpoint).is_relative_to(workspace.root)
                                      else checkpoint)
        row.finished_at = utcnow() if finished else None


# -- paper-style tables ---------------------------------------------------------------------

def paper_table(rows: list[tuple[str, dict]]) -> pd.DataFrame:
    """Rows ``(label, metrics)`` -> DFEW Table 4 columns, in percent with two decimals."""
    records = []
    for label, metrics in rows:
        record = {"Model": label}
        for name in NAMES:
            value = metrics["per_class_recall"].get(name)
            record[name.capitalize()] = None if value is None else round(100 * value, 2)
        for column in ("uar", "war"):
            value = metrics[column]
            record[column.upper()] = (None if value is None or value != value
                                      else round(100 * value, 2))
        records.append(record)
    return pd.DataFrame.from_records(records)


def to_markdown(table: pd.DataFrame) -> str:
    """The paper table as a padded GFM table: text columns left, numbers right (two
    decimals), "–" for a recall without a test clip."""
    from dfew_build.markdown import markdown_table

    cells = [[("–" if v is None or (isinstance(v, float) and np.isnan(v))
               else f"{v:.2f}" if isinstance(v, float) else str(v)) for v in row]
             for _, row in table.iterrows()]
    right = [pd.api.types.is_numeric_dtype(table[c]) or bool(table[c].isna().all())
             for c in table.columns]
    return markdown_table(list(table.columns), cells, right) + "\n"


def model_label(model: str, loss: str) -> str:
    """'3D Resnet18, EC-STFL'; a loss with the LDL modifier (``combo+ldl``) adds ', LDL'."""
    base, ldl = (loss[:-len("+ldl")], True) if loss.endswith("+ldl") else (loss, False)
    return (PAPER_NAMES.get(model, model) + LOSS_SUFFIX.get(base, f", {base}")
            + (", LDL" if ldl else ""))


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
