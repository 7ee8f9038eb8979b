"""Issue 12 through the CLI: the movies researchers really have, each decoded the same,
correct way by ingest, `movies list`, `clips propose` and the decoder every stage uses."""

import json

import numpy as np
import pytest

from dfew_build.media.decode import Display, VideoReader
from tests import movie_kinds as kinds


def _ingest(cli, ws, *paths):
    result = cli("-w", ws, "ingest", "--json", *paths)
    return json.loads(result.stdout)


def _movies(cli, ws):
    return json.loads(cli("-w", ws, "movies", "list", "--json").stdout)


def _propose(cli, ws, movie):
    result = cli("-w", ws, "clips", "propose", "--json", "--detector", "mtcnn",
                 "--movies", str(movie))
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["movies"][0]


def _spans(cli, ws, movie_id):
    clips = json.loads(cli("-w", ws, "clips", "list", "--json").stdout)
    return sorted((round(c["start_s"], 3), round(c["end_s"], 3)) for c in clips
                  if c["movie_id"] == movie_id)


@pytest.mark.slow
@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotation_flag_is_applied_everywhere(cli, tmp_path, sample_media, rotation):
    upright, phone = kinds.rotated_phone_video(tmp_path, sample_media, rotation)
    ws = tmp_path / "ws"
    cli("init", ws)
    _ingest(cli, ws, upright, phone)
    by_name = {m["path"].rsplit("/", 1)[1]: m for m in _movies(cli, ws)}
    movie = by_name[phone.name]
    assert (movie["width"], movie["height"], movie["rotation"]) == (360, 640, rotation)
    assert (movie["coded_width"], movie["coded_height"]) == (
        (640, 360) if rotation in (90, 270) else (360, 640))
    table = cli("-w", ws, "movies", "list").stdout
    assert f"rotated {rotation}°" in table and "360x640" in table
    # The decoder shows the phone file as the upright one.
    a = next(VideoReader(upright).frames()).image.astype(float)
    b = next(VideoReader(phone).frames()).image.astype(float)
    assert a.shape == b.shape == (640, 360, 3)
    assert np.abs(a - b).mean() < 3
    # Proposals see the face: as many candidates as on the upright copy.
    assert len(_propose(cli, ws, by_name[upright.name]["id"])["candidates"]) == 3
    assert len(_propose(cli, ws, movie["id"])["candidates"]) == 3


@pytest.mark.slow
@pytest.mark.parametrize("offset", [None, 600.0])
def test_timeline_starts_at_first_video_frame(cli, tmp_path, sample_media, offset):
    source = kinds.face_then_grey(tmp_path, sample_media)
    ts = kinds.transport_stream(source, tmp_path / "recording.ts", offset)
    ws = tmp_path / "ws"
    cli("init", ws)
    report = _ingest(cli, ws, ts)
    assert report["summary"]["ingested"] == 1, report
    movie = _movies(cli, ws)[0]
    assert movie["start_s"] == pytest.approx((offset or 0) + 1.4, abs=0.1)
    assert movie["duration_s"] == pytest.approx(10.01, abs=0.05)
    assert movie["frame_count"] == 240
    times = [f.time_s for f in VideoReader(ts, start_offset_s=movie["start_s"]).frames()]
    assert times[0] == 0.0 and times[48] == pytest.approx(48 * 1001 / 24000, abs=1e-3)
    proposal = _propose(cli, ws, movie["id"])
    assert proposal["shots"] == 2
    assert _spans(cli, ws, movie["id"]) == [(0.0, 2.0)]


def test_joined_vobs_are_rejected_with_the_remux_that_fixes_them(cli, tmp_path):
    joined = kinds.joined_vobs(tmp_path)
    ws = tmp_path / "ws"
    cli("init", ws)
    report = _ingest(cli, ws, joined)
    outcome = report["files"][0]
    assert outcome["status"] == "rejected"
    fixed = tmp_path / "joined.fixed.vob"
    assert outcome["message"] == (
        "the timestamps go back from 5.46 s to 0.50 s (at 4.92 s into the video): files "
        "joined with cat or a spliced recording, whose frames no stage can address by time; "
        "remux it so FFmpeg rewrites the timestamps, then ingest the new file: "
        f'ffmpeg -i "{joined}" -map 0 -c copy "{fixed}"')
    # The command named in the message works: 10 s, all 250 frames reachable.
    kinds.ffmpeg("-i", joined, "-map", "0", "-c", "copy", fixed)
    report = _ingest(cli, ws, fixed)
    assert report["summary"]["ingested"] == 1
    movie = [m for m in _movies(cli, ws) if m["status"] == "ok"][0]
    assert (movie["duration_s"], movie["frame_count"]) == (10.0, 250)
    reader = VideoReader(fixed, start_offset_s=movie["start_s"])
    assert len(list(reader.frames(start_s=6.0, end_s=8.0))) == 50
    csv = tmp_path / "clips.csv"
    csv.write_text(f"movie,start,end,extractor\n{movie['id']},6,8,eve\n")
    result = cli("-w", ws, "clips", "import", csv)
    assert result.exit_code == 0, result.stderr


def test_header_that_promises_more_than_the_data_is_rejected(cli, tmp_path, sample_media):
    avi = kinds.truncated_avi(tmp_path, sample_media)
    ws = tmp_path / "ws"
    cli("init", ws)
    result = cli("-w", ws, "ingest", avi)
    assert result.exit_code == 1
    assert (f"rejected: {avi}: truncated: the index/header claims 11.26 s (270 frames) but "
            "data ends at ") in result.stderr
    assert "re-copy the file from its source" in result.stderr
    assert _movies(cli, ws)[0]["status"] == "rejected"


def test_interlaced_sources(cli, tmp_path, sample_media):
    h264 = kinds.interlaced_h264_ts(tmp_path, sample_media)
    combed = kinds.panning_face(tmp_path, sample_media, interlaced=True)
    progressive = kinds.panning_face(tmp_path, sample_media, interlaced=False)
    ws = tmp_path / "ws"
    cli("init", ws)
    report = _ingest(cli, ws, h264, combed, progressive)
    assert [f["status"] for f in report["files"]] == ["ingested"] * 3, report
    rows = {m["path"].rsplit("/", 1)[1]: m for m in _movies(cli, ws)}
    assert rows[h264.name]["frame_count"] == 144
    assert (rows[combed.name]["interlaced"], rows[combed.name]["field_order"]) == (True, "tff")
    assert rows[progressive.name]["interlaced"] is False
    assert "interlaced tff, deinterlaced (bwdif)" in cli("-w", ws, "movies", "list").stdout

    def combing(path, display):
        frames = [f.image[..., 1].astype(float) for f in
                  VideoReader(path, display).frames(start_s=0.5, end_s=1.5)]
        return float(np.mean([np.abs(g[1:-1] - (g[:-2] + g[2:]) / 2).mean() for g in frames]))

    raw = combing(combed, Display(interlaced=False))
    shown = combing(combed, Display(interlaced=True, field_order="tff"))
    reference = combing(progressive, Display())
    assert raw > 3 * reference
    assert shown < 1.5 * reference + 0.5


def test_anamorphic_pixels_are_squared(cli, tmp_path, sample_media):
    anam, square = kinds.anamorphic(tmp_path, sample_media)
    ws = tmp_path / "ws"
    cli("init", ws)
    _ingest(cli, ws, anam, square)
    rows = {m["path"].rsplit("/", 1)[1]: m for m in _movies(cli, ws)}
    assert (rows[anam.name]["width"], rows[anam.name]["height"], rows[anam.name]["sar"],
            rows[anam.name]["coded_width"]) == (1024, 576, "64:45", 720)
    assert "SAR 64:45 (coded 720x576)" in cli("-w", ws, "movies", "list").stdout
    a = next(VideoReader(anam).frames()).image.astype(float)
    b = next(VideoReader(square).frames()).image.astype(float)
    assert a.shape == b.shape == (576, 1024, 3)
    assert np.abs(a - b).mean() < 4


@pytest.mark.slow
def test_proposals_find_the_small_faces_preprocessing_keeps(cli, tmp_path, sample_media):
    wide = kinds.wide_shot_small_face(tmp_path, sample_media)
    ws = tmp_path / "ws"
    cli("init", ws)
    _ingest(cli, ws, wide)
    proposal = _propose(cli, ws, 1)
    assert proposal["samples"] == 12
    assert _spans(cli, ws, 1) == [(0.0, 2.0), (2.0, 4.0), (4.0, 6.0)]


def test_matroska_whose_timeline_starts_late_is_not_truncated(cli, tmp_path, sample_media):
    """Matroska stores a segment duration that includes -output_ts_offset: 610 s claimed
    for 10 s of data starting at 600 s (a newcomer's neighbour of input 2)."""
    source = kinds.face_then_grey(tmp_path, sample_media)
    mkv = tmp_path / "late.mkv"
    kinds.ffmpeg("-i", source, "-c", "copy", "-output_ts_offset", "600", mkv)
    ws = tmp_path / "ws"
    cli("init", ws)
    report = _ingest(cli, ws, mkv)
    assert report["summary"]["ingested"] == 1, report
    movie = _movies(cli, ws)[0]
    assert (movie["start_s"], movie["frame_count"]) == (600.0, 240)
    assert movie["duration_s"] == pytest.approx(10.01, abs=0.05)
