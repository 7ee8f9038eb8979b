"""`export --format dfew`: a workspace written out in DFEW's release layout.

Only counted votes are exported (formats.source): retired clips and clips voted on only by
excluded annotators are left out, and the annotation table's 7 counts per clip are counted
votes. What a clip lacks (not cut, not preprocessed, not in the tensor store) is reported
and the rest is written; without folds the split CSVs are skipped with a note. Re-running rewrites
nothing that is already identical (see layout.place_file / write_bytes).

The "(single-labeled)" split folders list only single-labelled clips. A scheme made with
`folds --subset all` also holds clips without a single label: every clip of it, with its
plurality vote, goes to "(plurality-labeled)" folders instead of being passed off as
single-labelled.
"""

from __future__ import annotations

from pathlib import Path

from dfew_build.formats.frames import export_aligned, export_tensor
from dfew_build.formats.layout import (ANNOTATION_CSV, ANNOTATION_HEADER, ANNOTATION_SHEET,
                                       ANNOTATION_XLSX, FRAMES_16F_DIR, FRAMES_DIR, ORIGINAL_DIR,
                                       RELEASE_FRAMES, RELEASE_SIZE, SPLIT_HEADER, TEST_DIR,
                                       TEST_PLURALITY_DIR, TRAIN_DIR, TRAIN_PLURALITY_DIR,
                                       clip_name, csv_text, frame_16f_name, place_file,
                                       write_bytes)
from dfew_build.formats.report import ExportReport
from dfew_build.formats.source import ExportSource, fold_miss_reason, gather, not_counted_notes
from dfew_build.formats.tensors import best_view
from dfew_build.labels.consensus import DEFAULT_THRESHOLD
from dfew_build.splits import DEFAULT_SCHEME
from dfew_build.tempfiles import remove_stale as remove_stale_temporaries
from dfew_build.tempfiles import temp_path

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
    """annotation.xlsx with one sheet named Sheet1, when openpyxl is installed; compared by
    sheet name and content (a saved workbook carries a timestamp, so bytes differ even when
    the sheet does not)."""
    try:
        import openpyxl
    except ImportError:
        return "openpyxl not installed"
    wanted = [list(header), *[list(r) for r in rows]]
    if path.is_file():
        try:
            book = openpyxl.load_workbook(path, read_only=True)
            names = list(book.sheetnames)
            current = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
            book.close()
            if names == [ANNOTATION_SHEET] and current == wanted:
                return "skipped"
        except Exception:  # an unreadable old file is simply replaced
            pass
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = ANNOTATION_SHEET
    for row in wanted:
        sheet.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temp_path(path, keep_suffix=True)  # openpyxl wants the .xlsx suffix
    book.save(temporary)
    temporary.replace(path)
    return "written"


_SPLIT_FOLDERS = (TEST_DIR, TRAIN_DIR, TEST_PLURALITY_DIR, TRAIN_PLURALITY_DIR)


def _remove_stale_splits(out: Path, written: set[Path], report: ExportReport) -> None:
    """set_k.csv files an earlier export left that this one does not write (another k, or a
    scheme that no longer needs plurality folders)."""
    for folder in _SPLIT_FOLDERS:
        if (out / folder).is_dir():
            for path in sorted((out / folder).glob("set_*.csv")):
                if path not in written:
                    path.unlink()
                    report.files.add("split CSVs", "removed")


def _write_splits(source: ExportSource, out: Path, report: ExportReport) -> None:
    folds = source.folds
    written: set[Path] = set()
    if folds.empty:
        report.notes.append(f"no folds stored for scheme {source.scheme!r}: EmoLabel_DataSplit "
                            "not written (run dfew-build folds)")
        _remove_stale_splits(out, written, report)
        return
    voted = set(int(c) for c in source.matrix.index)
    for clip_id in folds.index:
        if int(clip_id) not in voted:
            report.miss(fold_miss_reason(source, clip_id, "left out of the split CSVs"),
                        clip_id)
    folds = folds[[int(c) in voted for c in folds.index]]
    single = folds[[c in source.single.index for c in folds.index]]
    k = int(folds.max()) if len(folds) else 0
    kinds = []
    if len(single):
        kinds.append((TEST_DIR, TRAIN_DIR, single, lambda c: int(source.single[c])))
    if len(single) < len(folds):
        kinds.append((TEST_PLURALITY_DIR, TRAIN_PLURALITY_DIR, folds,
                      lambda c: int(source.plurality[c])))
        single_part = (f"{TRAIN_DIR.name} and {TEST_DIR.name} list only its {len(single)} "
                       "single-labelled clip(s), and " if len(single) else
                       f"no {TRAIN_DIR.name}/{TEST_DIR.name} files (no clip of it is "
                       "single-labelled); ")
        report.notes.append(
            f"{len(folds) - len(single)} clip(s) in scheme {source.scheme!r} are not "
            f"single-labelled at threshold {source.threshold} (folds made with --subset all): "
            f"{single_part}{TRAIN_PLURALITY_DIR.name} and {TEST_PLURALITY_DIR.name} list all "
            f"{len(folds)} with their plurality vote (for the single-labelled folders alone, "
            "dfew-build folds --subset single --replace)")
    for test_dir, train_dir, members, label in kinds:
        for fold in range(1, k + 1):
            test = [(clip_name(c), label(c)) for c in members.index[members == fold]]
            train = [(clip_name(c), label(c)) for c in members.index[members != fold]]
            for folder, rows in ((test_dir, test), (train_dir, train)):
                path = out / folder / f"set_{fold}.csv"
                outcome = write_bytes(path, csv_text(SPLIT_HEADER, rows).encode("utf-8"))
                report.files.add("split CSVs", outcome)
                written.add(path)
    _remove_stale_splits(out, written, report)
    report.folds = k


def export_dfew(workspace, out: str | Path, *, scheme: str = DEFAULT_SCHEME,
                threshold: int = DEFAULT_THRESHOLD, progress: bool = False) -> ExportReport:
    out = Path(out).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    for folder in (out, out / ORIGINAL_DIR, out / ANNOTATION_XLSX.parent,
                   *(out / f for f in _SPLIT_FOLDERS)):
        remove_stale_temporaries(folder)  # a killed export's (per-clip folders: layout's)
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
                              RELEASE_SIZE, report.files, naming=frame_16f_name)
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
