"""Protagonist tracking: IoU linking across frames, the longest track wins."""

from __future__ import annotations

import numpy as np

from dfew_build.faces.track import iou_matrix, link_tracks, protagonist


def box(x, y, w=60, h=60):
    return [x, y, x + w, y + h]


def frames_of(*per_frame):
    return [np.array(b, np.float64).reshape(-1, 4) for b in per_frame]


def test_iou_matrix():
    iou = iou_matrix([box(0, 0, 10, 10)], [box(0, 0, 10, 10), box(5, 0, 10, 10),
                                           box(20, 20, 5, 5)])
    assert np.allclose(iou, [[1.0, 50 / 150, 0.0]])
    assert iou_matrix(np.zeros((0, 4)), [box(0, 0)]).shape == (0, 1)


def test_moving_face_is_one_track_and_a_passer_by_loses():
    # The protagonist drifts 4 px a frame for 20 frames; a second face shows in 6 frames.
    per_frame = []
    for i in range(20):
        boxes = [box(100 + 4 * i, 80)]
        if 5 <= i < 11:
            boxes.insert(0, box(400, 90, 90, 90))  # bigger, listed first
        per_frame.append(boxes)
    tracks = link_tracks(frames_of(*per_frame))
    assert sorted(len(t) for t in tracks) == [6, 20]
    best = protagonist(tracks)
    assert best.frames == list(range(20))
    assert best.detections == [1 if 5 <= i < 11 else 0 for i in range(20)]


def test_short_gap_is_bridged_but_a_long_one_splits():
    short = [[box(50, 50)]] * 4 + [[]] * 3 + [[box(52, 50)]] * 4
    tracks = link_tracks(frames_of(*short), max_gap=5)
    assert len(tracks) == 1 and tracks[0].frames == [0, 1, 2, 3, 7, 8, 9, 10]
    long = [[box(50, 50)]] * 4 + [[]] * 6 + [[box(52, 50)]] * 4
    assert [len(t) for t in link_tracks(frames_of(*long), max_gap=5)] == [4, 4]


def test_a_jump_breaks_the_track():
    per_frame = [[box(0, 0)]] * 5 + [[box(300, 0)]] * 7
    tracks = link_tracks(frames_of(*per_frame))
    assert [len(t) for t in tracks] == [5, 7]
    assert protagonist(tracks).frames == list(range(5, 12))


def test_tie_goes_to_the_larger_face():
    per_frame = [[box(0, 0, 40, 40), box(200, 0, 80, 80)] for _ in range(10)]
    best = protagonist(link_tracks(frames_of(*per_frame)))
    assert len(best) == 10 and best.mean_area == 80 * 80
    # Detection order does not change the winner.
    swapped = [[b[1], b[0]] for b in per_frame]
    assert protagonist(link_tracks(frames_of(*swapped))).mean_area == 80 * 80


def test_two_faces_side_by_side_keep_their_identities():
    per_frame = [[box(100 + i, 100), box(170 + i, 100)] for i in range(8)]
    tracks = link_tracks(frames_of(*per_frame))
    assert [t.detections for t in tracks] == [[0] * 8, [1] * 8]


def test_no_detections_means_no_protagonist():
    assert protagonist(link_tracks(frames_of([], [], []))) is None
    assert protagonist([]) is None
