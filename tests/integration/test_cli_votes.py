"""`dfew-build votes import` / `votes export`: row problems by line, idempotence, --update."""

import json

import pytest
from sqlalchemy import func, select

from dfew_build.db.models import Assignment, Clip, Person, Vote
from dfew_build.workspace import open_workspace


@pytest.fixture
def ws(cli, tmp_path):
    """A workspace with clips 1..4 and annotators ann1..ann3 (plus an extractor)."""
    root = tmp_path / "ws"
    assert cli("init", root).exit_code == 0
    workspace = open_workspace(root)
    with workspace.session() as session:
        for i in range(1, 5):
            session.add(Clip(id=i, start_s=0.0, end_s=1.0 + i, duration_s=1.0 + i))
        for name in ("ann1", "ann2", "ann3"):
            session.add(Person(name=name, role="annotator"))
        session.add(Person(name="ex", role="extractor"))
    workspace.close()
    return root


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def _votes(root):
    workspace = open_workspace(root)
    with workspace.session() as session:
        rows = session.execute(select(Vote.clip_id, Person.name, Vote.emotion)
                               .join(Person, Person.id == Vote.annotator_id)
                               .order_by(Vote.clip_id, Person.name)).all()
        sources = dict(session.execute(select(Assignment.source, func.count())
                                       .group_by(Assignment.source)).all())
    workspace.close()
    return [tuple(r) for r in rows], sources


def test_import_stores_valid_rows_and_reports_bad_ones_by_line(cli, ws, tmp_path):
    csv_path = _write(tmp_path / "votes.csv", "\n".join([
        "clip_id,annotator,emotion",
        "1,ann1,happy",          # 2 ok (name)
        "1,ann2,1",              # 3 ok (code)
        "1,ann3,Surprise",       # 4 ok (case-insensitive name)
        "2,ann1,anger",          # 5 ok (alias)
        "99,ann1,happy",         # 6 unknown clip
        "2,bob,sad",             # 7 unknown annotator
        "2,ann2,bored",          # 8 unknown emotion
        "x,ann2,sad",            # 9 not a clip id
        "2,ex,sad",              # 10 not an annotator
        "1,ann1,happy",          # 11 duplicate of line 2
        "3,ann1,sad",            # 12 conflict with 13
        "3,ann1,fear",           # 13
        "2,ann3",                # 14 too few fields
        "",                      # 15 blank: not a row
        "2,ann3,8",              # 16 code out of range
        "3,ann2,fear,extra",     # 17 too many fields
        "4,,",                   # 18 empty annotator and emotion
    ]) + "\n")
    result = cli("-w", ws, "votes", "import", csv_path)
    assert result.exit_code == 0, result.output
    emotion_help = "use a code 1..7 or one of happy, sad, neutral, angry, surprise, disgust, fear"
    assert result.stderr.splitlines() == [
        "votes.csv line 6: unknown clip 99; only clips in the workspace can get votes "
        "(see `dfew-build clips list`)",
        "votes.csv line 7: unknown annotator 'bob'; add them with `dfew-build people add bob "
        "--role annotator` and import again",
        f"votes.csv line 8: unknown emotion 'bored': {emotion_help}",
        "votes.csv line 9: clip_id 'x' is not a clip id (a positive integer)",
        "votes.csv line 10: 'ex' is an extractor, not an annotator",
        "votes.csv line 11: duplicate of line 2 (clip 1, ann1, happy); ignored",
        "votes.csv line 12: conflicting votes for clip 3 by ann1 in this file (lines 12: sad, "
        "13: fear); none of them was stored: keep one and import again",
        "votes.csv line 13: conflicting votes for clip 3 by ann1 in this file (lines 12: sad, "
        "13: fear); none of them was stored: keep one and import again",
        "votes.csv line 14: has 2 field(s) but the header has 3; quote values that contain "
        "commas",
        f"votes.csv line 16: unknown emotion '8': {emotion_help}",
        "votes.csv line 17: has 4 field(s) but the header has 3; quote values that contain "
        "commas",
        f"votes.csv line 18: annotator is empty; emotion is empty; {emotion_help}",
    ]
    assert result.stdout == ("16 rows: imported 4, already stored 0, problems 12; "
                             "4 assignment(s) created\n")
    votes, sources = _votes(ws)
    assert votes == [(1, "ann1", 1), (1, "ann2", 1), (1, "ann3", 5), (2, "ann1", 4)]
    assert sources == {"imported": 4}

    again = cli("-w", ws, "votes", "import", csv_path, "--json")
    assert again.exit_code == 0
    report = json.loads(again.stdout)
    assert report["summary"] == {"rows": 16, "imported": 0, "updated": 0, "unchanged": 4,
                                 "assignments_created": 0, "problems": 12}
    assert report["problems"][0] == {"line": 6, "message": "unknown clip 99; only clips in the "
                                     "workspace can get votes (see `dfew-build clips list`)"}
    assert _votes(ws)[0] == votes


def test_conflict_with_a_stored_vote_is_reported_unless_update(cli, ws, tmp_path):
    first = _write(tmp_path / "a.csv", "clip_id,annotator,emotion\n1,ann1,fear\n1,ann2,sad\n")
    assert cli("-w", ws, "votes", "import", first).exit_code == 0
    second = _write(tmp_path / "b.csv", "clip_id,annotator,emotion\n1,ann1,surprise\n"
                                        "1,ann2,sad\n2,ann2,neutral\n")
    result = cli("-w", ws, "votes", "import", second)
    assert result.exit_code == 0
    assert result.stderr == ("b.csv line 2: clip 1 by ann1 already has the stored vote fear, "
                             "the file says surprise; not changed (import with --update to "
                             "replace stored votes)\n")
    assert result.stdout == ("3 rows: imported 1, already stored 1, problems 1; "
                             "1 assignment(s) created\n")
    assert (1, "ann1", 7) in _votes(ws)[0]
    updated = cli("-w", ws, "votes", "import", second, "--update")
    assert updated.exit_code == 0 and updated.stderr == ""
    assert updated.stdout == ("3 rows: imported 0, updated 1, already stored 2, problems 0; "
                              "0 assignment(s) created\n")
    assert _votes(ws)[0] == [(1, "ann1", 5), (1, "ann2", 2), (2, "ann2", 3)]


def test_existing_assignments_are_used(cli, ws, tmp_path):
    workspace = open_workspace(ws)
    with workspace.session() as session:
        ann1 = session.scalar(select(Person.id).where(Person.name == "ann1"))
        session.add(Assignment(clip_id=1, annotator_id=ann1, source="assigned"))
    workspace.close()
    csv_path = _write(tmp_path / "v.csv", "clip_id,annotator,emotion\n1,ann1,3\n1,ann2,3\n")
    assert cli("-w", ws, "votes", "import", csv_path).stdout.endswith(
        "; 1 assignment(s) created\n")
    assert _votes(ws)[1] == {"assigned": 1, "imported": 1}


@pytest.mark.parametrize("content, message", [
    ("", "{path} is empty; a votes CSV starts with the header line clip_id,annotator,emotion"),
    ("clip,annotator,label\n1,ann1,1\n",
     "{path}: the header 'clip,annotator,label' has no clip_id, emotion column; a votes CSV "
     "has the header clip_id,annotator,emotion"),
])
def test_unusable_files(cli, ws, tmp_path, content, message):
    path = _write(tmp_path / "bad.csv", content)
    result = cli("-w", ws, "votes", "import", path)
    assert result.exit_code == 1
    assert result.stderr == f"Error: {message.format(path=path)}\n"


def test_missing_and_non_utf8_files(cli, ws, tmp_path):
    missing = cli("-w", ws, "votes", "import", tmp_path / "nope.csv")
    assert missing.exit_code == 1
    assert missing.stderr == f"Error: {tmp_path / 'nope.csv'}: no such file\n"
    latin = tmp_path / "latin.csv"
    latin.write_bytes("clip_id,annotator,emotion\n1,ann1,1\n1,J\xfcrgen,1\n".encode("latin-1"))
    result = cli("-w", ws, "votes", "import", latin)
    assert result.exit_code == 1
    assert result.stderr == (f"Error: {latin} is not UTF-8 text (line 3); save it as "
                             "UTF-8 CSV and import again; nothing was imported\n")
    assert _votes(ws)[0] == []


def test_every_row_bad_exits_1_and_strict(cli, ws, tmp_path):
    bad = _write(tmp_path / "bad.csv", "clip_id,annotator,emotion\n9,ann1,1\n")
    result = cli("-w", ws, "votes", "import", bad)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (f"Error: no vote could be stored from {bad}: "
                                              "every one of its 1 rows has a problem (see above)")
    mixed = _write(tmp_path / "mixed.csv", "clip_id,annotator,emotion\n1,ann1,1\n9,ann1,1\n")
    strict = cli("-w", ws, "votes", "import", mixed, "--strict")
    assert strict.exit_code == 1
    assert strict.stderr.splitlines()[-1] == "Error: --strict: 1 row(s) with problems"
    assert _votes(ws)[0] == [(1, "ann1", 1)]  # the good row is stored all the same


def test_export_round_trip(cli, ws, tmp_path):
    source = _write(tmp_path / "in.csv", "clip_id,annotator,emotion\n2,ann2,fear\n1,ann3,sad\n"
                                         "1,ann1,happy\n")
    assert cli("-w", ws, "votes", "import", source).exit_code == 0
    out = tmp_path / "out.csv"
    result = cli("-w", ws, "votes", "export", out)
    assert result.stdout == f"exported 3 votes to {out}\n"
    assert out.read_text() == "clip_id,annotator,emotion\n1,ann1,1\n1,ann3,2\n2,ann2,7\n"
    assert oct(out.stat().st_mode & 0o777) != oct(0o600)
    names = cli("-w", ws, "votes", "export", "-", "--names")
    assert names.stdout == "clip_id,annotator,emotion\n1,ann1,happy\n1,ann3,sad\n2,ann2,fear\n"
    # Re-importing the export changes nothing.
    again = cli("-w", ws, "votes", "import", out)
    assert again.stdout == ("3 rows: imported 0, already stored 3, problems 0; "
                            "0 assignment(s) created\n")
    folder = cli("-w", ws, "votes", "export", tmp_path)
    assert folder.exit_code == 1
    assert folder.stderr == (f"Error: {tmp_path} is a folder; give a file name such as "
                             f"{tmp_path / 'votes.csv'}\n")


def test_export_is_formula_safe_and_imports_back(cli, ws, tmp_path):
    """Names a spreadsheet would run (= + - @, tab) get a leading apostrophe in the export
    (docs/labels.md); `votes import` reads them back unchanged."""
    workspace = open_workspace(ws)
    with workspace.session() as session:
        for i, name in enumerate(("=cmd|' /C calc'!A0", "+1", "-x", "@SUM(1)"), start=1):
            session.add(Person(name=name, role="annotator"))
            session.flush()
            pid = session.scalar(select(Person.id).where(Person.name == name))
            session.add(Assignment(clip_id=i, annotator_id=pid))
            session.flush()
            session.add(Vote(clip_id=i, annotator_id=pid, emotion=i))
    workspace.close()
    out = tmp_path / "votes.csv"
    assert cli("-w", ws, "votes", "export", out).exit_code == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines == ["clip_id,annotator,emotion", "1,'=cmd|' /C calc'!A0,1", "2,'+1,2",
                     "3,'-x,3", "4,'@SUM(1),4"]
    result = cli("-w", ws, "votes", "import", out, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)["summary"]
    assert (summary["unchanged"], summary["imported"], summary["problems"]) == (4, 0, 0)
