"""`clips cut` on the movies researchers really have (issue 12): exactly the marked frames
in every container and at every rate, whatever the timeline's offset, upright, square
pixels, progressive. Each movie's frames draw their own index, read back from the cut."""

import json
import re
from fractions import Fraction

import av
import numpy as np
import pytest

from tests import movie_kinds as kinds
from tests.realworld_media import combing, damaged_copy, index_bars_movie, read_index_bars

# Issue 12 input 3: marks that VOB and TS cuts got wrong (33f-63f gave 33..64) or refused.
MARKS = [(33, 63), (137, 167), (211, 241), (250, 280)]


def _workspace(cli, tmp_path, *movies):
    ws = tmp_path / "ws"
    cli("init", ws)
    result = cli("-w", ws, "ingest", "--json", *movies)
    assert result.exit_code == 0, result.stderr
    return ws


def _movies(cli, ws):
    return json.loads(cli("-w", ws, "movies", "list", "--json").stdout)


def _import(cli, ws, tmp_path, rows):
    """Import rows (movie, start, end) as clips (overlaps allowed); their ids."""
    csv = tmp_path / "clips.csv"
    csv.write_text("movie,start,end,extractor\n"
                   + "".join(f"{m},{s},{e},x\n" for m, s, e in rows))
    result = cli("-w", ws, "clips", "import", "--json", "--allow-overlap", csv)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["clip_ids"]


def _cut(cli, ws, tmp_path, rows):
    """Import rows (movie, start, end) as clips, cut them; the cut files in row order."""
    ids = _import(cli, ws, tmp_path, rows)
    result = cli("-w", ws, "clips", "cut", "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["summary"]["cut"] == len(rows)
    return [ws / f"clips/{clip_id:05d}.mp4" for clip_id in ids]


def _assert_frames(path, first, stop, fps):
    """The cut holds movie frames first..stop-1, frame k at k / fps (within half a frame)."""
    indices, times = read_index_bars(path)
    assert indices == list(range(first, stop)), (path.name, indices)
    assert all(abs(t - k / fps) < 0.5 / fps for k, t in enumerate(times)), times


CONTAINERS = [("vob", "30000/1001"), ("ts", "30000/1001")] + [
    (suffix, rate) for suffix in ("mp4", "mkv", "avi", "ts") for rate in ("24000/1001", "25")]


@pytest.mark.parametrize("suffix,rate", CONTAINERS)
def test_marks_in_frames_cut_exactly_those_frames(cli, tmp_path, suffix, rate):
    movie = index_bars_movie(tmp_path / f"bars.{suffix}", rate=rate)
    ws = _workspace(cli, tmp_path, movie)
    fps = _movies(cli, ws)[0]["fps"]
    assert fps == pytest.approx(float(Fraction(rate)), rel=1e-6)
    files = _cut(cli, ws, tmp_path, [(1, f"{s}f", f"{e}f") for s, e in MARKS])
    for (first, stop), path in zip(MARKS, files):
        _assert_frames(path, first, stop, fps)


def test_timestamps_out_of_order_do_not_move_the_cut(cli, tmp_path):
    """FFmpeg's MPEG-PS muxer, packing several small frames per PES packet, stamps frames
    63-67 of this VOB with the times of frames 61-65 (as FFmpeg itself reads it back).
    Clips starting on and around them still hold exactly their frames, counted in
    decoding order from a seek before them."""
    vob = index_bars_movie(tmp_path / "bars.vob")
    indices, times = read_index_bars(vob)
    assert indices == list(range(300))
    assert times[63] < times[62]  # the case this test is about is still built
    ws = _workspace(cli, tmp_path, vob)
    starts = range(58, 70)
    files = _cut(cli, ws, tmp_path, [(1, f"{s}f", f"{s + 30}f") for s in starts])
    for first, path in zip(starts, files):
        _assert_frames(path, first, first + 30, 30000 / 1001)


def test_damaged_span_is_refused_and_the_rest_is_cut(cli, tmp_path):
    """A VOB with 6 KiB zeroed (a bad sector: about 35 frames gone): a clip across the hole
    is refused with the numbers and the fix; clips before and after it are exact."""
    vob = index_bars_movie(tmp_path / "bars.vob")
    damaged = damaged_copy(vob, tmp_path / "damaged.vob", 30720, 6144)
    ws = _workspace(cli, tmp_path, damaged)
    ids = _import(cli, ws, tmp_path, [(1, "137f", "167f"), (1, "100f", "130f"),
                                      (1, "200f", "230f")])
    result = cli("-w", ws, "clips", "cut")
    assert result.exit_code == 1
    assert re.fullmatch(
        r"failed: clip 1: 00:00:04\.571-00:00:05\.572 of movie 1 \(frames 137-166 at 29\.970 "
        r"fps\): the movie's decoded frames and their timestamps disagree by \+\d+ frames "
        r"across this span \(frames missing or damaged data\); check it with `ffmpeg -v "
        r"error -i MOVIE -f null -` and re-copy it from its source",
        result.stderr.splitlines()[0]), result.stderr
    assert result.stdout == "cut 2, already cut 0, failed 1\n"
    for clip_id, first in zip(ids[1:], (100, 200)):
        _assert_frames(ws / f"clips/{clip_id:05d}.mp4", first, first + 30, 30000 / 1001)
    assert not list((ws / "clips").glob(".*"))  # no temporary file left


def test_late_timelines(cli, tmp_path):
    """A broadcast recording whose clock starts at 600 s, and an MPEG-4 Part 2 AVI whose
    first frame is at 0.042 s (B-frame delay): time 0 is the first frame in both."""
    vob = index_bars_movie(tmp_path / "bars.vob")
    late_ts = kinds.transport_stream(vob, tmp_path / "late.ts", offset_s=600)
    avi = index_bars_movie(tmp_path / "bars.avi", rate="24000/1001")
    ws = _workspace(cli, tmp_path, late_ts, avi)
    starts = [round(m["start_s"], 3) for m in _movies(cli, ws)]
    assert starts == [601.4, 0.042]
    files = _cut(cli, ws, tmp_path, [(1, "137f", "167f"), (1, "00:00:08", "00:00:09.5"),
                                     (2, 0, 2.2)])
    _assert_frames(files[0], 137, 167, 30000 / 1001)
    _assert_frames(files[1], 240, 285, 30000 / 1001)  # round(8 * 29.97), round(9.5 * 29.97)
    _assert_frames(files[2], 0, 53, 24000 / 1001)     # 2.2 s * 23.976 = 52.7 -> 53 frames


def test_anamorphic_movie_cuts_to_square_pixels(cli, tmp_path, sample_media):
    anamorphic, square = kinds.anamorphic(tmp_path, sample_media)
    ws = _workspace(cli, tmp_path, anamorphic, square)
    files = _cut(cli, ws, tmp_path, [(1, 1.0, 2.5), (2, 1.0, 2.5)])
    pictures = []
    for path in files:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            assert (stream.width, stream.height) == (1024, 576)
            assert stream.sample_aspect_ratio in (None, 1)
            pictures.append(next(container.decode(stream)).to_ndarray(format="rgb24"))
    assert np.abs(pictures[0].astype(float) - pictures[1]).mean() < 4  # not squeezed


def test_interlaced_movie_cuts_progressive(cli, tmp_path, sample_media):
    combed = kinds.panning_face(tmp_path, sample_media, interlaced=True)
    progressive = kinds.panning_face(tmp_path, sample_media, interlaced=False)
    ws = _workspace(cli, tmp_path, combed, progressive)
    assert [(m["interlaced"], m["field_order"]) for m in _movies(cli, ws)] == [
        (True, "tff"), (False, "progressive")]
    files = _cut(cli, ws, tmp_path, [(1, 0.5, 1.5), (2, 0.5, 1.5)])

    def luma(path, start_s=0.0, end_s=1.0):
        with av.open(str(path)) as container:
            return [f.to_ndarray(format="gray") for f in container.decode(video=0)
                    if start_s <= f.time < end_s]

    # Whole frames (the face pans across them), the source over the clip's second.
    first = _movies(cli, ws)[0]["start_s"]
    woven = luma(combed, first + 0.5, first + 1.5)
    cut, reference = luma(files[0]), luma(files[1])
    assert (len(cut), len(reference)) == (30, 60)  # 29.97 frames/s, 59.94 frames/s
    print(f"combing: woven {combing(woven):.2f}, cut {combing(cut):.2f}, "
          f"progressive cut {combing(reference):.2f}")
    assert combing(woven) > 3 * combing(reference)
    assert combing(cut) < 1.5 * combing(reference) + 0.5


@pytest.mark.parametrize("rotation", [90, 270])
def test_rotated_interlaced_movie_is_deinterlaced_along_its_fields(cli, tmp_path,
                                                                   sample_media, rotation):
    """Fields are rows of the coded picture: bwdif must run before the autorotation, or a
    sideways-stored interlaced movie keeps its combing (as columns of the upright clip)."""
    movie = kinds.rotated_interlaced(tmp_path, sample_media, rotation)
    ws = _workspace(cli, tmp_path, movie)
    row = _movies(cli, ws)[0]
    assert (row["rotation"], row["interlaced"], row["width"], row["height"]) == (
        rotation, True, 640, 480)
    [cut] = _cut(cli, ws, tmp_path, [(1, 0.5, 1.5)])
    with av.open(str(cut)) as container:
        frames = [f.to_ndarray(format="gray") for f in container.decode(video=0)]
    assert frames[0].shape == (480, 640)
    columns = combing([f.T for f in frames])  # the coded rows are the clip's columns
    woven = combing([f.T for f in _woven_upright(movie)])
    print(f"rotated {rotation}: woven {woven:.2f}, cut {columns:.2f}")
    assert columns < woven / 3


def _woven_upright(movie):
    with av.open(str(movie)) as container:
        return [np.rot90(f.to_ndarray(format="gray"), f.rotation // 90)
                for f in container.decode(video=0)][15:45]
