"""Issue 12 input 4 end to end: an anamorphic DVD-style movie (720x576, SAR 64:45) and its
square-pixel copy (1024x576) through ingest, clips import, cut and preprocess give the
same faces — not faces squeezed to 0.73 of their width."""

import json

import cv2
import numpy as np
import pytest

from dfew_build.faces.detectors import create_detector
from dfew_build.faces.store import read_clip_frames
from dfew_build.media.decode import VideoReader
from tests import movie_kinds as kinds


def _face_geometry(detector, frames) -> float:
    """Median inter-ocular distance / eye-to-mouth distance over frames with one face."""
    ratios = []
    for faces in detector.detect(frames):
        if len(faces.boxes) != 1:
            continue
        eye_l, eye_r, _, mouth_l, mouth_r = faces.landmarks[0]
        eyes, mouth = (eye_l + eye_r) / 2, (mouth_l + mouth_r) / 2
        ratios.append(np.linalg.norm(eye_r - eye_l) / np.linalg.norm(mouth - eyes))
    assert ratios, "no single face found"
    return float(np.median(ratios))


@pytest.mark.slow
def test_anamorphic_movie_gives_unsqueezed_faces(cli, tmp_path, sample_media):
    anam, square = kinds.anamorphic(tmp_path, sample_media)
    ws = tmp_path / "ws"
    cli("init", ws)
    assert cli("-w", ws, "ingest", anam, square).exit_code == 0
    table = tmp_path / "clips.csv"
    table.write_text("movie,start,end,extractor\n"
                     f"{anam.name},0,1,eve\n{square.name},0,1,eve\n")
    assert cli("-w", ws, "clips", "import", table).exit_code == 0
    result = cli("-w", ws, "clips", "cut")
    assert result.exit_code == 0, result.stderr
    clips = {c["movie_id"]: c for c in json.loads(cli("-w", ws, "clips", "list",
                                                      "--json").stdout)}
    cut_anam, cut_square = (ws / clips[1]["path"], ws / clips[2]["path"])
    frames_anam = [f.image for f in VideoReader(cut_anam).frames()]
    frames_square = [f.image for f in VideoReader(cut_square).frames()]
    # The cut clip is square-pixel at the display size.
    assert frames_anam[0].shape == frames_square[0].shape == (576, 1024, 3)
    assert len(frames_anam) == len(frames_square) == 24

    detector = create_detector("mtcnn")
    ratio = _face_geometry(detector, frames_anam) / _face_geometry(detector, frames_square)
    assert ratio == pytest.approx(1.0, abs=0.05)  # issue: 0.73 before

    result = cli("-w", ws, "preprocess", "--detector", "mtcnn", "--jobs", "1")
    assert result.exit_code == 0, result.stderr
    faces = [[cv2.imread(str(p)).astype(float) for p in read_clip_frames(ws / "faces" / "frames",
                                                                         clips[m]["id"])]
             for m in (1, 2)]
    assert len(faces[0]) == len(faces[1]) == 24
    # The aligned faces of the two copies agree (a squeezed face aligns visibly differently).
    difference = np.mean([np.abs(a - b).mean() for a, b in zip(*faces)])
    assert difference < 8
