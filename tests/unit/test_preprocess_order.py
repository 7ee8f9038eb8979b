"""preprocess --jobs N starts the largest work first: decoded pixels, then file size."""

from __future__ import annotations

from dfew_build.faces.pipeline import _clip_work
from dfew_build.faces.process import ClipJob


def test_pixels_before_file_size(tmp_path):
    small_file, big_file = tmp_path / "a.mp4", tmp_path / "b.mp4"
    small_file.write_bytes(b"x" * 10)
    big_file.write_bytes(b"x" * 1000)
    # a long, easily compressed 1080p clip (small file) and a short busy 360p one
    long_hd = ClipJob(1, str(small_file), pixels=472 * 1920 * 1080)
    short_sd = ClipJob(2, str(big_file), pixels=48 * 640 * 360)
    imported = ClipJob(3, str(big_file))          # no movie: file size decides among these
    missing = ClipJob(4, str(tmp_path / "gone.mp4"))
    order = sorted([short_sd, imported, missing, long_hd], key=_clip_work, reverse=True)
    assert [job.clip_id for job in order] == [1, 2, 3, 4]
