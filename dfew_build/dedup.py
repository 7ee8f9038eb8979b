"""Near-duplicate footage and overlapping clips: what would leak from train into test.

A movie's fingerprint is its bytes (media.fingerprint), so a re-encode of a movie (another
bitrate, size or container) is another movie, and its clips are other clips. Two kinds of
link say that two clips show the same footage:

* **near-duplicate**: a perceptual hash (DCT hash, `imagehash.phash`, 64 bits) of frames
  sampled at HASH_FPS from each clip; two clips are near-duplicates when at least MIN_SHARE
  of the sampled frames of one of them have a frame in the other within MAX_DISTANCE bits
  (and at least 2 frames match, or every frame of a 1-frame clip). A re-encode with another
  CRF and size scores 0-8 bits per frame, unrelated footage 26-32 (docs/formats.md).
  Frames flatter than FLAT_STD grey levels (black frames, fades) are not hashed: every
  black frame hashes alike.
* **overlap**: two clips of one movie whose time spans share more than OVERLAP_MIN_S.

Frames come from THE decoder (media.decode.VideoReader): the cut clip file when there is
one, else the clip's span of its movie. Hashes are cached per clip in
WS/cache/frame_hashes.json, keyed by the source file's size and modification time (or the
movie's fingerprint and the span), so `folds` hashes a clip once.

Candidate pairs are clips with a pair of frames within MAX_DISTANCE bits that share one
16-bit quarter of their hashes (any two frames within 3 bits do); each candidate pair is
then scored on all its frames.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from dfew_build.db.models import Clip, Movie

HASH_FPS = 4.0              # frames hashed per second of clip
MAX_FRAMES = 32             # at most this many per clip (evenly spread over longer clips)
HASH_MAX_SIDE = 128         # frames are shrunk to this long side before hashing
FLAT_STD = 4.0              # grey-level standard deviation under which a frame is not hashed
MAX_DISTANCE = 8            # bits (of 64) within which two frames match
MIN_SHARE = 0.5             # share of one clip's hashed frames that must match the other's
OVERLAP_MIN_S = 1e-3        # seconds two clips of one movie must share to overlap
BUCKET_CAP = 1000           # frames sharing one hash quarter beyond which it is not used
CACHE_FILE = Path("cache", "frame_hashes.json")
HASH_VERSION = 1

NOT_HASHED_NO_SOURCE = "no clip file and no movie file to read frames from"
NOT_HASHED_UNREADABLE = "frames could not be decoded"
NOT_HASHED_FLAT = "every sampled frame is flat (black or a fade)"


def _popcount(values: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        return np.bitwise_count(values).astype(np.int64)
    bits = np.unpackbits(np.ascontiguousarray(values).view(np.uint8).reshape(*values.shape, 8),
                         axis=-1)
    return bits.sum(axis=-1).astype(np.int64)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bit distances [len(a), len(b)] between two uint64 hash arrays."""
    return _popcount(a[:, None] ^ b[None, :])


def image_hash(image_bgr: np.ndarray) -> int | None:
    """The 64-bit DCT perceptual hash of a BGR frame, or None for a flat frame."""
    import cv2
    import imagehash
    from PIL import Image

    grey = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
    if float(cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA).std()) < FLAT_STD:
        return None
    bits = imagehash.phash(Image.fromarray(grey)).hash.flatten()
    return int(np.packbits(bits.astype(np.uint8)).view(">u8")[0])


@dataclass(frozen=True)
class HashSource:
    """Where a clip's frames are read: a file, whole (start_s None) or a span of it."""

    clip_id: int
    path: str
    signature: str
    start_s: float | None = None
    end_s: float | None = None
    display: object = None            # media.decode.Display of the movie (a span only)
    start_offset_s: float | None = None

    def frames(self):
        from dfew_build.media.decode import VideoReader

        if self.start_s is None:
            reader = VideoReader(self.path)
            return reader.frames(sample_fps=HASH_FPS, max_side=HASH_MAX_SIDE)
        reader = VideoReader(self.path, self.display, start_offset_s=self.start_offset_s)
        return reader.frames(start_s=self.start_s, end_s=self.end_s, sample_fps=HASH_FPS,
                             max_side=HASH_MAX_SIDE)


def frame_hashes(source: HashSource) -> np.ndarray:
    """uint64 hashes of the clip's non-flat frames sampled at HASH_FPS (at most MAX_FRAMES,
    evenly spread). Raises media.decode.DecodeFailed when nothing decodes."""
    hashes = [h for h in (image_hash(f.image) for f in source.frames()) if h is not None]
    if len(hashes) > MAX_FRAMES:
        keep = np.linspace(0, len(hashes) - 1, MAX_FRAMES).round().astype(int)
        hashes = [hashes[i] for i in keep]
    return np.array(hashes, dtype=np.uint64)


def hash_sources(root: Path, session: Session,
                 clip_ids) -> tuple[dict[int, HashSource], dict[int, str]]:
    """The frame source of each clip, and the clips that have none (id -> reason)."""
    from dfew_build.media.decode import Display

    ids = sorted(int(c) for c in clip_ids)
    rows = session.execute(select(Clip, Movie).outerjoin(Movie, Movie.id == Clip.movie_id)
                           .where(Clip.id.in_(ids))).all() if ids else []
    sources: dict[int, HashSource] = {}
    missing: dict[int, str] = {c: NOT_HASHED_NO_SOURCE for c in ids}
    for clip, movie in rows:
        if clip.path:
            path = Path(clip.path)
            path = path if path.is_absolute() else root / path
            if path.is_file():
                stat = path.stat()
                sources[clip.id] = HashSource(clip.id, str(path),
                                              f"file:{stat.st_size}:{stat.st_mtime_ns}")
                missing.pop(clip.id)
                continue
        if movie is not None and movie.path and os.path.isfile(movie.path):
            sources[clip.id] = HashSource(
                clip.id, movie.path, f"movie:{movie.sha256}:{clip.start_s:.3f}:{clip.end_s:.3f}",
                float(clip.start_s), float(clip.end_s), Display.of_movie(movie), movie.start_s)
            missing.pop(clip.id)
    return sources, missing


class HashCache:
    """WS/cache/frame_hashes.json: clip id -> (source signature, hex hashes)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.params = {"version": HASH_VERSION, "fps": HASH_FPS, "max_frames": MAX_FRAMES,
                       "side": HASH_MAX_SIDE, "flat_std": FLAT_STD}
        self.entries: dict[str, dict] = {}
        self.dirty = False
        try:
            data = json.loads(self.path.read_text())
            if data.get("params") == self.params:
                self.entries = data.get("clips", {})
        except (OSError, ValueError, AttributeError):
            pass

    def get(self, source: HashSource) -> np.ndarray | None:
        entry = self.entries.get(str(source.clip_id))
        if entry is None or entry.get("signature") != source.signature:
            return None
        return np.array([int(h, 16) for h in entry["hashes"]], dtype=np.uint64)

    def put(self, source: HashSource, hashes: np.ndarray) -> None:
        self.entries[str(source.clip_id)] = {"signature": source.signature,
                                             "hashes": [f"{int(h):016x}" for h in hashes]}
        self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        from dfew_build.tempfiles import remove_stale, temp_path

        remove_stale(self.path.parent, name=self.path.name)  # a killed run's copies
        temporary = temp_path(self.path)
        temporary.write_text(json.dumps({"params": self.params, "clips": self.entries}))
        os.replace(temporary, self.path)
        self.dirty = False


@dataclass
class HashRun:
    hashes: dict[int, np.ndarray] = field(default_factory=dict)   # clip -> uint64 hashes
    not_hashed: dict[int, str] = field(default_factory=dict)      # clip -> reason
    computed: int = 0
    cached: int = 0
    seconds: float = 0.0      # wall time spent decoding and hashing (not cache reads)


def hash_clips(workspace, session: Session, clip_ids, *, jobs: int | None = None,
               progress: bool = False) -> HashRun:
    """Frame hashes of the clips, from the cache or computed (threads: PyAV and the
    resizes release the GIL)."""
    from tqdm import tqdm

    from dfew_build.media.decode import DecodeFailed

    root = Path(workspace.root)
    sources, missing = hash_sources(root, session, clip_ids)
    run = HashRun(not_hashed=dict(missing))
    cache = HashCache(root / CACHE_FILE)
    todo = []
    for clip_id, source in sources.items():
        cached = cache.get(source)
        if cached is None:
            todo.append(source)
        else:
            run.cached += 1
            if len(cached):
                run.hashes[clip_id] = cached
            else:
                run.not_hashed[clip_id] = NOT_HASHED_FLAT

    def work(source: HashSource):
        try:
            return source, frame_hashes(source)
        except DecodeFailed:
            return source, None

    started = time.perf_counter()
    workers = max(1, min(jobs or os.cpu_count() or 1, len(todo) or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for source, hashes in tqdm(pool.map(work, todo), total=len(todo), unit="clip",
                                   desc="hash frames", disable=not progress):
            if hashes is None:
                run.not_hashed[source.clip_id] = NOT_HASHED_UNREADABLE
                continue
            cache.put(source, hashes)
            run.computed += 1
            if len(hashes):
                run.hashes[source.clip_id] = hashes
            else:
                run.not_hashed[source.clip_id] = NOT_HASHED_FLAT
    run.seconds = time.perf_counter() - started
    cache.save()
    return run


@dataclass(frozen=True)
class Link:
    """Two clips that show the same footage. kind: near-duplicate | overlap."""

    a: int
    b: int
    kind: str
    detail: str

    def as_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "kind": self.kind, "detail": self.detail}


def _candidate_pairs(ids: list[int], hashes: dict[int, np.ndarray],
                     max_distance: int) -> tuple[set, int]:
    """Index pairs (into ids) of clips with at least one pair of frames within max_distance
    bits that also share a 16-bit quarter of their hashes; and how many over-full quarters
    (more than BUCKET_CAP frames alike) were not used. Vectorised: frames are sorted by one
    quarter at a time and each frame is compared with the d-th next one while they share
    it (d = 1, 2, ...), so the work grows with the bucket sizes, not with the clip count
    squared."""
    lengths = [len(hashes[c]) for c in ids]
    values = np.concatenate([hashes[c] for c in ids])
    owner = np.repeat(np.arange(len(ids)), lengths)
    found: list[np.ndarray] = []
    skipped = 0
    for quarter in range(4):
        key = (values >> np.uint64(16 * quarter)) & np.uint64(0xFFFF)
        order = np.argsort(key, kind="stable")
        key = key[order]
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        sizes = np.diff(np.r_[starts, len(key)])
        skipped += int((sizes > BUCKET_CAP).sum())
        usable = np.repeat(sizes <= BUCKET_CAP, sizes)
        largest = int(sizes[sizes <= BUCKET_CAP].max(initial=1))
        for d in range(1, largest):
            same = (key[:-d] == key[d:]) & usable[:-d]
            first, second = order[:-d][same], order[d:][same]
            other = owner[first] != owner[second]
            first, second = first[other], second[other]
            close = _popcount(values[first] ^ values[second]) <= max_distance
            a, b = owner[first][close], owner[second][close]
            found.append(np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1))
    if not found:
        return set(), skipped
    unique = np.unique(np.concatenate(found), axis=0)
    return {(int(a), int(b)) for a, b in unique}, skipped


def near_duplicate_pairs(hashes: dict[int, np.ndarray], *, max_distance: int = MAX_DISTANCE,
                         min_share: float = MIN_SHARE) -> tuple[list[Link], int]:
    """Pairs of clips with near-identical footage (see the module docstring), ascending;
    and how many over-full hash buckets were not used (BUCKET_CAP)."""
    ids = sorted(c for c, h in hashes.items() if len(h))
    if len(ids) < 2:
        return [], 0
    candidates, skipped = _candidate_pairs(ids, hashes, max_distance)
    links = []
    for i, j in sorted(candidates):
        a, b = hashes[ids[i]], hashes[ids[j]]
        distances = hamming(a, b)
        matched_a = int((distances.min(axis=1) <= max_distance).sum())
        matched_b = int((distances.min(axis=0) <= max_distance).sum())
        share = max(matched_a / len(a), matched_b / len(b))
        if share >= min_share and min(matched_a, matched_b) >= min(2, len(a), len(b)):
            nearest = distances.min(axis=1 if matched_a / len(a) >= matched_b / len(b) else 0)
            median = int(np.median(nearest[nearest <= max_distance]))
            links.append(Link(ids[i], ids[j], "near-duplicate",
                              f"{matched_a} of {len(a)} and {matched_b} of {len(b)} sampled "
                              f"frames match (median {median} bits)"))
    return links, skipped


def overlap_pairs(session: Session, clip_ids) -> list[Link]:
    """Pairs of clips of one movie whose spans overlap, ascending."""
    ids = sorted(int(c) for c in clip_ids)
    rows = session.execute(select(Clip.id, Clip.movie_id, Clip.start_s, Clip.end_s)
                           .where(Clip.id.in_(ids), Clip.movie_id.is_not(None))
                           .order_by(Clip.movie_id, Clip.start_s, Clip.id)).all() if ids else []
    links = []
    by_movie: dict[int, list] = {}
    for row in rows:
        by_movie.setdefault(row.movie_id, []).append(row)
    for movie_id, clips in by_movie.items():
        for n, first in enumerate(clips):
            for second in clips[n + 1:]:
                if second.start_s >= first.end_s - OVERLAP_MIN_S:
                    break
                shared = min(first.end_s, second.end_s) - max(first.start_s, second.start_s)
                if shared > OVERLAP_MIN_S:
                    a, b = sorted((first.id, second.id))
                    links.append(Link(a, b, "overlap",
                                      f"movie {movie_id}: {shared:.2f} s shared"))
    return sorted(links, key=lambda link: (link.a, link.b))


def link_groups(ids, links: list[Link], base: dict[int, str] | None = None) -> dict[int, str]:
    """Union of the links (and of clips with the same base group, e.g. one movie): clip ->
    group name, the smallest base name (default the clip id) in the group."""
    ids = [int(c) for c in ids]
    names = {c: (base or {}).get(c, str(c)) for c in ids}
    parent = {name: name for name in names.values()}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for link in links:
        if link.a in names and link.b in names:
            x, y = find(names[link.a]), find(names[link.b])
            if x != y:
                parent[max(x, y)] = min(x, y)
    return {c: find(names[c]) for c in ids}


@dataclass
class Leakage:
    """What `folds` found: links between candidate clips and the clips it could not check."""

    links: list[Link] = field(default_factory=list)
    checked: bool = False                    # near-duplicates looked for (a workspace given)
    not_hashed: dict[int, str] = field(default_factory=dict)
    hashed: int = 0
    computed: int = 0
    cached: int = 0
    seconds: float = 0.0
    skipped_buckets: int = 0

    def count(self, kind: str) -> int:
        return sum(1 for link in self.links if link.kind == kind)

    def split(self, folds) -> list[Link]:
        """Links whose two clips lie in different folds."""
        return [link for link in self.links if link.a in folds.index and link.b in folds.index
                and int(folds[link.a]) != int(folds[link.b])]

    def as_dict(self) -> dict:
        not_hashed: dict[str, list[int]] = {}
        for clip_id, reason in sorted(self.not_hashed.items()):
            not_hashed.setdefault(reason, []).append(clip_id)
        per_clip = self.seconds / self.computed if self.computed else None
        return {"near_duplicates_checked": self.checked,
                "near_duplicate_pairs": self.count("near-duplicate"),
                "overlapping_pairs": self.count("overlap"),
                "links": [link.as_dict() for link in self.links],
                "not_hashed": not_hashed,
                "hashing": {"clips": self.hashed, "computed": self.computed,
                            "cached": self.cached, "seconds": round(self.seconds, 3),
                            "seconds_per_clip": None if per_clip is None else round(per_clip, 4),
                            "skipped_buckets": self.skipped_buckets}}


def find_leakage(session: Session, clip_ids, *, workspace=None, jobs: int | None = None,
                 progress: bool = False) -> Leakage:
    """Overlapping clips of one movie (from the database), and near-duplicate footage
    (frame hashes; only with a workspace, whose files they are read from)."""
    ids = sorted(int(c) for c in clip_ids)
    leakage = Leakage(links=overlap_pairs(session, ids))
    if workspace is not None:
        run = hash_clips(workspace, session, ids, jobs=jobs, progress=progress)
        near, skipped = near_duplicate_pairs(run.hashes)
        leakage.checked = True
        leakage.not_hashed = run.not_hashed
        leakage.hashed, leakage.computed, leakage.cached = len(run.hashes), run.computed, \
            run.cached
        leakage.seconds, leakage.skipped_buckets = run.seconds, skipped
        kinds = {(link.a, link.b): link for link in leakage.links}
        for link in near:
            kinds.setdefault((link.a, link.b), link)   # an overlap says more than a hash
        leakage.links = sorted(kinds.values(), key=lambda link: (link.a, link.b))
    return leakage
