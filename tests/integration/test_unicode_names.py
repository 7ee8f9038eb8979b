"""Names and paths that differ only in Unicode normalisation (issue 12, item 8).

A file copied from a Mac keeps its decomposed (NFD) name on disk, "Ame\u0301lie (2001).mp4",
while a CSV typed elsewhere spells it composed (NFC), "Am\u00e9lie (2001).mp4": the two
look identical. Metadata, clip imports, people and vote imports must match them; the path
stays stored as it was found on disk.
"""

import json
import os
import shutil
import unicodedata

import pytest
from sqlalchemy import select

from dfew_build.db.models import Movie, Person
from dfew_build.workspace import open_workspace
from tests.videos import write_video

TITLE = "Am\u00e9lie (2001)"
EXTRACTOR = "Jos\u00e9 Mar\u00eda"
ANNOTATOR = "Zo\u00eb Bront\u00eb"


def nf(form: str, text: str) -> str:
    return unicodedata.normalize(form, text)


@pytest.fixture(scope="module")
def source_video(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("video") / "src.mp4", frames=96, fps=24)


@pytest.fixture
def ws(cli, tmp_path):
    assert cli("init", tmp_path / "ws").exit_code == 0
    return tmp_path / "ws"


def _movies(cli, ws):
    result = cli("-w", ws, "movies", "list", "--json")
    assert result.exit_code == 0
    return json.loads(result.stdout)


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("on_disk, in_csv", [("NFD", "NFC"), ("NFC", "NFD")])
def test_movie_names_match_across_normalisations(cli, ws, tmp_path, source_video, on_disk,
                                                 in_csv):
    folder = tmp_path / "movies"
    folder.mkdir()
    disk_name = nf(on_disk, f"{TITLE}.mp4")
    shutil.copyfile(source_video, folder / disk_name)
    assert os.listdir(folder) == [disk_name]  # the file system keeps the name as given
    ref_name = nf(in_csv, f"{TITLE}.mp4")
    assert ref_name != disk_name and nf("NFC", ref_name) == nf("NFC", disk_name)

    # ingest --metadata by file name
    metadata = _write(tmp_path / "movies.csv",
                      f"file,title,year,country\n{ref_name},{nf(in_csv, TITLE)},2001,France\n")
    result = cli("-w", ws, "ingest", folder, "--metadata", metadata)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # no "matched no file in this batch"
    assert result.stdout == "ingested 1, already present 0, rejected 0\n"
    [movie] = _movies(cli, ws)
    assert movie["path"] == str(folder / disk_name)  # stored as found, never renamed
    assert (movie["year"], movie["country"]) == (2001, "France")
    assert os.listdir(folder) == [disk_name]

    # ... and by path (relative to the CSV's folder), re-applied to the known movie
    by_path = _write(tmp_path / "by_path.csv",
                     f"path,genre\nmovies/{ref_name},Comedy\n")
    result = cli("-w", ws, "ingest", folder / disk_name, "--metadata", by_path)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    [movie] = _movies(cli, ws)
    assert movie["genre"] == "Comedy"

    # clips import: the movie by file name and by path, the extractor in both forms
    clips_csv = _write(tmp_path / "clips.csv", (
        "movie,start,end,extractor,emotion\n"
        f"{ref_name},0.5,1.5,{nf(in_csv, EXTRACTOR)},happy\n"
        f"movies/{ref_name},2.0,3.0,{nf(on_disk, EXTRACTOR)},sad\n"
        f"{folder / ref_name},3.0,3.9,{nf(in_csv, EXTRACTOR)},fear\n"))
    result = cli("-w", ws, "clips", "import", clips_csv, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["refused"] == []
    assert report["summary"]["imported"] == 3
    assert report["summary"]["new_extractors"] == [nf("NFC", EXTRACTOR)]
    listed = cli("-w", ws, "clips", "list", "--json", "--extractor", nf(in_csv, EXTRACTOR))
    assert listed.exit_code == 0
    clips = json.loads(listed.stdout)
    assert [c["movie_id"] for c in clips] == [movie["id"]] * 3
    assert {c["extractor"] for c in clips} == {nf("NFC", EXTRACTOR)}
    # the movie option of other commands resolves the same way
    listed = cli("-w", ws, "clips", "list", "--json", "--movie", ref_name)
    assert listed.exit_code == 0 and len(json.loads(listed.stdout)) == 3


def test_two_files_whose_names_differ_only_in_normalisation(cli, ws, tmp_path, source_video):
    """Two distinct files on disk (Linux allows it): the name is ambiguous, say so."""
    folder = tmp_path / "movies"
    folder.mkdir()
    write_video(folder / nf("NFC", f"{TITLE}.mp4"), frames=48, fps=24)
    shutil.copyfile(source_video, folder / nf("NFD", f"{TITLE}.mp4"))
    metadata = _write(tmp_path / "movies.csv", f"file,year\n{nf('NFC', TITLE)}.mp4,2001\n")
    result = cli("-w", ws, "ingest", folder, "--metadata", metadata)
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        f"metadata: movies.csv line 2: file name {nf('NFC', TITLE) + '.mp4'!r} matches 2 "
        "files; give the path instead (not applied)"]
    clips_csv = _write(tmp_path / "clips.csv", "movie,start,end,extractor\n"
                                               f"{nf('NFD', TITLE)}.mp4,0.5,1.5,x\n")
    result = cli("-w", ws, "clips", "import", clips_csv)
    assert result.stderr.splitlines() == [
        f"clips.csv line 2: movie {nf('NFC', TITLE) + '.mp4'!r} matches 2 movies (ids 1, 2); "
        "give the movie id or path instead",
        "Error: 1 of 1 rows refused; see the reasons above"]


def test_people_and_vote_imports_match_names_in_either_form(cli, ws, tmp_path):
    """A person added with a decomposed name is found by the composed one and vice versa;
    the same name in the other form is not a second person."""
    assert cli("-w", ws, "people", "add", nf("NFD", ANNOTATOR),
               "--role", "annotator").exit_code == 0
    twice = cli("-w", ws, "people", "add", nf("NFC", ANNOTATOR), "--role", "annotator")
    assert twice.exit_code == 1
    assert f"a person named {nf('NFC', ANNOTATOR)!r} already exists" in twice.stderr
    assert cli("-w", ws, "people", "link", nf("NFC", ANNOTATOR)).exit_code == 0
    workspace = open_workspace(ws)
    with workspace.session() as session:
        [person] = session.scalars(select(Person))
        assert person.name == nf("NFC", ANNOTATOR)  # stored normalised
        # a row written before names were normalised, and a movie for a clip to vote on
        session.add(Person(name=nf("NFD", "Chlo\u00e9"), role="annotator"))
        session.add(Movie(path=str(tmp_path / "m.mp4"), sha256="0" * 64, size_bytes=1,
                          duration_s=10.0, fps=24.0, status="ok"))
    workspace.close()
    assert cli("-w", ws, "people", "link", nf("NFC", "Chlo\u00e9")).exit_code == 0

    clips_csv = _write(tmp_path / "clips.csv", "movie,start,end,extractor\n1,0,2,ex\n")
    assert cli("-w", ws, "clips", "import", clips_csv).exit_code == 0
    votes = _write(tmp_path / "votes.csv", "clip_id,annotator,emotion\n"
                                           f"1,{nf('NFC', ANNOTATOR)},happy\n"
                                           f"1,{nf('NFC', 'Chlo' + chr(0xe9))},sad\n")
    result = cli("-w", ws, "votes", "import", votes)
    assert result.exit_code == 0, result.output
    exported = tmp_path / "out.csv"
    assert cli("-w", ws, "votes", "export", exported, "--names").exit_code == 0
    rows = exported.read_text(encoding="utf-8").splitlines()
    assert sorted(rows[1:]) == sorted([f"1,{nf('NFC', ANNOTATOR)},happy",
                                       f"1,{nf('NFD', 'Chlo' + chr(0xe9))},sad"])
