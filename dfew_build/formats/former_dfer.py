"""`export --format former-dfer`: per-fold list files as Former-DFER and its descendants read.

`set_{k}_train.txt` / `set_{k}_test.txt`, one line per clip: `path num_frames label0` with
the absolute path of the clip's frame folder, its frame count and the label 0..6. With
`frames="all"` the path is the workspace's aligned-frames folder (nothing is copied); with
`frames="16"` the 16-frame sets are written from the tensor store under
OUT/clip_{S}x{S}_16f/ (S = the store's size, 224 preferred) and the lists point there.
Clips of the scheme without counted votes (retired, or voted on only by excluded
annotators) are left out and reported.
"""

from __future__ import annotations

from pathlib import Path

from dfew_build.errors import FormatError
from dfew_build.formats.frames import export_tensor
from dfew_build.formats.layout import RELEASE_FRAMES, RELEASE_SIZE, clip_name, sorted_frames, \
    write_bytes
from dfew_build.formats.report import ExportReport
from dfew_build.formats.source import fold_miss_reason, gather, not_counted_notes
from dfew_build.formats.tensors import best_view
from dfew_build.labels.consensus import DEFAULT_THRESHOLD
from dfew_build.splits import DEFAULT_SCHEME

FRAME_CHOICES = ("all", "16")


def export_former_dfer(workspace, out: str | Path, *, scheme: str = DEFAULT_SCHEME,
                       frames: str = "all", threshold: int = DEFAULT_THRESHOLD,
                       progress: bool = False) -> ExportReport:
    if frames not in FRAME_CHOICES:
        raise FormatError(f"unknown --frames {frames!r}: use all or 16")
    out = Path(out).expanduser().resolve()
    source = gather(workspace, scheme=scheme, threshold=threshold)
    if source.folds.empty:
        raise FormatError(f"no folds stored for scheme {scheme!r}: the list files are per fold; "
                          "run dfew-build folds first (or pass --scheme NAME)")
    store = None
    if frames == "16":
        store = best_view(Path(workspace.tensors_dir), RELEASE_FRAMES, RELEASE_SIZE)
        if store is None:
            raise FormatError(f"no {RELEASE_FRAMES}-frame tensor store in "
                              f"{workspace.tensors_dir}: run dfew-build preprocess, or export "
                              "--frames all")
    out.mkdir(parents=True, exist_ok=True)
    report = ExportReport("former-dfer", out, scheme)
    report.notes.extend(not_counted_notes(source))
    voted = set(int(c) for c in source.matrix.index)
    entries: dict[int, tuple[Path, int]] = {}

    from tqdm import tqdm

    for clip_id in tqdm([int(c) for c in source.folds.index], desc="export former-dfer",
                        unit="clip", disable=not progress):
        if clip_id not in voted:
            report.miss(fold_miss_reason(source, clip_id, "left out"), clip_id)
            continue
        if store is None:
            folder = source.frames.get(clip_id)
            count = len(sorted_frames(folder)) if folder is not None else 0
            if not count:
                report.miss("without aligned frames (run dfew-build preprocess): left out",
                            clip_id)
                continue
            entries[clip_id] = (folder.resolve(), count)
        else:
            if clip_id not in store.rows:
                report.miss("not in the 16-frame tensor store: left out", clip_id)
                continue
            folder = out / f"clip_{store.size}x{store.size}_16f" / clip_name(clip_id)
            count = export_tensor(store.clip(clip_id), clip_id, folder, None, report.files)
            entries[clip_id] = (folder, count)

    if any(any(ch.isspace() for ch in str(path)) for path, _ in entries.values()):
        report.notes.append("some frame folders have spaces in their path; Former-DFER splits "
                            "list lines on spaces, so move the workspace/output to a path "
                            "without spaces")
    folds = source.folds[[c in entries for c in source.folds.index]]
    k = int(source.folds.max())
    for fold in range(1, k + 1):
        for part, members in (("train", folds.index[folds != fold]),
                              ("test", folds.index[folds == fold])):
            lines = "".join(f"{entries[c][0]} {entries[c][1]} {source.label(c) - 1}\n"
                            for c in members)
            report.files.add("list files", write_bytes(out / f"set_{fold}_{part}.txt",
                                                       lines.encode("utf-8")))
    report.clips, report.folds = len(entries), k
    return report
