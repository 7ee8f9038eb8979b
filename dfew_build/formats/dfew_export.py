"""`export --format dfew`: a workspace written out in DFEW's release layout.

Only counted votes are exported (formats.source): retired clips and clips voted on only by
excluded annotators are left out, and the annotation table's 7 counts per clip are counted
votes. What a clip lacks (not cut, not preprocessed, not in the tensor store) is reported
and the rest is written; without folds the split CSVs are skipped with a note. Re-running rewrites
nothing that is already identical (see layout.place_file / write_bytes).
"""

from __future__ import annotations

from pathlib import Path

from dfew_build.formats.frames import export_aligned, export_tensor
from dfew_build.formats.layout import (ANNOTATION_CSV, ANNOTATION_HEADER, ANNOTATION_XLSX,
                                       FRAMES_16F_DIR, FRAMES_DIR, ORIGINAL_DIR, RELEASE_FRAMES,
                                       RELEASE_SIZE, SPLIT_HEADER, TEST_DIR, TRAIN_DIR,
                                       clip_name, csv_text, place_file, write_bytes)
from dfew_build.formats.report import ExportReport
from dfew_build.formats.source import ExportSource, fold_miss_reason, gather, not_counted_notes
from dfew_build.formats.tensors import best_view
from dfew_build.labels.consensus import DEFAULT_THRESHOLD
from dfew_build.splits import DEFAULT_SCHEME

NOT_CUT = "not cut: no clip file (run dfew-build clips cut)"
NOT_PREPROCESSED = "not preprocessed: no aligned frames (run dfew-build preprocess)"
DROPPED = "dropped by preprocessing (no kept face track): no aligned frames"
NO_FRAMES = "with a kept face track but no frames in its folder"
NOT_IN_STORE = "not in the 16-frame tensor store"


def annotation_rows(source: ExportSource) -> list[list[object]]:
    """7 votes (DFEW order), clip name, single label (0 = not single-labelled)."""
    rows = []
    for clip_id, votes in zip(source.matrix.index, source.matrix.to_numpy()):
        rows.append([*(int(v) for v in votes), clip_name(clip_id),
                     int(source.single.get(clip_id, 0))])
    return rows


def _write_xlsx(path: Path, header, rows) -> str:
    """annotation.xlsx when openpyxl is installed; compared by content (a saved workbook
    carries a timestamp, so bytes differ even when the sheet does not)."""
    try:
        import openpyxl
    except ImportError:
        return "openpyxl not installed"
    wanted = [list(header), *[list(r) for r in rows]]
    if path.is_file():
        try:
            book = openpyxl.load_workbook(path, read_only=True)
            current = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
            book.close()
            if current == wanted:
                return "skipped"
        except Exception:  # an unreadable old file is simply replaced
            pass
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "annotation"
    for row in wanted:
        sheet.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    book.save(temporary)
    temporary.replace(path)
    return "written"


def _write_splits(source: ExportSource, out: Path, report: ExportReport) -> None:
    folds = source.folds
    if folds.empty:
        report.notes.append(f"no folds stored for scheme {source.scheme!r}: EmoLabel_DataSplit "
                            "not written (run dfew-build folds)")
        return
    voted = set(int(c) for c in source.matrix.index)
    for clip_id in folds.index:
        if int(clip_id) not in voted:
            report.miss(fold_miss_reason(source, clip_id, "left out of the split CSVs"),
                        clip_id)
    folds = folds[[int(c) in voted for c in folds.index]]
    plural_only = [c for c in folds.index if c not in source.single.index]
    if plural_only:
        report.notes.append(
            f"{len(plural_only)} clip(s) in scheme {source.scheme!r} are not single-labelled at "
            f"threshold {source.threshold}; the split CSVs give them their plurality vote")

    k = int(folds.max()) if len(folds) else 0
    for fold in range(1, k + 1):
        test = [(clip_name(c), source.label(c)) for c in folds.index[folds == fold]]
        train = [(clip_name(c), source.label(c)) for c in folds.index[folds != fold]]
        for folder, rows in ((TEST_DIR, test), (TRAIN_DIR, train)):
            outcome = write_bytes(out / folder / f"set_{fold}.csv",
                                  csv_text(SPLIT_HEADER, rows).encode("utf-8"))
            report.files.add("split CSVs", outcome)
    report.folds = k


def export_dfew(workspace, out: str | Path, *, scheme: str = DEFAULT_SCHEME,
                threshold: int = DEFAULT_THRESHOLD, progress: bool = False) -> ExportReport:
    out = Path(out).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    source = gather(workspace, scheme=scheme, threshold=threshold)
    report = ExportReport("dfew", out, scheme, clips=len(source.matrix))
    report.notes.extend(not_counted_notes(source))
    if source.matrix.empty:
        report.notes.append("no votes in the workspace: the annotation table is empty "
                            "(dfew-build votes import)")
    store = best_view(Path(workspace.tensors_dir), RELEASE_FRAMES, RELEASE_SIZE)
    if store is None:
        report.notes.append(f"no {RELEASE_FRAMES}-frame tensor store in "
                            f"{workspace.tensors_dir}: {FRAMES_16F_DIR.as_posix()} not written "
                            "(run dfew-build preprocess)")
    elif store.size != RELEASE_SIZE:
        report.notes.append(f"16-frame sets resized from the {store.size}px store to "
                            f"{RELEASE_SIZE}px (no {RELEASE_SIZE}px store)")

    from tqdm import tqdm

    for clip_id in tqdm([int(c) for c in source.matrix.index], desc="export dfew",
                        unit="clip", disable=not progress):
        name = clip_name(clip_id)
        video = source.videos.get(clip_id)
        if video is None:
            report.miss(NOT_CUT, clip_id)
        else:
            report.files.add("original clips", place_file(
                video, out / ORIGINAL_DIR / f"{name}{video.suffix.lower() or '.mp4'}"))
        folder = source.frames.get(clip_id)
        if folder is None:
            report.miss(DROPPED if clip_id in source.preprocessed else NOT_PREPROCESSED, clip_id)
            continue
        if not export_aligned(folder, clip_id, out / FRAMES_DIR / name, RELEASE_SIZE,
                              report.files):
            report.miss(NO_FRAMES, clip_id)
        if store is not None:
            if clip_id in store.rows:
                export_tensor(store.clip(clip_id), clip_id, out / FRAMES_16F_DIR / name,
                              RELEASE_SIZE, report.files)
            else:
                report.miss(NOT_IN_STORE, clip_id)

    _write_splits(source, out, report)
    rows = annotation_rows(source)
    report.files.add("annotation table", write_bytes(
        out / ANNOTATION_CSV, csv_text(ANNOTATION_HEADER, rows).encode("utf-8")))
    xlsx = _write_xlsx(out / ANNOTATION_XLSX, ANNOTATION_HEADER, rows)
    if xlsx in ("written", "skipped"):
        report.files.add("annotation table", xlsx)
    else:
        report.notes.append(f"{ANNOTATION_XLSX.as_posix()} not written ({xlsx}: "
                            "pip install openpyxl); the CSV holds the same table")
    return report
