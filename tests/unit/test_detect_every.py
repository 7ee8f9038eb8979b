"""Keyframes and O-Net tracking (`--detect-every`, issue 18) on the real sample media."""

from __future__ import annotations

import numpy as np
import pytest

from dfew_build.errors import DetectorError, FacesError
from dfew_build.faces.detectors import create_detector
from dfew_build.faces.detectors.boxes import iou
from dfew_build.faces.process import FaceOptions, batch_size, detect_checked
from dfew_build.media.decode import decode_all


@pytest.fixture(scope="module")
def detector():
    return create_detector("mtcnn", threads=1, min_face=40, detect_size=640)


@pytest.fixture(scope="module")
def face_frames(sample_media):
    return decode_all(sample_media / "WolfgangLanger_Pexels.mp4")[0][:32]


@pytest.fixture(scope="module")
def empty_frames(sample_media):
    return decode_all(sample_media / "no_face.mp4")[0][:8]


def test_tracked_frames_find_the_faces_every_frame_detection_finds(detector, face_frames):
    every = detector.detect_sequence(face_frames, 0, 1)
    tracked = detector.detect_sequence(face_frames, 0, 4)
    assert [len(f) for f in tracked] == [len(f) for f in every] == [1] * len(face_frames)
    for k, (a, b) in enumerate(zip(every, tracked)):
        if k % 4 == 0:  # keyframes: the whole cascade, exactly
            assert np.array_equal(a.boxes, b.boxes)
            assert np.array_equal(a.landmarks, b.landmarks)
        side = a.boxes[0, 2] - a.boxes[0, 0]
        assert iou(a.boxes, b.boxes)[0, 0] > 0.8
        assert np.abs(a.landmarks - b.landmarks).max() < 0.05 * side


def test_results_do_not_depend_on_how_a_clip_is_cut_into_runs(detector, face_frames):
    whole = detector.detect_sequence(face_frames, 0, 4)
    runs = detector.detect_runs([(face_frames[:8], 0), (face_frames[8:24], 8),
                                 (face_frames[24:], 24)], 4)
    assert [len(r) for r in runs] == [8, 16, 8]
    for a, b in zip(whole, [f for run in runs for f in run]):
        assert np.allclose(a.boxes, b.boxes, atol=1e-3)
        assert np.allclose(a.landmarks, b.landmarks, atol=1e-3)


def test_a_lost_face_gets_the_whole_cascade_and_a_new_face_waits_for_a_keyframe(
        detector, face_frames, empty_frames):
    # The face leaves after frame 5: frames 6 and 7 track the keyframe-4 face, O-Net
    # rejects it, the cascade runs on them and finds nothing.
    leaving = detector.detect_sequence(face_frames[:6] + empty_frames[:6], 0, 4)
    assert [len(f) for f in leaving] == [1] * 6 + [0] * 6
    # A face that appears at frame 6 is found at the next keyframe, 8.
    arriving = detector.detect_sequence(empty_frames[:6] + face_frames[:6], 0, 4)
    assert [len(f) for f in arriving] == [0] * 8 + [1] * 4


def test_every_and_the_batch_size_are_checked(detector, face_frames):
    with pytest.raises(DetectorError, match=r"^every must be a positive integer, got 0$"):
        detector.detect_sequence(face_frames[:2], 0, 0)
    with pytest.raises(FacesError, match=r"^--detect-every must be a whole number within "
                                         r"\[1, 1000\], got 0$"):
        FaceOptions(detect_every=0)
    # Calls start on keyframes: the batch is a multiple of detect_every.
    assert batch_size(FaceOptions(batch_size=16, detect_every=4)) == 16
    assert batch_size(FaceOptions(batch_size=16, detect_every=5)) == 20
    assert batch_size(FaceOptions(batch_size=16, detect_every=1)) == 16


def test_detectors_without_tracking_detect_every_frame(face_frames):
    class EveryFrame:
        """A detector with no detect_runs (as SCRFD): each frame detected on its own."""
        name = "plain"

        def __init__(self):
            self.inner = create_detector("mtcnn", threads=1, min_face=40, detect_size=640)
            self.seen = 0

        def detect(self, frames):
            self.seen += len(frames)
            return self.inner.detect(frames)

    plain = EveryFrame()
    faces = detect_checked(plain, face_frames[:8], FaceOptions(detect_every=4), 0)
    assert plain.seen == 8 and [len(f) for f in faces] == [1] * 8
