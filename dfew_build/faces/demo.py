"""The faces step of `dfew-build demo`: preprocess every cut clip, show one contact sheet."""

from __future__ import annotations

from pathlib import Path

from dfew_build.errors import FacesError
from dfew_build.faces.pipeline import preprocess
from dfew_build.faces.results import face_counts

DEMO_JOBS = 2


def run_faces_demo(workspace, *, progress: bool = False) -> dict:
    """Preprocess every cut clip (2 worker processes) and write a contact sheet of the first
    kept clip to WS/reports/faces_{clip:05d}.png. Running it again redoes nothing."""
    if isinstance(workspace, (str, Path)):
        from dfew_build.workspace import open_workspace

        workspace = open_workspace(workspace)
    from dfew_build.faces.sheet import write_contact_sheet
    from dfew_build.faces.store import open_tensor_store

    report = preprocess(workspace, jobs=DEMO_JOBS, progress=progress)
    options = report.options
    sheet = None
    try:
        _, index = open_tensor_store(workspace.tensors_dir, options.size, options.frames)
    except FacesError:  # no clip kept yet: no store, no sheet
        index = None
    if index is not None and len(index):
        first = int(index["clip_id"].min())
        sheet = write_contact_sheet(workspace, first,
                                    workspace.reports_dir / f"faces_{first:05d}.png",
                                    size=options.size, frames=options.frames)
    summary = report.summary()
    return {"detector": report.detector, "processed": len(report.results),
            "already_done": summary["already_done"], **face_counts(workspace),
            "not_cut": summary["not_cut"], "frames_per_s": summary["frames_per_s"],
            "tensors": str(workspace.tensors_dir / f"{options.size}px_{options.frames}f.npy"),
            "contact_sheet": str(sheet) if sheet else None}
