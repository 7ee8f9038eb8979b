"""`clips propose` and the clips demo step with the real MTCNN detector on real sample media."""

import json

import pytest

from dfew_build.clips.demo import run_clips_demo
from dfew_build.clips.propose import candidate_windows
from dfew_build.faces.detectors import create_detector
from dfew_build.media.ingest import ingest


@pytest.fixture(scope="module")
def detector():
    return create_detector("mtcnn")


def test_windows_fit_inside_shots_and_need_one_face():
    shots = [(0.0, 2.5), (2.5, 7.0)]
    samples = [(t / 2, 1) for t in range(5)] + [(2.5, 2), (3.0, 2), (3.5, 1), (4.0, 1),
                                                (4.5, 1), (5.0, 0), (5.5, 1), (6.0, 1)]
    # 0-2: all one face; 2.5-4.5: two of four; 4.5-6.5: three of four.
    assert candidate_windows(shots, samples, 2.0, 0.6) == [(0.0, 2.0, 1.0),
                                                           (4.5, 6.5, 0.75)]
    assert candidate_windows(shots, samples, 2.0, 0.5) == [(0.0, 2.0, 1.0),
                                                           (4.5, 6.5, 0.75),
                                                           (2.5, 4.5, 0.5)]
    assert candidate_windows([(0.0, 1.5)], samples, 2.0, 0.0) == []  # shot too short


def test_propose_confirm_cut(cli, tmp_path, sample_media):
    ws = tmp_path / "ws"
    cli("init", ws)
    for name in ("single_face.mp4", "no_face.mp4", "noface_face.mov"):
        cli("-w", ws, "ingest", sample_media / name)
    result = cli("-w", ws, "clips", "propose", "--detector", "mtcnn")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "movie 1 (single_face.mp4): 1 shots, 5 frames checked, 1 new candidates",
        "movie 2 (no_face.mp4): 1 shots, 8 frames checked, 0 new candidates",
        "movie 3 (noface_face.mov): 3 shots, 13 frames checked, 1 new candidates",
        "2 new candidates from 3 movies (0 skipped: already proposed, 0 failed)",
        "review them with: dfew-build clips list --status candidate"]
    clips = json.loads(cli("-w", ws, "clips", "list", "--json").stdout)
    # single_face: the whole first 2 s; noface_face: the face appears with the shot change.
    assert [(c["movie_id"], round(c["start_s"], 3), round(c["end_s"], 3), c["source"],
             c["status"], c["extractor"]) for c in clips] == [
        (1, 0.0, 2.0, "proposed", "candidate", None),
        (3, 3.945, 5.945, "proposed", "candidate", None)]
    # Candidates are not cut and do not count as clips until confirmed.
    assert cli("-w", ws, "clips", "cut").stdout == "cut 0, already cut 0, failed 0\n"
    # eve is nobody yet: confirm adds an extractor only when asked (a typo must not).
    assert cli("-w", ws, "clips", "confirm", "1", "--extractor", "eve",
               "--new-extractor").exit_code == 0
    assert cli("-w", ws, "clips", "reject", "2").exit_code == 0
    assert cli("-w", ws, "clips", "cut").stdout == "cut 1, already cut 0, failed 0\n"
    # Re-proposing skips movies with proposals and never offers a known span again.
    again = json.loads(cli("-w", ws, "clips", "propose", "--json", "--movies",
                           "single_face.mp4,3", "--again", "--detector", "mtcnn").stdout)
    assert again["summary"] == {"movies": 2, "proposed": 2, "skipped": 0, "failed": 0,
                                "candidates": 0}
    skipped = json.loads(cli("-w", ws, "clips", "propose", "--json", "--movies", "1").stdout)
    assert skipped["movies"][0]["status"] == "skipped"
    result = cli("-w", ws, "clips", "propose", "--movies", "nope.mp4")
    assert result.exit_code == 1
    assert result.stderr == ("Error: unknown movie 'nope.mp4': no ingested movie has that id, "
                             "file name or path; ingest it first with: dfew-build ingest PATH\n")


def test_clips_demo_is_idempotent(workspace, sample_media, detector):
    ingest(workspace, [sample_media / n for n in ("single_face.mp4", "face_noface.mov",
                                                  "no_face.mp4")])
    first = run_clips_demo(workspace, detector=detector)
    assert first == {"movies_scanned": 3, "proposed": 2, "confirmed": 2, "candidates": 0,
                     "accepted": 2, "cut": 2, "already_cut": 0, "failed": 0}
    second = run_clips_demo(workspace, detector=detector)
    assert second == {"movies_scanned": 1, "proposed": 0, "confirmed": 0, "candidates": 0,
                      "accepted": 2, "cut": 0, "already_cut": 2, "failed": 0}
    assert sorted(p.name for p in workspace.clips_dir.iterdir()) == ["00001.mp4", "00002.mp4"]


def test_progress_counts_movie_seconds(workspace, sample_media, detector, capsys):
    """Issue 17 item 15: progress in seconds of movie, not movies, so a feature film moves."""
    from dfew_build.clips.propose import propose_clips
    from dfew_build.media.probe import probe

    names = ("single_face.mp4", "noface_face.mov")
    for name in names:
        ingest(workspace, [sample_media / name])
    total = sum(probe(sample_media / name).duration_s for name in names)
    propose_clips(workspace, detector=detector, progress=True)
    err = capsys.readouterr().err
    final = err.replace("\r", "\n").strip().splitlines()[-1]
    assert f"{total:.0f}/{total:.0f} movie s" in final, err
    assert "100%" in final
    # a re-run skips both movies: nothing to scan, a bar of 0 movie seconds
    propose_clips(workspace, detector=detector, progress=True)
    assert "0/0 movie s" in capsys.readouterr().err
