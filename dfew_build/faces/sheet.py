"""Contact sheets: a clip's T normalised faces in a grid, for a person to check alignment."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from sqlalchemy import select

from dfew_build.db.models import Clip, FaceTrack
from dfew_build.errors import FacesError

HEADER_PX = 28
GAP_PX = 4


def contact_sheet(tensor_rgb: np.ndarray, title: str = "", columns: int | None = None
                  ) -> np.ndarray:
    """[T, H, W, 3] RGB -> one BGR image: the frames left to right, top to bottom, each
    numbered, under a title line."""
    import cv2

    count, height, width = tensor_rgb.shape[:3]
    columns = columns or max(1, math.ceil(math.sqrt(count)))
    rows = math.ceil(count / columns)
    sheet = np.full((HEADER_PX + rows * (height + GAP_PX) + GAP_PX,
                     columns * (width + GAP_PX) + GAP_PX, 3), 255, np.uint8)
    scale = max(0.35, width / 280)
    for i, frame in enumerate(tensor_rgb):
        y = HEADER_PX + GAP_PX + (i // columns) * (height + GAP_PX)
        x = GAP_PX + (i % columns) * (width + GAP_PX)
        sheet[y:y + height, x:x + width] = frame[..., ::-1]
        cv2.putText(sheet, str(i + 1), (x + 3, y + height - 5), cv2.FONT_HERSHEY_SIMPLEX,
                    scale, (255, 255, 255), 1, cv2.LINE_AA)
    cv2.putText(sheet, title, (GAP_PX, HEADER_PX - 9), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                (0, 0, 0), 1, cv2.LINE_AA)
    return sheet


def write_contact_sheet(workspace, clip_id: int, out: str | os.PathLike, *, size: int = 112,
                        frames: int = 16) -> Path:
    """Write clip_id's row of the {size}px_{frames}f store as a PNG (or JPEG) at out."""
    import cv2

    from dfew_build.faces.store import open_tensor_store

    with workspace.session() as session:
        if session.get(Clip, clip_id) is None:
            raise FacesError(f"no clip with id {clip_id}; see dfew-build clips list")
        tracks = session.scalars(select(FaceTrack).where(FaceTrack.clip_id == clip_id)).all()
        outcome = "; ".join(f"{t.detector}: {t.status}" + (f" ({t.reason})" if t.reason else "")
                            for t in tracks)
    array, index = open_tensor_store(workspace.tensors_dir, size, frames)
    match = index[index["clip_id"] == clip_id]
    if match.empty:
        why = f" ({outcome})" if outcome else "; run dfew-build preprocess first"
        raise FacesError(f"clip {clip_id} has no aligned faces in the {size}px {frames}-frame "
                         f"store{why}")
    entry = match.iloc[0]
    title = (f"clip {clip_id:05d}  {frames} frames, {entry.get('temporal', '')} from "
             f"{entry.get('source_frames', '?')} aligned  ({entry.get('detector', '')})")
    image = contact_sheet(np.asarray(array[int(entry["row"])]), title)
    out = Path(out)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise FacesError(f"{out}: the contact sheet is written as .png or .jpg; give such a "
                         "file name")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FacesError(f"cannot create {out.parent}: {exc.strerror}") from None
    ok, data = cv2.imencode(out.suffix.lower(), image)
    if not ok:
        raise FacesError(f"OpenCV could not encode the contact sheet as {out.suffix}")
    try:
        out.write_bytes(data.tobytes())
    except OSError as exc:
        raise FacesError(f"cannot write {out}: {exc.strerror}") from None
    return out
