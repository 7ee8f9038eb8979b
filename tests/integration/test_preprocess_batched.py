"""The batched faces path (`preprocess --device cuda`'s code, detection batched across
clips, torch alignment) run on the CPU gives the default path's results: the same status,
reason and protagonist frames per clip, tensors within a grey level (issue 18)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from dfew_build.faces.pipeline import preprocess
from dfew_build.faces.store import open_tensor_store
from dfew_build.workspace import init_workspace
from tests.integration.test_cli_preprocess import add_clips, write_window
from tests.videos import write_undecodable


def _workspace(root, sample_media):
    workspace, _ = init_workspace(root)
    clips = workspace.clips_dir
    shutil.copy(sample_media / "single_face.mp4", clips / "00001.mp4")
    write_window(sample_media / "no_face.mp4", clips / "00002.mp4", 0, 32, scale=0.5)
    write_window(sample_media / "face_noface.mov", clips / "00003.mp4", 44, 84, scale=0.5)
    write_window(sample_media / "noface_face.mov", clips / "00004.mp4", 68, 108, scale=0.5)
    write_window(sample_media / "single_face.mp4", clips / "00005.mkv", 0, 24, scale=0.5,
                 gray=True)
    write_undecodable(clips / "00006.mp4")
    add_clips(workspace, {1: "clips/00001.mp4", 2: "clips/00002.mp4", 3: "clips/00003.mp4",
                          4: "clips/00004.mp4", 5: "clips/00005.mkv", 6: "clips/00006.mp4",
                          7: "clips/00007.mp4"})  # 7: file missing
    return workspace


@pytest.mark.slow
def test_batched_path_on_cpu_matches_the_default_path(tmp_path, sample_media):
    default_ws = _workspace(tmp_path / "default", sample_media)
    batched_ws = _workspace(tmp_path / "batched", sample_media)
    default = {r.clip_id: r for r in preprocess(default_ws, detector="mtcnn").results}
    report = preprocess(batched_ws, detector="mtcnn", batched=True, batch_size=24)
    batched = {r.clip_id: r for r in report.results}
    assert report.options.align == "torch"
    assert sorted(batched) == sorted(default) == list(range(1, 8))
    for clip_id, want in default.items():
        got = batched[clip_id]
        reason = (got.reason or "").replace(str(tmp_path / "batched"), str(tmp_path / "default"))
        assert (got.status, reason or None, got.frames_total, got.face_frames) == (
            want.status, want.reason, want.frames_total, want.face_frames), clip_id
    assert [default[i].status for i in range(1, 8)] == [
        "kept", "dropped_low_face_rate", "kept", "dropped_low_face_rate", "kept", "failed",
        "failed"]
    stores = [open_tensor_store(ws.tensors_dir) for ws in (default_ws, batched_ws)]
    for clip_id in (1, 3, 5):
        a, b = (array[int(index.set_index("clip_id").loc[clip_id, "row"])].astype(int)
                for array, index in stores)
        assert np.abs(a - b).mean() < 1.0  # within a grey level (cv2 vs grid_sample)
    default_ws.close()
    batched_ws.close()
