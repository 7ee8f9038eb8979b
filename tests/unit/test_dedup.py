"""Near-duplicate matching on frame hashes, overlap of one movie's clips, grouping, the cache."""

from __future__ import annotations

import os

import numpy as np

from dfew_build import dedup
from dfew_build.db.models import Clip, Movie
from dfew_build.dedup import (CACHE_FILE, Link, hamming, hash_clips, image_hash, link_groups,
                              near_duplicate_pairs, overlap_pairs)
from tests.dfew_fixture import write_clip_video


def _flip(values: np.ndarray, bits: int, rng) -> np.ndarray:
    out = values.copy()
    for i in range(len(out)):
        for bit in rng.choice(64, bits, replace=False):
            out[i] ^= np.uint64(1) << np.uint64(int(bit))
    return out


def test_hamming_counts_bits_with_and_without_bitwise_count(monkeypatch):
    a = np.array([0, 0xFFFF_FFFF_FFFF_FFFF, 0b1011], dtype=np.uint64)
    b = np.array([0, 0b1], dtype=np.uint64)
    assert hamming(a, b).tolist() == [[0, 1], [64, 63], [3, 2]]
    monkeypatch.delattr(np, "bitwise_count", raising=False)
    assert hamming(a, b).tolist() == [[0, 1], [64, 63], [3, 2]]


def test_near_duplicates_by_share_of_matching_frames():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2**63, 8, dtype=np.uint64)
    hashes = {
        1: a,
        2: _flip(a, 2, rng),                                              # re-encoded copy
        3: rng.integers(0, 2**63, 8, dtype=np.uint64),                    # unrelated
        4: np.r_[a[4:], rng.integers(0, 2**63, 4, dtype=np.uint64)],      # overlaps half of 1
        5: np.r_[a[:1], rng.integers(0, 2**63, 7, dtype=np.uint64)],      # one frame alike
        6: a[2:4],                                                        # a 2-frame excerpt
        7: np.zeros(0, dtype=np.uint64),                                  # nothing hashed
    }
    links, skipped = near_duplicate_pairs(hashes)
    assert skipped == 0
    assert [(link.a, link.b) for link in links] == [(1, 2), (1, 4), (1, 6), (2, 4), (2, 6)]
    assert links[0] == Link(1, 2, "near-duplicate",
                            "8 of 8 and 8 of 8 sampled frames match (median 2 bits)")
    assert links[1].detail == "4 of 8 and 4 of 8 sampled frames match (median 0 bits)"
    assert links[2].detail == "2 of 8 and 2 of 2 sampled frames match (median 0 bits)"
    # 9 bits apart is not a match.
    far = {1: a, 2: _flip(a, 9, rng)}
    assert near_duplicate_pairs(far, max_distance=8)[0] == []


def test_flat_frames_are_not_hashed():
    black = np.zeros((90, 160, 3), np.uint8)
    assert image_hash(black) is None
    assert image_hash(black + 40) is None
    picture = np.random.default_rng(1).integers(0, 255, (90, 160, 3), dtype=np.uint8)
    assert isinstance(image_hash(picture), int)


def test_link_groups_union_links_and_base_groups():
    links = [Link(1, 2, "near-duplicate", ""), Link(2, 5, "overlap", ""),
             Link(7, 99, "overlap", "")]      # 99 is not a candidate: ignored
    assert link_groups([1, 2, 3, 4, 5, 7], links) == {1: "1", 2: "1", 3: "3", 4: "4", 5: "1",
                                                      7: "7"}
    by_movie = {1: "m1", 2: "m2", 3: "m2", 4: "m3", 5: "m4", 7: "m3"}
    assert link_groups([1, 2, 3, 4, 5, 7], links[:1], by_movie) == {
        1: "m1", 2: "m1", 3: "m1", 4: "m3", 5: "m4", 7: "m3"}


def test_overlaps_of_one_movie(workspace):
    with workspace.session() as session:
        movies = [Movie(path=f"/m/{i}.mp4", sha256=f"{i:064d}", size_bytes=1) for i in (1, 2)]
        session.add_all(movies)
        session.flush()
        spans = [(movies[0].id, 0.0, 2.0), (movies[0].id, 2.0, 4.0),    # touching: fine
                 (movies[0].id, 3.5, 5.0), (movies[1].id, 0.0, 2.0),    # 3.5-4.0 shared
                 (movies[0].id, 1.0, 4.5), (None, 0.0, 2.0)]
        for movie_id, start, end in spans:
            session.add(Clip(movie_id=movie_id, start_s=start, end_s=end, duration_s=end - start))
        session.flush()
        links = overlap_pairs(session, range(1, 7))
    assert [(link.a, link.b, link.detail) for link in links] == [
        (1, 5, f"movie {movies[0].id}: 1.00 s shared"),
        (2, 3, f"movie {movies[0].id}: 0.50 s shared"),
        (2, 5, f"movie {movies[0].id}: 2.00 s shared"),
        (3, 5, f"movie {movies[0].id}: 1.00 s shared")]


def test_hash_cache_reuses_and_redoes_a_changed_file(workspace):
    clips = workspace.root / "clips"
    with workspace.session() as session:
        for clip_id in (1, 2):
            write_clip_video(clips / f"{clip_id:05d}.mp4", clip_id, frames=24)
            session.add(Clip(id=clip_id, start_s=0, end_s=1, duration_s=1,
                             path=f"clips/{clip_id:05d}.mp4"))
        session.flush()
        first = hash_clips(workspace, session, [1, 2])
        assert (first.computed, first.cached) == (2, 0)
        assert [len(first.hashes[c]) for c in (1, 2)] == [4, 4]   # 1 s at 4 fps
        again = hash_clips(workspace, session, [1, 2])
        assert (again.computed, again.cached) == (0, 2)
        assert all(np.array_equal(first.hashes[c], again.hashes[c]) for c in (1, 2))
        write_clip_video(clips / "00002.mp4", 7, frames=24)
        os.utime(clips / "00002.mp4", ns=(1, 1))
        changed = hash_clips(workspace, session, [1, 2])
        assert (changed.computed, changed.cached) == (1, 1)
        assert not np.array_equal(changed.hashes[2], first.hashes[2])
    assert (workspace.root / CACHE_FILE).is_file()
    cached = dedup.HashCache(workspace.root / CACHE_FILE)
    assert sorted(cached.entries) == ["1", "2"]
