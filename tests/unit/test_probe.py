"""Probing real sample media, synthetic videos and the catalogue of bad files."""

import av
import cv2
import pytest

from dfew_build.errors import ProbeError
import dfew_build.media.probe as probe_module
from dfew_build.media.probe import probe
from dfew_build.samples import SAMPLE_VIDEOS
from tests.videos import bad_file_catalogue, write_opencv_video, write_video


def _decoded_frames(path):
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def _opencv_frames_and_fps(path):
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS)
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count, fps


@pytest.mark.parametrize("name", SAMPLE_VIDEOS)
def test_real_media_match_decoding(sample_media, name):
    path = sample_media / name
    result = probe(path)
    decoded_opencv, fps_opencv = _opencv_frames_and_fps(path)
    assert result.frame_count == decoded_opencv == _decoded_frames(path)
    assert result.fps == pytest.approx(fps_opencv, rel=1e-9)
    assert result.duration_s == pytest.approx(result.frame_count / result.fps, abs=0.1)
    assert result.frame_count_exact


def test_edit_list_frames_are_not_counted(sample_media):
    # no_face.mp4 indexes 98 samples; its edit list hides 3, so decoders return 95.
    with av.open(str(sample_media / "no_face.mp4")) as container:
        assert container.streams.video[0].frames == 98
    assert probe(sample_media / "no_face.mp4").frame_count == 95


@pytest.mark.parametrize("name", SAMPLE_VIDEOS)
def test_large_file_path_agrees(sample_media, name, monkeypatch):
    """Movies over FULL_SCAN_BYTES use index minus head/tail discards: same answer."""
    monkeypatch.setattr(probe_module, "FULL_SCAN_BYTES", 0)
    assert probe(sample_media / name).frame_count == _decoded_frames(sample_media / name)


def test_synthetic_video(tmp_path):
    result = probe(write_video(tmp_path / "v.mp4", frames=50, width=176, height=144, fps=25))
    assert (result.frame_count, result.fps, result.width, result.height, result.codec) == (
        50, 25.0, 176, 144, "h264")
    assert result.duration_s == pytest.approx(2.0)


def test_opencv_fallback_when_pyav_cannot_open(tmp_path, monkeypatch):
    path = write_opencv_video(tmp_path / "v.avi", frames=30, fps=25.0)

    def refuse(*_args):
        raise probe_module._Unopenable("PyAV refused")

    monkeypatch.setattr(probe_module, "_probe_pyav", refuse)
    result = probe(path)
    assert (result.backend, result.frame_count, result.fps, result.codec) == (
        "opencv", 30, 25.0, "mjpeg")


def test_still_image_is_not_a_movie(sample_media):
    with pytest.raises(ProbeError, match=r"^a still image \(image2\), not a movie$"):
        probe(sample_media / "multi_face.jpg")


def test_bad_file_catalogue(tmp_path):
    for kind, (path, reason) in bad_file_catalogue(tmp_path).items():
        with pytest.raises(ProbeError) as caught:
            probe(path)
        assert str(caught.value) == reason, kind


def test_missing_file(tmp_path):
    with pytest.raises(ProbeError, match="cannot read the file: No such file or directory"):
        probe(tmp_path / "gone.mp4")
