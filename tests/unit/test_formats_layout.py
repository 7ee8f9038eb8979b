"""Release naming and idempotent file placement (links, copies, skips)."""

from __future__ import annotations

import errno
import os

from dfew_build.formats import layout
from dfew_build.formats.layout import (clip_name, frame_name, parse_clip_name, place_file,
                                       sorted_frames, write_bytes)


def test_names():
    assert clip_name(12) == "00012"
    assert frame_name(12, 3) == "00012_00003.jpg"
    assert [parse_clip_name(v) for v in ("00012", "12", "12.0", "00012.mp4", " 7 ", "abc", "0",
                                         "-3", "")] == [12, 12, 12, 12, 7, None, None, None, None]


def test_frames_sort_numerically(tmp_path):
    for name in ("10.jpg", "9.jpg", "00001_00002.jpg", "notes.txt", ".hidden.jpg", "1.JPG"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in sorted_frames(tmp_path)] == ["1.JPG", "00001_00002.jpg", "9.jpg",
                                                          "10.jpg"]
    assert sorted_frames(tmp_path / "missing") == []


def test_place_file_links_then_skips_then_replaces(tmp_path):
    source = tmp_path / "a.bin"
    source.write_bytes(b"one")
    target = tmp_path / "out" / "b.bin"
    assert place_file(source, target) == "linked"
    assert os.path.samefile(source, target)
    assert place_file(source, target) == "skipped"
    other = tmp_path / "c.bin"
    other.write_bytes(b"one")
    assert place_file(other, target) == "skipped"  # same bytes, another inode
    other.write_bytes(b"two")
    assert place_file(other, target) == "linked"
    assert target.read_bytes() == b"two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["b.bin"]


def test_place_file_copies_when_links_are_refused(tmp_path, monkeypatch):
    def refuse(src, dst):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(layout.os, "link", refuse)
    source = tmp_path / "a.bin"
    source.write_bytes(b"data")
    target = tmp_path / "b.bin"
    assert place_file(source, target) == "copied"
    assert not os.path.samefile(source, target) and target.read_bytes() == b"data"
    assert place_file(source, target) == "skipped"


def test_write_bytes_is_atomic_and_idempotent(tmp_path):
    target = tmp_path / "x" / "f.csv"
    assert write_bytes(target, b"a,b\n") == "written"
    mtime = target.stat().st_mtime_ns
    assert write_bytes(target, b"a,b\n") == "skipped"
    assert target.stat().st_mtime_ns == mtime
    assert write_bytes(target, b"a,c\n") == "written"
    assert target.read_bytes() == b"a,c\n"
    assert [p.name for p in target.parent.iterdir()] == ["f.csv"]
