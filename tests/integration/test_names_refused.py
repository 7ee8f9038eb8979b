"""Names with control characters, terminal escapes or bidi controls are refused at every
entry point, with the row and the character (U+XXXX and its name); the rest of a batch goes
on (issue 17 item 16). The validator is dfew_build.names."""

import json

import pytest

from tests.videos import write_video

ESC_NAME = "Ann\x1b[31m"                 # would turn the terminal red
BIDI_NAME = "Bo \u202eevil.exe"          # RIGHT-TO-LEFT OVERRIDE reverses what follows
C1_NAME = "Cy\x9b2J"                     # CSI, the one-byte ESC [ (clears the screen)
ESC_TEXT = ("contains U+001B ESCAPE (a control character) at position 4, which a terminal "
            "or browser would act on instead of showing; remove it and use plain text")


@pytest.fixture
def ws(cli, tmp_path):
    assert cli("init", tmp_path / "ws").exit_code == 0
    return tmp_path / "ws"


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_people_add_refuses_a_name_with_an_escape_or_a_bidi_override(cli, ws):
    result = cli("-w", ws, "people", "add", ESC_NAME, "--role", "annotator")
    assert result.exit_code == 1
    assert result.stderr == f"Error: the name 'Ann\\x1b[31m' {ESC_TEXT}\n"
    assert "\x1b" not in result.output
    result = cli("-w", ws, "people", "add", BIDI_NAME, "--role", "extractor")
    assert result.exit_code == 1
    assert ("Error: the name 'Bo \\u202eevil.exe' contains U+202E RIGHT-TO-LEFT OVERRIDE (a "
            "bidirectional formatting character) at position 4") in result.stderr
    listed = cli("-w", ws, "people", "list")
    assert listed.exit_code == 0 and "Ann" not in listed.stdout and "Bo" not in listed.stdout


def test_people_from_a_file_refuse_the_row_and_add_the_rest(cli, ws, tmp_path):
    csv_path = _write(tmp_path / "people.csv", "name,role\nZoë,annotator\n"
                      f"{ESC_NAME},annotator\n{C1_NAME},extractor\nWang 王芳,admin\n")
    result = cli("-w", ws, "people", "add", "--from", csv_path)
    assert result.exit_code == 0, result.output
    errors = result.stderr.splitlines()
    assert errors == [
        f"people.csv line 3: the name 'Ann\\x1b[31m' {ESC_TEXT}",
        "people.csv line 4: the name 'Cy\\x9b2J' contains U+009B CONTROL SEQUENCE INTRODUCER "
        "(a control character) at position 3, which a terminal or browser would act on "
        "instead of showing; remove it and use plain text"]
    assert "added 2, already present 0, refused 2" in result.stdout
    assert "\x1b" not in result.output and "\x9b" not in result.output


def test_ingest_metadata_refuses_a_title_row(cli, ws, tmp_path):
    folder = tmp_path / "movies"
    folder.mkdir()
    write_video(folder / "a.mp4", frames=24)
    write_video(folder / "b.mp4", frames=30)
    metadata = _write(tmp_path / "movies.csv", "file,title,year,genre\n"
                      "a.mp4,Good \u2067Title,2001,Drama\nb.mp4,Fine,2002,Comedy\x07\n"
                      "a.mp4,,,\n")
    result = cli("-w", ws, "ingest", folder, "--metadata", metadata)
    assert result.exit_code == 0, result.output
    errors = result.stderr.splitlines()
    assert errors[0] == (
        "metadata: movies.csv line 2: the title 'Good \\u2067Title' contains U+2067 "
        "RIGHT-TO-LEFT ISOLATE (a bidirectional formatting character) at position 6, which a "
        "terminal or browser would act on instead of showing; remove it and use plain text; "
        "row skipped")
    assert errors[1].startswith("metadata: movies.csv line 3: the genre 'Comedy\\x07' "
                                "contains U+0007 BELL (a control character) at position 7")
    assert result.stdout == "ingested 2, already present 0, rejected 0\n"
    movies = json.loads(cli("-w", ws, "movies", "list", "--json").stdout)
    assert [(m["title"], m["genre"]) for m in movies] == [(None, None), (None, None)]
    # The fixed file applies on the next run (the rest of the batch was never held back).
    fixed = _write(tmp_path / "fixed.csv", "file,title,year\na.mp4,Good Title,2001\n")
    assert cli("-w", ws, "ingest", folder, "--metadata", fixed).stderr == ""
    movies = json.loads(cli("-w", ws, "movies", "list", "--json").stdout)
    assert sorted(str(m["title"]) for m in movies) == ["Good Title", "None"]


def test_clips_import_and_votes_import_refuse_the_row(cli, ws, tmp_path):
    folder = tmp_path / "movies"
    folder.mkdir()
    write_video(folder / "m.mp4", frames=96, fps=24)
    assert cli("-w", ws, "ingest", folder).exit_code == 0
    clips_csv = _write(tmp_path / "clips.csv", "movie,start,end,extractor\n"
                       "m.mp4,0.5,1.5,Ed\n"
                       f"m.mp4,2.0,3.0,{BIDI_NAME}\n"
                       "m.mp4,3.0,3.9,Ed\n")
    result = cli("-w", ws, "clips", "import", clips_csv, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["summary"]["imported"] == 2 and report["summary"]["new_extractors"] == ["Ed"]
    assert report["refused"] == [{"line": 3, "reason": (
        "the extractor name 'Bo \\u202eevil.exe' contains U+202E RIGHT-TO-LEFT OVERRIDE (a "
        "bidirectional formatting character) at position 4, which a terminal or browser "
        "would act on instead of showing; remove it and use plain text")}]
    listed = cli("-w", ws, "clips", "list", "--extractor", ESC_NAME)
    assert listed.exit_code == 1
    assert listed.stderr == f"Error: the extractor name 'Ann\\x1b[31m' {ESC_TEXT}\n"

    assert cli("-w", ws, "people", "add", "Ann", "--role", "annotator").exit_code == 0
    votes = _write(tmp_path / "votes.csv", "clip_id,annotator,emotion\n1,Ann,happy\n"
                   f"2,{ESC_NAME},sad\n")
    result = cli("-w", ws, "votes", "import", votes)
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0] == (
        f"votes.csv line 3: the annotator name 'Ann\\x1b[31m' {ESC_TEXT}")
    assert "\x1b" not in result.output
    assert result.stdout.startswith("2 rows: imported 1,")


def test_a_person_stored_before_the_check_can_still_be_managed(cli, ws):
    """Names are checked when they enter; a row written earlier stays reachable by name, so
    it can be deactivated or excluded (the messages show it escaped)."""
    from dfew_build.db.models import Person
    from dfew_build.workspace import open_workspace

    workspace = open_workspace(ws)
    with workspace.session() as session:
        session.add(Person(name=ESC_NAME, role="annotator", active=True))
    workspace.close()
    result = cli("-w", ws, "people", "deactivate", ESC_NAME)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("deactivated 'Ann\\x1b[31m' (") and "\x1b" not in result.output
    missing = cli("-w", ws, "people", "deactivate", "Bo\x1b[2J")
    assert missing.exit_code == 1
    assert missing.stderr == ("Error: no person named 'Bo\\x1b[2J'; see `dfew-build people "
                              "list`\n")
