"""`export --format former-dfer`: per-fold list files as Former-DFER and DFER-CLIP read them.

OUT/annotation/DFEW_set_{k}_train.txt and ..._test.txt, the names and folder both projects
hard-code (`./annotation/DFEW_set_{k}_{train,test}.txt` relative to their checkout), one
line per clip: `path num_frames label0` with the absolute path of the clip's frame folder,
its frame count and the label 0..6. With `frames="all"` the path is the workspace's
aligned-frames folder (nothing is copied); with `frames="16"` the 16-frame sets are written
from the tensor store under OUT/clip_{S}x{S}_16f/ (S = the store's size, 224 preferred),
zero-padded `{clip}_{i:05d}.jpg` because both loaders sort a folder's names as text, and
the lists point there. Former-DFER's loader of 2021 drops lines with fewer than 16 frames
(`int(num_frames) >= 16`; its 2022 loader keeps them) and DFER-CLIP repeats the last frame
of such clips; they are written and reported with the option that avoids them. Clips of
the scheme without counted votes (retired, or voted on only by excluded annotators) are
left out and reported.
"""

from __future__ import annotations

from pathlib import Path

from dfew_build.errors import FormatError
from dfew_build.formats.frames import export_tensor
from dfew_build.formats.layout import (LOADER_MIN_FRAMES, RELEASE_FRAMES, RELEASE_SIZE,
                                       clip_name, list_name, sorted_frames, write_bytes)
from dfew_build.formats.report import SHOWN_IDS, ExportReport
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
    short = sorted(c for c, (_, count) in entries.items() if count < LOADER_MIN_FRAMES)
    if short:
        names = ", ".join(clip_name(c) for c in short[:SHOWN_IDS])
        more = f" and {len(short) - SHOWN_IDS} more" if len(short) > SHOWN_IDS else ""
        report.notes.append(
            f"{len(short)} clip(s) have fewer than {LOADER_MIN_FRAMES} frames ({names}{more}): "
            f"Former-DFER's 2021 loader skips them (it keeps lines with num_frames >= "
            f"{LOADER_MIN_FRAMES}) and DFER-CLIP repeats their last frame; export "
            f"--frames {RELEASE_FRAMES} lists {RELEASE_FRAMES}-frame sets instead (made by "
            f"dfew-build preprocess --frames {RELEASE_FRAMES})")
    plural = [c for c in entries if c not in source.single.index]
    if plural:
        report.notes.append(
            f"{len(plural)} clip(s) in scheme {scheme!r} are not single-labelled at threshold "
            f"{threshold} (folds made with --subset all): the lists give them their plurality "
            "vote")
    folds = source.folds[[c in entries for c in source.folds.index]]
    k = int(source.folds.max())
    for fold in range(1, k + 1):
        for part, members in (("train", folds.index[folds != fold]),
                              ("test", folds.index[folds == fold])):
            lines = "".join(f"{entries[c][0]} {entries[c][1]} {source.label(c) - 1}\n"
                            for c in members)
            report.files.add("list files", write_bytes(out / list_name(fold, part),
                                                       lines.encode("utf-8")))
    report.clips, report.folds = len(entries), k
    return report
