"""Ingest movies: fingerprint, probe and record each file; bad files are recorded as rejected.

Each file is committed on its own, so an interrupted batch keeps what it finished and a
re-run does only what is missing (known fingerprints are not probed again).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from sqlalchemy import select

from dfew_build.db.models import Movie
from dfew_build.errors import ProbeError
from dfew_build.media.fingerprint import fingerprint
from dfew_build.media.metadata import MetadataTable
from dfew_build.media.probe import ProbeResult, probe

# What the probe records of how a movie is displayed (DESIGN.md §7), copied onto the row.
DISPLAY_FIELDS = ("coded_width", "coded_height", "rotation", "sar", "interlaced", "field_order",
                  "start_s", "video_delay_s", "container", "browser_playable")

# Outcome statuses, as printed and in --json.
INGESTED, PRESENT, MOVED, REJECTED, NOT_FOUND = (
    "ingested", "already_present", "moved", "rejected", "not_found")


@dataclass
class FileOutcome:
    path: str
    status: str
    movie_id: int | None = None
    message: str = ""
    metadata_updated: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class IngestReport:
    outcomes: list[FileOutcome] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # metadata CSV rows and unmatched paths

    def count(self, *statuses: str) -> int:
        return sum(o.status in statuses for o in self.outcomes)

    @property
    def usable(self) -> int:
        """Movies now in the workspace from this batch: new, already there, or moved."""
        return self.count(INGESTED, PRESENT, MOVED)

    def summary(self) -> dict:
        return {"ingested": self.count(INGESTED),
                "already_present": self.count(PRESENT, MOVED),
                "moved": self.count(MOVED),
                "rejected": self.count(REJECTED),
                "not_found": self.count(NOT_FOUND)}


def discover(paths: Iterable[str | os.PathLike], extensions: Iterable[str]
             ) -> tuple[list[Path], list[FileOutcome]]:
    """Video files under paths (folders recursively, by extension), and the paths not found.

    A file named explicitly is always tried, whatever its extension. Hidden files in folders
    (e.g. macOS '._name.mp4' companions) are skipped.
    """
    wanted = {e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions}
    files: list[Path] = []
    missing: list[FileOutcome] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in wanted
                and not any(part.startswith(".") for part in p.relative_to(path).parts))
        elif path.is_file():
            found = [path]
        else:
            missing.append(FileOutcome(str(raw), NOT_FOUND, message="no such file or folder"))
            continue
        for file in found:
            resolved = file.resolve()
            if resolved not in seen:
                seen.add(resolved)
                files.append(resolved)
    return files, missing


@dataclass
class _Examined:
    path: Path
    size: int = 0
    sha256: str | None = None
    probe: ProbeResult | None = None
    error: str | None = None  # why it is not a readable video
    unreadable: str | None = None  # could not even be fingerprinted


def _examine(path: Path, known_ok: set[str]) -> _Examined:
    result = _Examined(path)
    try:
        result.size = path.stat().st_size
        result.sha256 = fingerprint(path)
    except OSError as exc:
        result.unreadable = f"cannot read the file: {exc.strerror}"
        return result
    if result.sha256 in known_ok:
        return result  # already ingested: no need to probe again
    try:
        result.probe = probe(path)
    except ProbeError as exc:
        result.error = str(exc)
    return result


def _examine_all(files: list[Path], known_ok: set[str], jobs: int) -> Iterator[_Examined]:
    if jobs <= 1 or len(files) <= 1:
        yield from (_examine(f, known_ok) for f in files)
        return
    # Probing is I/O and FFmpeg work that releases the GIL: threads overlap it well.
    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        yield from pool.map(lambda f: _examine(f, known_ok), files)
    finally:
        # On Ctrl-C, do not probe the rest of a 1,500-movie queue before stopping.
        pool.shutdown(wait=False, cancel_futures=True)


def ingest(workspace, paths: Iterable[str | os.PathLike], metadata: MetadataTable | None = None,
           *, jobs: int = 4, progress: bool = False) -> IngestReport:
    from tqdm import tqdm

    extensions = workspace.config["ingest"]["extensions"]
    files, missing = discover(paths, extensions)
    report = IngestReport(outcomes=list(missing))
    names: dict[str, int] = {}
    for file in files:
        names[file.name] = names.get(file.name, 0) + 1
    with workspace.session() as session:
        known_ok = set(session.scalars(select(Movie.sha256).where(Movie.status == "ok")))
    examined = _examine_all(files, known_ok, jobs)
    bar = tqdm(examined, total=len(files), unit="movie", desc="ingest", disable=not progress)
    for item in bar:
        row = metadata.lookup(item.path, names) if metadata else None
        with workspace.session() as session:
            outcome = _record(session, item, row.fields() if row else {})
        report.outcomes.append(outcome)
    if metadata:
        report.problems.extend(metadata.problems)
        report.problems.extend(
            f"{metadata.source.name} line {r.row}: {r.key!r} matched no file in this batch"
            for r in metadata.unused_rows())
    return report


def _record(session, item: _Examined, meta: dict) -> FileOutcome:
    path = str(item.path)
    if item.unreadable:
        return FileOutcome(path, REJECTED, message=item.unreadable)
    existing = session.scalar(select(Movie).where(Movie.sha256 == item.sha256))
    if existing is None:
        movie = Movie(path=path, sha256=item.sha256, size_bytes=item.size, **meta)
        _apply_probe(movie, item)
        session.add(movie)
        session.flush()
        status = INGESTED if movie.status == "ok" else REJECTED
        return FileOutcome(path, status, movie.id, movie.error or "", bool(meta))

    updated = _apply_metadata(existing, meta)
    if existing.path != path:
        if os.path.exists(existing.path):
            status = REJECTED if existing.status == "rejected" else PRESENT
            return FileOutcome(path, status, existing.id,
                               f"same content as movie {existing.id} ({existing.path}); "
                               "not ingested twice", updated)
        message = f"moved from {existing.path}"
        existing.path = path
        if existing.status == "rejected":
            return FileOutcome(path, REJECTED, existing.id, f"{existing.error} ({message})",
                               updated)
        return FileOutcome(path, MOVED, existing.id, message, updated)
    if existing.status == "rejected":
        # Probed again: a newer FFmpeg, or a file the user repaired in place, may now read.
        _apply_probe(existing, item)
        if existing.status == "ok":
            return FileOutcome(path, INGESTED, existing.id, "readable now", updated)
        return FileOutcome(path, REJECTED, existing.id, existing.error or "", updated)
    return FileOutcome(path, PRESENT, existing.id, "", updated)


def _apply_probe(movie: Movie, item: _Examined) -> None:
    if item.probe is None:
        movie.status, movie.error = "rejected", item.error or "not probed"
        return
    p = item.probe
    movie.status, movie.error = "ok", None
    movie.duration_s, movie.fps, movie.frame_count = p.duration_s, p.fps, p.frame_count
    movie.width, movie.height, movie.codec = p.width, p.height, p.codec
    for name in DISPLAY_FIELDS:
        setattr(movie, name, getattr(p, name))


def _apply_metadata(movie: Movie, meta: dict) -> bool:
    changed = False
    for key, value in meta.items():
        if getattr(movie, key) != value:
            setattr(movie, key, value)
            changed = True
    return changed
