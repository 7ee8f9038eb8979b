"""Help texts and messages a newcomer reads (issue 17 item 7)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from dfew_build.db.models import Clip, Movie
from dfew_build.faces.pipeline import PreprocessReport


def test_ingest_json_help_says_one_object(cli, tmp_path, sample_media):
    text = " ".join(cli("ingest", "--help").stdout.split())
    assert "one JSON object" in text and "one object per file" not in text
    cli("init", tmp_path / "ws")
    out = cli("-w", tmp_path / "ws", "ingest", sample_media / "single_face.mp4", "--json")
    data = json.loads(out.stdout)                   # a single object, with a file list
    assert isinstance(data, dict) and isinstance(data["files"], list)


def test_preprocess_and_propose_take_the_same_devices(cli):
    for command in (("preprocess",), ("clips", "propose")):
        assert "[cpu|cuda|auto]" in cli(*command, "--help").stdout, command


def test_preprocess_device_auto_runs_on_this_machine(cli, workspace):
    result = cli("-w", workspace.root, "preprocess", "--device", "auto", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["summary"]["kept"] == 0


def test_not_cut_advice_per_state(cli, workspace):
    with workspace.session() as session:
        movie = Movie(path="/m.mp4", sha256="e" * 64, size_bytes=1, status="ok")
        session.add(movie)
        session.flush()
        for clip_id, status in ((1, "accepted"), (2, "candidate"), (3, "rejected"),
                                (4, "accepted")):
            session.add(Clip(id=clip_id, movie_id=movie.id, start_s=clip_id, end_s=clip_id + 1,
                             duration_s=1, status=status,
                             retired_at=datetime.now(timezone.utc) if clip_id == 4 else None))
    result = cli("-w", workspace.root, "preprocess", "--clips", "1-4")
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert "not cut (skipped), accepted: clips 1; run dfew-build clips cut" in lines
    assert any(line.startswith("not cut (skipped), candidate: clips 2; unconfirmed candidates "
                               "are never cut: dfew-build clips confirm") for line in lines)
    rejected = [line for line in lines if "rejected: clips 3" in line]
    assert rejected and "never cut" in rejected[0] and "run dfew-build clips cut" not in rejected[0]
    assert any("retired: clips 4; retired clips are out of the dataset: dfew-build clips "
               "restore" in line for line in lines)


def test_not_cut_advice_is_empty_when_everything_is_cut():
    assert PreprocessReport("mtcnn", None).not_cut_advice() == []
