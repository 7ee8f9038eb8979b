"""The commands that steer a campaign, through the CLI: clips retire/restore, clips confirm
--new-extractor, people exclude/include, people add --from, people link --all, assign
--require-faces and the queue order setting (issue 13)."""

from __future__ import annotations

import json
import os
import re

import pytest
from sqlalchemy import select

from dfew_build.db.models import Assignment, Clip, FaceTrack, Movie, Person, Vote
from dfew_build.people import hash_token
from dfew_build.workspace import open_workspace

LINK = re.compile(r"http://127\.0\.0\.1:8000/login/([A-Za-z0-9_-]{43})")


@pytest.fixture
def ws(cli, tmp_path):
    """Movie 1 (60 s) with accepted, cut clips 1..6 and candidates 7, 8; extractor alice."""
    root = tmp_path / "ws"
    assert cli("init", root).exit_code == 0
    workspace = open_workspace(root)
    with workspace.session() as session:
        session.add(Movie(path="/m.mp4", sha256="a" * 64, size_bytes=1, status="ok",
                          duration_s=60.0, fps=25.0))
        session.add(Person(name="alice", role="extractor"))
        session.flush()
        for i in range(6):
            session.add(Clip(movie_id=1, start_s=2 * i, end_s=2 * i + 1, duration_s=1,
                             path=f"clips/{i + 1:05d}.mp4", status="accepted", extractor_id=1))
        for start in (30, 40):
            session.add(Clip(movie_id=1, start_s=start, end_s=start + 1, duration_s=1,
                             source="proposed", status="candidate"))
    workspace.close()
    return root


def _session(root):
    workspace = open_workspace(root)

    class _Ctx:
        def __enter__(self):
            self.cm = workspace.session()
            return self.cm.__enter__()

        def __exit__(self, *exc):
            try:
                return self.cm.__exit__(*exc)
            finally:
                workspace.close()

    return _Ctx()


def _annotators(cli, root, count, prefix="a"):
    for i in range(1, count + 1):
        assert cli("-w", root, "people", "add", f"{prefix}{i}", "--role",
                   "annotator").exit_code == 0


# --- clips retire / restore -------------------------------------------------------------

def test_retire_and_restore_keep_votes_and_report_each_refused_id(cli, ws):
    _annotators(cli, ws, 2)
    assert cli("-w", ws, "assign", "--per-clip", "2").exit_code == 0
    with _session(ws) as s:
        s.add(Vote(clip_id=2, annotator_id=2, emotion=3))
        s.add(Vote(clip_id=3, annotator_id=3, emotion=1))
    result = cli("-w", ws, "clips", "retire", "2-3", "7", "99", "--reason", "no face visible")
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        "refused: clip 7 is a candidate, not an accepted clip; reject candidates with: "
        "dfew-build clips reject 7",
        "refused: clip 99: no clip 99; see dfew-build clips list"]
    assert result.stdout == ("retired 2, unchanged 0, refused 2\n"
                             "2 vote(s) on the retired clip(s) stay stored and count nowhere; "
                             "undo with: dfew-build clips restore IDS\n")
    with _session(ws) as s:
        clip = s.get(Clip, 2)
        first_time = clip.retired_at
        assert (clip.status, clip.retired_reason) == ("accepted", "no face visible")
        assert first_time is not None
        assert s.scalar(select(Vote.emotion).where(Vote.clip_id == 2)) == 3  # kept
        assert len(s.scalars(select(Assignment).where(Assignment.clip_id == 2)).all()) == 2
    # Again: unchanged, the first reason and time stay.
    again = cli("-w", ws, "clips", "retire", "2", "--reason", "other", "--json")
    assert json.loads(again.stdout) == {"done": [], "unchanged": [2], "refused": {},
                                        "votes_kept": 0}
    with _session(ws) as s:
        assert s.get(Clip, 2).retired_reason == "no face visible"
    listed = json.loads(cli("-w", ws, "clips", "list", "--json", "--retired").stdout)
    assert [(c["id"], c["retired_reason"]) for c in listed] == [
        (2, "no face visible"), (3, "no face visible")]
    kept = json.loads(cli("-w", ws, "clips", "list", "--json", "--not-retired").stdout)
    assert [c["id"] for c in kept] == [1, 4, 5, 6, 7, 8]
    table = cli("-w", ws, "clips", "list").stdout.splitlines()
    assert table[0].split()[-1] == "retired" and table[2].endswith("no face visible")
    # Retired clips are out of assignment: a new annotator's top-up never touches them.
    assert cli("-w", ws, "assign", "--per-clip", "2", "--json").exit_code == 0
    summary = json.loads(cli("-w", ws, "assign", "--per-clip", "2", "--json").stdout)
    assert summary["clips"] == 4 and summary["added"] == 0
    result = cli("-w", ws, "clips", "restore", "2", "4")
    assert result.stdout == "restored 1, unchanged 1, refused 0\n"
    with _session(ws) as s:
        assert (s.get(Clip, 2).retired_at, s.get(Clip, 2).retired_reason) == (None, None)
    # A rejected candidate cannot be retired either.
    cli("-w", ws, "clips", "reject", "8")
    result = cli("-w", ws, "clips", "retire", "8", "--reason", "x")
    assert result.exit_code == 1
    assert result.stderr == ("refused: clip 8 is rejected; only accepted clips can be "
                             "retired\nError: no clip retired\n")


def test_retire_input_errors(cli, ws):
    result = cli("-w", ws, "clips", "retire", "1", "--reason", "   ")
    assert result.exit_code == 1
    assert result.stderr == ("Error: the reason is empty: say why the clips are retired (e.g. "
                             "--reason 'no face visible')\n")
    result = cli("-w", ws, "clips", "retire", "1")
    assert result.exit_code == 2 and "Missing option '--reason'" in result.stderr
    result = cli("-w", ws, "clips", "retire", "3-1", "--reason", "x")
    assert result.exit_code == 2 and "'3-1' is not a clip id or a range like 12-20" in \
        result.stderr
    result = cli("-w", ws, "clips", "restore", "98,99")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "refused: clip 98: no clip 98; see dfew-build clips list",
        "refused: clip 99: no clip 99; see dfew-build clips list",
        "Error: no clip restored"]


# --- clips confirm --extractor ----------------------------------------------------------

def test_confirm_refuses_an_unknown_extractor_unless_new_extractor(cli, ws):
    result = cli("-w", ws, "clips", "confirm", "7", "--extractor", "alcie")
    assert result.exit_code == 1
    assert result.stderr == ("Error: unknown extractor 'alcie' (did you mean 'alice'?); pass "
                             "--new-extractor to add 'alcie' as a new extractor\n")
    with _session(ws) as s:
        assert s.scalar(select(Person).where(Person.name == "alcie")) is None
        assert s.get(Clip, 7).status == "candidate"
    result = cli("-w", ws, "clips", "confirm", "7", "--extractor", "zed")
    assert result.stderr == ("Error: unknown extractor 'zed' (known extractors: alice); pass "
                             "--new-extractor to add 'zed' as a new extractor\n")
    assert cli("-w", ws, "clips", "confirm", "7", "--extractor", "alice").stdout == \
        "confirmed 1, unchanged 0, refused 0\n"
    result = cli("-w", ws, "clips", "confirm", "8", "--extractor", "zed", "--new-extractor")
    assert result.stdout == "confirmed 1, unchanged 0, refused 0\n"
    with _session(ws) as s:
        zed = s.scalar(select(Person).where(Person.name == "zed"))
        assert (zed.role, zed.token_hash, s.get(Clip, 8).extractor_id) == ("extractor", None,
                                                                           zed.id)
    result = cli("-w", ws, "clips", "confirm", "8", "--new-extractor")
    assert result.exit_code == 2 and "--new-extractor needs --extractor NAME" in result.stderr


def test_clips_import_warns_about_a_new_extractor_that_looks_like_a_typo(cli, ws, tmp_path):
    """clips import still adds unknown extractors (a first import brings the whole team, and
    the summary names every new one), but a name close to a known one is flagged."""
    csv_path = tmp_path / "c.csv"
    csv_path.write_text("movie,start,end,extractor\n1,20,21,alcie\n1,22,23,bob\n")
    result = cli("-w", ws, "clips", "import", csv_path)
    assert result.exit_code == 0
    assert result.stderr == ("warning: new extractor 'alcie' looks like 'alice'; if it is a "
                             "typo, see its clips with: dfew-build clips list --extractor "
                             "'alcie'\n")
    assert result.stdout == "imported 2, already present 0, refused 0; new extractors: " \
                            "alcie, bob\n"


# --- people exclude / include -----------------------------------------------------------

def test_exclude_tops_up_their_clips_and_include_undoes_it(cli, ws):
    _annotators(cli, ws, 4)
    assert cli("-w", ws, "assign", "--per-clip", "2").exit_code == 0
    config = ws / "dfew.toml"
    config.write_text(config.read_text().replace("raters_per_clip = 10", "raters_per_clip = 2"))
    with _session(ws) as s:
        a1 = s.scalar(select(Person.id).where(Person.name == "a1"))
        theirs = sorted(s.scalars(select(Assignment.clip_id)
                                  .where(Assignment.annotator_id == a1)))
        s.add(Vote(clip_id=theirs[0], annotator_id=a1, emotion=2))
    result = cli("-w", ws, "people", "exclude", "a1", "--reason", "says sad for neutral")
    assert result.exit_code == 0
    assert result.output == (
        f"excluded 'a1': their 1 vote(s) stay stored and count nowhere; {len(theirs) - 1} "
        f"unvoted assignment(s) released\n"
        f"assigned {len(theirs)} to other annotators ({len(theirs)} clip(s) topped up)\n")
    with _session(ws) as s:
        person = s.get(Person, a1)
        assert person.excluded_reason == "says sad for neutral" and person.active
        pairs = s.execute(select(Assignment.clip_id, Assignment.annotator_id)).all()
        mine = sorted(c for c, a in pairs if a == a1)
        assert mine == [theirs[0]]  # the voted clip stays theirs, with its vote
        for clip_id in range(1, 7):
            others = [a for c, a in pairs if c == clip_id and a != a1]
            assert len(others) == 2  # two counted annotators on every clip
    rows = json.loads(cli("-w", ws, "people", "list", "--json").stdout)
    a1_row = next(r for r in rows if r["name"] == "a1")
    assert a1_row["excluded"] and a1_row["excluded_reason"] == "says sad for neutral"
    table = cli("-w", ws, "people", "list").stdout.splitlines()
    assert next(line for line in table if line.startswith("a1 ")).endswith(
        "says sad for neutral")
    again = cli("-w", ws, "people", "exclude", "a1", "--reason", "x")
    assert again.output.startswith("'a1' is excluded already (since ")
    assert again.output.splitlines()[0].endswith(": says sad for neutral)")
    # A later assign has nothing to do: every clip has its two counted annotators.
    assert json.loads(cli("-w", ws, "assign", "--per-clip", "2", "--json").stdout)["added"] == 0
    result = cli("-w", ws, "people", "include", "a1")
    assert result.output == ("included 'a1': their 1 vote(s) count again; give them clips "
                             "with: dfew-build assign\n")
    assert cli("-w", ws, "people", "include", "a1").output == \
        "'a1' is not excluded; nothing to do\n"


def test_exclude_errors(cli, ws):
    _annotators(cli, ws, 1)
    cli("-w", ws, "people", "add", "boss", "--role", "admin")
    result = cli("-w", ws, "people", "exclude", "boss", "--reason", "x")
    assert result.exit_code == 1
    assert result.output == ("Error: 'boss' is an admin; only annotators are excluded (their "
                             "votes stop counting); to stop someone logging in use: "
                             "dfew-build people deactivate 'boss'\n")
    result = cli("-w", ws, "people", "exclude", "a1", "--reason", " ")
    assert result.output == ("Error: the reason is empty: say why the annotator is excluded "
                             "(e.g. --reason 'says sad for neutral')\n")
    result = cli("-w", ws, "people", "exclude", "nobody", "--reason", "x")
    assert result.output == "Error: no person named 'nobody'; see `dfew-build people list`\n"
    result = cli("-w", ws, "people", "exclude", "a1")
    assert result.exit_code == 2 and "Missing option '--reason'" in result.output
    assert cli("-w", ws, "people", "include", "nobody").exit_code == 1


def test_exclude_with_too_few_annotators_warns_and_assign_finishes_later(cli, ws):
    _annotators(cli, ws, 2)
    config = ws / "dfew.toml"
    config.write_text(config.read_text().replace("raters_per_clip = 10", "raters_per_clip = 2"))
    assert cli("-w", ws, "assign").exit_code == 0
    result = cli("-w", ws, "people", "exclude", "a2", "--reason", "spam")
    assert result.exit_code == 0
    assert result.stderr == ("warning: not reassigned: clip 1 needs 2 distinct annotators but "
                             "only 1 can be on it (1 active annotator(s), 1 already "
                             "assigned); add annotators with `dfew-build people add NAME "
                             "--role annotator` or lower --per-clip (now 2)\n")
    cli("-w", ws, "people", "add", "a3", "--role", "annotator")
    summary = json.loads(cli("-w", ws, "assign", "--json").stdout)
    assert (summary["added"], summary["topped_up"], summary["loads"]) == (
        6, 6, {"a1": 6, "a3": 6})


# --- people add --from / people link --all ----------------------------------------------

def test_people_add_from_csv_reports_bad_rows_by_line(cli, ws, tmp_path):
    cli("-w", ws, "people", "add", "Ann", "--role", "annotator")
    people_csv = tmp_path / "people.csv"
    people_csv.write_text("\ufeffName,Role,email\n"        # a BOM and any column order
                          "Bea,annotator,b@x.org\n"
                          "Ann,annotator,\n"               # 3 exists already
                          ",annotator,\n"                  # 4 empty name
                          "Cy,annotater,\n"                # 5 typo in the role
                          "Bea,admin,\n"                   # 6 twice in the file
                          "\n"
                          "Dee,admin,\n"
                          "Eve,,\n")                       # 9 empty role
    result = cli("-w", ws, "people", "add", "--from", people_csv)
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        "people.csv line 3: 'Ann' already exists (role annotator); not added again (a new "
        "link: dfew-build people link 'Ann')",
        "people.csv line 4: a person's name cannot be empty",
        "people.csv line 5: unknown role 'annotater' (did you mean 'annotator'?): use one of "
        "annotator, extractor, admin",
        "people.csv line 6: 'Bea' is already on line 2 of this file",
        "people.csv line 9: the role column is empty: use one of annotator, extractor, admin "
        "(or give --role for such rows)"]
    lines = result.stdout.splitlines()
    assert lines[0] == "login links (shown once; keep them private):"
    assert lines[1].split() == ["name", "role", "link"]
    assert [line.split()[:2] for line in lines[2:4]] == [["Bea", "annotator"], ["Dee", "admin"]]
    tokens = [LINK.search(line).group(1) for line in lines[2:4]]
    assert lines[4:] == ["added 2, already present 1, refused 4",
                         "Give them clips with: dfew-build assign"]
    with _session(ws) as s:
        stored = dict(s.execute(select(Person.name, Person.token_hash)).all())
    assert [stored["Bea"], stored["Dee"]] == [hash_token(t) for t in tokens]
    # The same file again adds nobody; rows refused and nobody added is exit status 1.
    again = cli("-w", ws, "people", "add", "--from", people_csv, "--json")
    data = json.loads(again.stdout)
    assert again.exit_code == 1
    assert data["summary"] == {"rows": 7, "added": 0, "already_present": 3, "refused": 4}
    assert [r["line"] for r in data["refused"]] == [4, 5, 6, 9]


def test_people_add_from_csv_json_csv_file_and_role_default(cli, ws, tmp_path):
    people_csv = tmp_path / "team.csv"
    people_csv.write_text("name\nFay\nGus\n")
    result = cli("-w", ws, "people", "add", "--from", people_csv)
    assert result.exit_code == 1
    assert result.stderr == (f"Error: {people_csv} has no role column: the header is name; it "
                             "needs columns name and role (annotator, extractor or admin) or "
                             "--role ROLE for every row\n")
    result = cli("-w", ws, "people", "add", "--from", people_csv, "--role", "annotator",
                 "--json")
    data = json.loads(result.stdout)
    assert [(p["name"], p["role"]) for p in data["people"]] == [("Fay", "annotator"),
                                                                ("Gus", "annotator")]
    assert all(p["login_link"].endswith("/login/" + p["token"]) for p in data["people"])
    more = tmp_path / "more.csv"
    more.write_text("name,role\nHal,extractor\nIvy,admin\n")
    out = tmp_path / "links.csv"
    result = cli("-w", ws, "people", "add", "--from", more, "--csv", out)
    assert result.stdout == (f"wrote 2 login link(s) to {out} (keep it private)\n"
                             "added 2, already present 0, refused 0\n")
    assert oct(os.stat(out).st_mode & 0o777) == "0o600"
    rows = out.read_text().splitlines()
    assert rows[0] == "name,role,link" and rows[1].startswith("Hal,extractor,http://127.0.0.1:")
    assert "/login/" not in result.stdout  # the links went to the file only


def test_people_add_usage_errors(cli, ws, tmp_path):
    result = cli("-w", ws, "people", "add")
    assert result.exit_code == 2 and ("give a NAME (with --role), or --from people.csv to add "
                                      "several people") in result.stderr
    result = cli("-w", ws, "people", "add", "X", "--from", tmp_path / "p.csv")
    assert result.exit_code == 2 and "give a NAME or --from CSV, not both" in result.stderr
    result = cli("-w", ws, "people", "add", "X")
    assert result.exit_code == 2 and \
        "Missing option '--role' (annotator, extractor or admin)" in result.stderr
    result = cli("-w", ws, "people", "add", "--from", tmp_path / "missing.csv")
    assert result.exit_code == 1
    assert result.stderr == (f"Error: cannot read the people CSV {tmp_path / 'missing.csv'}: "
                             "No such file or directory\n")
    result = cli("-w", ws, "people", "add", "X", "--role", "admin", "--csv",
                 tmp_path / "no" / "dir.csv")
    assert result.exit_code == 1
    assert result.stderr == (f"Error: cannot write {tmp_path / 'no' / 'dir.csv'}: No such "
                             "file or directory\n")
    with _session(ws) as s:  # the unwritable links file stopped it before anyone was added
        assert s.scalar(select(Person).where(Person.name == "X")) is None


def test_people_link_all_reissues_every_active_link(cli, ws, tmp_path):
    people_csv = tmp_path / "people.csv"
    people_csv.write_text("name,role\nann,annotator\nbob,annotator\nroot,admin\n")
    first = cli("-w", ws, "people", "add", "--from", people_csv, "--json")
    old = {p["name"]: p["token"] for p in json.loads(first.stdout)["people"]}
    cli("-w", ws, "people", "deactivate", "bob")
    result = cli("-w", ws, "people", "link", "--all")
    assert result.exit_code == 0
    assert result.stderr == ("skipped: 'bob' is deactivated; reactivate them first with: "
                             "dfew-build people activate 'bob'\n")
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["name", "role", "link"]
    # alice (extractor, made by a clip import, no token before) gets her first link too.
    assert [line.split()[:2] for line in lines[2:]] == [
        ["root", "admin"], ["ann", "annotator"], ["alice", "extractor"]]
    new = {line.split()[0]: LINK.search(line).group(1) for line in lines[2:]}
    with _session(ws) as s:
        hashes = dict(s.execute(select(Person.name, Person.token_hash)).all())
    for name in ("ann", "root"):
        assert hashes[name] == hash_token(new[name]) != hash_token(old[name])
    # Deactivation revoked bob's link (issue 14) and link --all gave him no new one.
    assert hashes["bob"] is None and old["bob"] not in result.stdout
    result = cli("-w", ws, "people", "link", "--all", "--role", "admin", "--json")
    data = json.loads(result.stdout)
    assert [p["name"] for p in data["people"]] == ["root"] and data["skipped"] == []
    result = cli("-w", ws, "people", "link", "ann", "nobody", "bob")
    assert result.exit_code == 0 and result.stderr.splitlines() == [
        "skipped: no person named 'nobody'; see `dfew-build people list`",
        "skipped: 'bob' is deactivated; reactivate them first with: "
        "dfew-build people activate 'bob'"]
    assert [line.split()[0] for line in result.stdout.splitlines()[2:]] == ["ann"]
    result = cli("-w", ws, "people", "link", "bob", "nobody")
    assert result.exit_code == 1 and result.stderr.endswith("Error: no login link issued\n")
    for args, message in [(["--all", "ann"], "give NAMEs or --all, not both"),
                          ([], "give a NAME, or --all for everyone"),
                          (["ann", "--role", "admin"], "--role goes with --all")]:
        result = cli("-w", ws, "people", "link", *args)
        assert result.exit_code == 2 and message in result.stderr


# --- assign --require-faces and the queue order setting ---------------------------------

def test_assign_require_faces_only_takes_clips_with_a_kept_face(cli, ws):
    _annotators(cli, ws, 2)
    with _session(ws) as s:
        for clip_id, status in [(1, "kept"), (2, "dropped_low_face_rate"), (3, "failed"),
                                (4, "kept")]:
            s.add(FaceTrack(clip_id=clip_id, detector="mtcnn", status=status))
    result = cli("-w", ws, "assign", "--per-clip", "2", "--require-faces")
    assert result.output == ("4 assignment(s) added; 2 clip(s) with 2 annotators each; 2 "
                             "annotators, 2-2 clips each; left out by --require-faces: 2 "
                             "clip(s) not preprocessed, 2 without a kept face\n")
    with _session(ws) as s:
        assert sorted(set(s.scalars(select(Assignment.clip_id)))) == [1, 4]
    # Assigned without the flag first, then with it: unvoted assignments of the clips
    # without a kept face are released; a voted one stays.
    assert cli("-w", ws, "assign", "--per-clip", "2").exit_code == 0
    with _session(ws) as s:
        s.add(Vote(clip_id=2, annotator_id=2, emotion=1))
    summary = json.loads(cli("-w", ws, "assign", "--per-clip", "2", "--require-faces",
                             "--json").stdout)
    assert (summary["released_no_face"], summary["no_face"], summary["not_preprocessed"]) == \
        (7, 2, 2)
    with _session(ws) as s:
        assert sorted(s.execute(select(Assignment.clip_id, Assignment.annotator_id)
                                .where(Assignment.clip_id.not_in([1, 4]))).all()) == [(2, 2)]
    config = ws / "dfew.toml"
    _set(config, "require_faces", "true")
    summary = json.loads(cli("-w", ws, "assign", "--per-clip", "2", "--json").stdout)
    assert summary["require_faces"] and summary["added"] == 0
    summary = json.loads(cli("-w", ws, "assign", "--per-clip", "2", "--no-require-faces",
                             "--json").stdout)
    assert "require_faces" not in summary and summary["added"] == 7


def _set(config, key: str, value: str) -> None:
    """Set an [annotation] key that `init` wrote with its default (one line `key = …`)."""
    import re

    text, count = re.subn(rf"(?m)^{key} = [^#\n]*", f"{key} = {value} ", config.read_text())
    assert count == 1, key
    config.write_text(text)


def test_queue_order_setting_is_checked(cli, ws):
    _annotators(cli, ws, 2)
    summary = json.loads(cli("-w", ws, "assign", "--per-clip", "2", "--json").stdout)
    assert (summary["queue_order"], summary["queue_seed"]) == ("random", 0)
    config = ws / "dfew.toml"
    _set(config, "order", '"shuffled"')
    result = cli("-w", ws, "assign", "--per-clip", "2")
    assert result.exit_code == 1
    assert result.output == ("Error: dfew.toml: annotation.order = 'shuffled' should be one "
                             "of 'random', 'id'; see docs/annotation.md\n")
    _set(config, "order", '"id"')
    _set(config, "order_seed", '"x"')
    result = cli("-w", ws, "assign", "--per-clip", "2")
    # A wrong type is caught with every other dfew.toml key's check.
    assert result.output == (f"Error: {config}: annotation.order_seed = 'x' should be a whole "
                             "number; see docs/workspace.md\n")


def test_assign_order_flag_is_recorded_for_the_server(cli, ws):
    """`assign --order id` keeps ascending ids for everyone; the choice is written to
    dfew.toml (where the annotator page reads it) with the file's comments kept."""
    from annotation_server.annotating import queue
    from dfew_build.annotation.assign import queue_order
    from dfew_build.workspace import open_workspace

    _annotators(cli, ws, 2)
    config = ws / "dfew.toml"
    before = config.read_text()
    assert cli("-w", ws, "assign", "--per-clip", "2").exit_code == 0

    def queues():
        workspace = open_workspace(ws)
        order = queue_order(workspace.config)
        with workspace.session() as s:
            ids = s.scalars(select(Person.id).where(Person.name.in_(["a1", "a2"]))).all()
            result = [queue(s, person, order) for person in ids]
        workspace.close()
        return order.kind, result

    kind, shown = queues()
    assert kind == "random" and any(q != sorted(q) for q in shown)

    result = cli("-w", ws, "assign", "--per-clip", "2", "--order", "id")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == (
        f"queue order: ascending clip id, recorded in {config} [annotation]; a running "
        "dfew-build serve uses it once restarted")
    kind, shown = queues()
    assert kind == "id" and all(q == sorted(q) and q for q in shown)
    after = config.read_text()
    assert after.count("\n") == before.count("\n")  # one value changed, comments kept
    assert "# each annotator's queue: random (seeded per annotator) | id" in after

    # The same order again changes nothing; a new seed draws new random orders.
    summary = json.loads(cli("-w", ws, "assign", "--per-clip", "2", "--order", "id",
                             "--json").stdout)
    assert summary["queue_order_changed"] is False
    summary = json.loads(cli("-w", ws, "assign", "--per-clip", "2", "--order", "random",
                             "--order-seed", "7", "--json").stdout)
    assert (summary["queue_order"], summary["queue_seed"], summary["queue_order_changed"]) \
        == ("random", 7, True)
    assert queue_order(open_workspace(ws).config).seed == 7

    result = cli("-w", ws, "assign", "--order", "shuffled")
    assert result.exit_code == 2 and "'shuffled' is not one of 'random', 'id'" in result.output
