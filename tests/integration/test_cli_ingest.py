"""`dfew-build ingest` and `movies list` on real sample media, synthetic videos and bad files."""

import json
import shutil

import av
import pytest

import dfew_build.media.ingest as ingest_module
from dfew_build.samples import SAMPLE_VIDEOS
from tests.videos import bad_file_catalogue, write_video


@pytest.fixture
def ws(cli, tmp_path):
    cli("init", tmp_path / "ws")
    return tmp_path / "ws"


def _movies(cli, ws):
    result = cli("-w", ws, "movies", "list", "--json")
    assert result.exit_code == 0
    return json.loads(result.stdout)


def test_real_sample_media(cli, ws, sample_media):
    result = cli("-w", ws, "ingest", sample_media)
    assert result.exit_code == 0
    assert result.stdout == "ingested 5, already present 0, rejected 0\n"
    movies = {m["path"].rsplit("/", 1)[-1]: m for m in _movies(cli, ws)}
    assert set(movies) == set(SAMPLE_VIDEOS)  # the jpg files are not picked from a folder
    for name, movie in movies.items():
        with av.open(str(sample_media / name)) as container:
            stream = container.streams.video[0]
            fps = float(stream.average_rate)
            decoded = sum(1 for _ in container.decode(stream))
        assert movie["status"] == "ok"
        assert movie["frame_count"] == decoded, name
        assert movie["fps"] == pytest.approx(fps), name
    assert movies["single_face.mp4"]["codec"] == "h264"
    assert movies["face_noface.mov"]["codec"] == "hevc"
    assert (movies["single_face.mp4"]["width"], movies["single_face.mp4"]["height"]) == (640, 360)
    again = cli("-w", ws, "ingest", sample_media)
    assert again.stdout == "ingested 0, already present 5, rejected 0\n"
    assert len(_movies(cli, ws)) == 5


def test_bad_files_are_recorded_and_the_batch_goes_on(cli, ws, tmp_path):
    good = write_video(tmp_path / "good.mp4")
    catalogue = bad_file_catalogue(tmp_path / "bad")
    result = cli("-w", ws, "ingest", good, *[p for p, _ in catalogue.values()],
                 tmp_path / "missing.mp4")
    assert result.exit_code == 0
    expected_err = [f"rejected: {path}: {reason}" for path, reason in catalogue.values()]
    expected_err.append(f"not found: {tmp_path / 'missing.mp4'}: no such file or folder")
    assert sorted(result.stderr.splitlines()) == sorted(expected_err)
    assert result.stdout == "ingested 1, already present 0, rejected 6, 1 not found\n"
    movies = _movies(cli, ws)
    assert sum(m["status"] == "ok" for m in movies) == 1
    rejected = {m["path"]: m["error"] for m in movies if m["status"] == "rejected"}
    assert rejected == {str(p): reason for p, reason in catalogue.values()}
    table = cli("-w", ws, "movies", "list")
    assert table.stdout.splitlines()[-1] == "7 movies: 1 ok, 6 rejected"
    # --strict turns rejections into a failing exit status; nothing is recorded twice.
    strict = cli("-w", ws, "ingest", "--strict", good, catalogue["zero bytes"][0])
    assert strict.exit_code == 1
    assert strict.stderr.splitlines()[-1] == "Error: --strict: 1 rejected, 0 not found"
    assert len(_movies(cli, ws)) == 7


def test_nothing_ingested_exits_1(cli, ws, tmp_path):
    (tmp_path / "x.mp4").write_bytes(b"")
    result = cli("-w", ws, "ingest", tmp_path / "x.mp4")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"rejected: {tmp_path / 'x.mp4'}: empty file (0 bytes)",
        "Error: nothing could be ingested: no readable video among 1 path(s); see the reasons "
        "above"]


def test_json_output(cli, ws, tmp_path):
    good = write_video(tmp_path / "good.mp4")
    (tmp_path / "bad.mp4").write_text("hello")
    result = cli("-w", ws, "ingest", "--json", good, tmp_path / "bad.mp4")
    data = json.loads(result.stdout)
    assert data["summary"] == {"ingested": 1, "already_present": 0, "moved": 0, "rejected": 1,
                               "not_found": 0}
    by_path = {f["path"]: f for f in data["files"]}
    assert by_path[str(good)]["status"] == "ingested"
    assert by_path[str(tmp_path / "bad.mp4")] == {
        "path": str(tmp_path / "bad.mp4"), "status": "rejected", "movie_id": 2,
        "message": "a text file, not a video", "metadata_updated": False}


def test_moved_and_copied_files(cli, ws, tmp_path):
    (tmp_path / "a").mkdir()
    original = write_video(tmp_path / "a" / "film.mp4")
    cli("-w", ws, "ingest", original)
    (tmp_path / "b").mkdir()
    moved = shutil.move(original, tmp_path / "b" / "renamed.mp4")
    result = cli("-w", ws, "ingest", moved)
    assert result.stdout.splitlines() == [
        f"moved: movie 1 moved from {original} to {moved}",
        "ingested 0, already present 1 (1 moved), rejected 0"]
    assert _movies(cli, ws)[0]["path"] == str(moved)
    copy = shutil.copy(moved, tmp_path / "copy.mp4")
    result = cli("-w", ws, "ingest", "--json", copy)
    assert json.loads(result.stdout)["files"][0]["message"] == (
        f"same content as movie 1 ({moved}); not ingested twice")
    assert len(_movies(cli, ws)) == 1


def test_metadata_csv(cli, ws, tmp_path):
    folder = tmp_path / "movies"
    folder.mkdir()
    write_video(folder / "one.mp4", frames=24)
    write_video(folder / "two.mp4", frames=30)
    csv = tmp_path / "meta.csv"
    csv.write_text("file,title,year,genre,country\n"
                   "one.mp4,The First,1994,drama,CN\n"
                   "movies/two.mp4,The Second,19x4,comedy,\n"
                   "three.mp4,Not Here,2000,,\n")
    result = cli("-w", ws, "ingest", folder, "--metadata", csv)
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        "metadata: meta.csv line 3: year '19x4' is not a year (1870..2100); year left empty",
        "metadata: meta.csv line 4: 'three.mp4' matched no file in this batch"]
    movies = {m["path"].rsplit("/", 1)[-1]: m for m in _movies(cli, ws)}
    assert (movies["one.mp4"]["title"], movies["one.mp4"]["year"], movies["one.mp4"]["country"]) \
        == ("The First", 1994, "CN")
    assert (movies["two.mp4"]["title"], movies["two.mp4"]["year"]) == ("The Second", None)
    # Re-ingesting with corrected metadata updates the existing movies.
    csv.write_text("path,year\nmovies/two.mp4,2004\n")
    result = cli("-w", ws, "ingest", "--json", folder, "--metadata", csv)
    files = {f["path"].rsplit("/", 1)[-1]: f for f in json.loads(result.stdout)["files"]}
    assert files["two.mp4"]["metadata_updated"] and not files["one.mp4"]["metadata_updated"]
    assert {m["path"].rsplit("/", 1)[-1]: m["year"] for m in _movies(cli, ws)}["two.mp4"] == 2004


def test_unusable_metadata_csv_stops_before_ingesting(cli, ws, tmp_path):
    video = write_video(tmp_path / "v.mp4")
    csv = tmp_path / "meta.csv"
    csv.write_text("movie_title,year\nx,2000\n")
    result = cli("-w", ws, "ingest", video, "--metadata", csv)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {csv} has no file column: the header is movie_title, year; name the column "
        "that holds the movie file name or path one of: file, path, filename\n")
    assert _movies(cli, ws) == []


@pytest.mark.parametrize("jobs", ["1", "4"])
def test_interrupted_batch_keeps_what_finished(cli, ws, tmp_path, monkeypatch, jobs):
    folder = tmp_path / "movies"
    folder.mkdir()
    for i in range(4):
        write_video(folder / f"m{i}.mp4", frames=12 + i)
    real_probe = ingest_module.probe

    def probe_then_interrupt(path):
        if path.name == "m2.mp4":  # Ctrl-C while the third movie is probed
            raise KeyboardInterrupt
        return real_probe(path)

    monkeypatch.setattr(ingest_module, "probe", probe_then_interrupt)
    result = cli("-w", ws, "ingest", "--jobs", jobs, folder)
    assert result.exit_code == 130  # 128 + SIGINT, no traceback, no click "Aborted!"
    assert result.stderr == "\ninterrupted\n"
    assert [m["frame_count"] for m in _movies(cli, ws)] == [12, 13]
    monkeypatch.setattr(ingest_module, "probe", real_probe)
    result = cli("-w", ws, "ingest", folder)
    assert result.stdout == "ingested 2, already present 2, rejected 0\n"
    assert [m["frame_count"] for m in _movies(cli, ws)] == [12, 13, 14, 15]


def test_folder_scan_skips_hidden_and_other_files(cli, ws, tmp_path):
    folder = tmp_path / "movies"
    (folder / "nested").mkdir(parents=True)
    write_video(folder / "nested" / "deep.MP4")
    (folder / "._deep.mp4").write_bytes(b"\0\0macos resource fork")
    (folder / "notes.txt").write_text("not a movie")
    result = cli("-w", ws, "ingest", folder)
    assert result.stdout == "ingested 1, already present 0, rejected 0\n"
