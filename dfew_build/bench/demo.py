"""The benchmark step of `dfew-build demo`: one epoch of a 3D ResNet-18 on fold 1."""

from __future__ import annotations

import re

from dfew_build.errors import TrainingError


def _store_size(workspace, frames: int = 16) -> int | None:
    """The frame size of a tensor store in the workspace (112 preferred)."""
    sizes = []
    for path in workspace.tensors_dir.glob(f"*px_{frames}f.npy"):
        match = re.fullmatch(rf"(\d+)px_{frames}f\.npy", path.name)
        if match and (workspace.tensors_dir / f"{match.group(1)}px_{frames}f_index.csv").is_file():
            sizes.append(int(match.group(1)))
    return 112 if 112 in sizes else (max(sizes) if sizes else None)


def _finished_run(workspace, config) -> dict | None:
    """A finished run of the same demo config whose test clips are still fold 1's: a second
    demo run reuses it instead of training again."""
    import json

    import pandas as pd
    from sqlalchemy import select

    from dfew_build.bench.runs import run_dir
    from dfew_build.db.models import Run
    from dfew_build.splits import load_folds

    wanted = config.to_dict()
    with workspace.session() as session:
        folds = load_folds(session, config.scheme, missing_ok=True)
        rows = session.execute(
            select(Run.name, Run.metrics).where(
                Run.model == config.model, Run.loss == config.loss, Run.fold == config.fold,
                Run.scheme == config.scheme, Run.finished_at.is_not(None))
            .order_by(Run.id.desc())).all()
    test_clips = set(folds[folds == config.fold].index)
    for name, metrics in rows:
        folder = run_dir(workspace, name)
        try:
            stored = json.loads((folder / "config.json").read_text(encoding="utf-8"))
            predicted = set(pd.read_csv(folder / "predictions.csv")["clip_id"])
        except (OSError, ValueError, KeyError):
            continue
        if metrics and all(stored.get(k) == v for k, v in wanted.items()) \
                and predicted == test_clips:
            return {"run": name, "run_dir": folder, "metrics": metrics}
    return None


def run_bench_demo(workspace, *, scheme: str = "default", plurality: bool = False,
                   progress: bool = False) -> dict:
    """Train resnet3d_18 for one epoch (batch 4, cross-entropy) on fold 1 of ``scheme``.

    Returns ``{"status": "ok", "run", "run_dir", "uar", "war", "n", "train_clips"}``, or
    ``{"status": "skipped", "message"}`` when the workspace has no tensor store, no folds
    or too few clips — the message says which command makes what is missing.
    """
    from dfew_build.bench.config import TrainConfig
    from dfew_build.bench.protocol import train

    size = _store_size(workspace)
    if size is None:
        return {"status": "skipped",
                "message": f"no tensor store in {workspace.tensors_dir}: run `dfew-build "
                           "preprocess` first"}
    config = TrainConfig(model="resnet3d_18", loss="ce", fold=1, scheme=scheme, epochs=1,
                         batch_size=4, workers=0, size=size, optimizer="adam", lr=1e-4,
                         seed=0, plurality=plurality)
    reused = _finished_run(workspace, config)
    if reused is not None:
        result = reused
    else:
        try:
            result = train(workspace, config, progress=progress)
        except TrainingError as exc:
            return {"status": "skipped", "message": f"benchmark skipped: {exc}"}
    metrics = result["metrics"]
    again = " (finished earlier, reused)" if reused is not None else ""
    return {"status": "ok", "run": result["run"], "run_dir": str(result["run_dir"]),
            "reused": reused is not None,
            "uar": metrics["uar"], "war": metrics["war"], "n": metrics["n"],
            "train_clips": metrics["train_clips"], "model": config.model,
            "message": f"1 epoch of resnet3d_18 on fold 1: UAR {100 * metrics['uar']:.1f}%, "
                       f"WAR {100 * metrics['war']:.1f}% on {metrics['n']} test clips "
                       f"({result['run_dir']}){again}"}
