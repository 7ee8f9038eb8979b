"""`dfew-build people ...`, `assign` and `serve --help` through the CLI."""

from __future__ import annotations

import json
import re

from sqlalchemy import select

from dfew_build.db.models import Clip, Movie, Person, Vote
from dfew_build.people import hash_token

LINK = re.compile(r"^  (http://127\.0\.0\.1:8000/login/([A-Za-z0-9_-]{43}))$", re.M)


def test_people_add_prints_a_link_whose_token_is_not_stored(cli, workspace):
    result = cli("-w", workspace.root, "people", "add", "Ann", "--role", "annotator")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("annotator 'Ann': login link (shown once; keep it private):")
    token = LINK.search(result.output).group(2)
    with workspace.session() as session:
        person = session.scalar(select(Person))
    assert person.token_hash == hash_token(token)
    for stored in workspace.root.glob("dfew.sqlite*"):  # the database and its WAL
        assert token.encode() not in stored.read_bytes()


def test_people_add_errors(cli, workspace):
    cli("-w", workspace.root, "people", "add", "Ann", "--role", "annotator")
    result = cli("-w", workspace.root, "people", "add", "Ann", "--role", "admin")
    assert result.exit_code == 1
    assert result.output == ("Error: a person named 'Ann' already exists (role annotator); "
                             "choose another name, or issue a new login link with: "
                             "dfew-build people link 'Ann'\n")
    result = cli("-w", workspace.root, "people", "add", "Bob", "--role", "boss")
    assert result.exit_code == 2 and "'boss' is not one of 'annotator', 'extractor', 'admin'" \
        in result.output
    result = cli("-w", workspace.root, "people", "deactivate", "Nobody")
    assert result.exit_code == 1
    assert result.output == "Error: no person named 'Nobody'; see `dfew-build people list`\n"


def test_base_url_option_and_config(cli, workspace):
    result = cli("-w", workspace.root, "people", "add", "A", "--role", "admin",
                 "--base-url", "https://annotate.example.org/")
    assert "  https://annotate.example.org/login/" in result.output
    config = workspace.config_path.read_text().replace('\nbase_url = ""',
                                                       '\nbase_url = "https://x.org"')
    workspace.config_path.write_text(config)
    result = cli("-w", workspace.root, "people", "link", "A", "--json")
    data = json.loads(result.output)
    assert data["login_link"] == f"https://x.org/login/{data['token']}"
    assert data["name"] == "A" and data["role"] == "admin"


def test_people_link_replaces_the_token(cli, workspace):
    first = cli("-w", workspace.root, "people", "add", "Ann", "--role", "annotator")
    second = cli("-w", workspace.root, "people", "link", "Ann")
    assert second.exit_code == 0
    old, new = (LINK.search(r.output).group(2) for r in (first, second))
    with workspace.session() as session:
        assert session.scalar(select(Person.token_hash)) == hash_token(new) != hash_token(old)


def test_people_list_table_and_json(cli, workspace):
    assert cli("-w", workspace.root, "people", "list").output.startswith("no people yet")
    for name, role in [("ann", "annotator"), ("boss", "admin"), ("cut", "extractor")]:
        cli("-w", workspace.root, "people", "add", name, "--role", role)
    cli("-w", workspace.root, "people", "deactivate", "cut")
    table = cli("-w", workspace.root, "people", "list").output.splitlines()
    # The last column says why an annotator is excluded (people exclude); empty here.
    assert table[0].split() == ["name", "role", "active", "assigned", "voted", "excluded"]
    assert table[1].split() == ["boss", "admin", "yes", "0", "0"]
    assert table[3].split() == ["cut", "extractor", "no", "0", "0"]
    rows = json.loads(cli("-w", workspace.root, "people", "list", "--json",
                          "--role", "annotator").output)
    assert [(r["name"], r["active"], r["assigned"]) for r in rows] == [("ann", True, 0)]
    assert "token" not in json.dumps(rows)


def _clips(workspace, count):
    with workspace.session() as session:
        movie = Movie(path="/m.mp4", sha256="e" * 64, size_bytes=1, status="ok")
        session.add(movie)
        session.flush()
        for i in range(count):
            session.add(Clip(movie_id=movie.id, start_s=i, end_s=i + 1, duration_s=1,
                             path=f"clips/{i + 1:05d}.mp4", status="accepted"))


def test_assign_and_deactivate_move_unvoted_clips(cli, workspace):
    assert cli("-w", workspace.root, "assign").output.startswith("no clips to assign yet")
    _clips(workspace, 6)
    for i in range(1, 4):
        cli("-w", workspace.root, "people", "add", f"a{i}", "--role", "annotator")
    result = cli("-w", workspace.root, "assign")
    assert result.exit_code == 1
    assert result.output.startswith("Error: clip 1 needs 10 distinct annotators but only 3 ")
    result = cli("-w", workspace.root, "assign", "--per-clip", "2", "--json")
    summary = json.loads(result.output)
    assert summary["added"] == 12 and summary["loads"] == {"a1": 4, "a2": 4, "a3": 4}
    result = cli("-w", workspace.root, "assign", "--per-clip", "2")
    assert result.output == ("0 assignment(s) added; 6 clip(s) with 2 annotators each; "
                             "3 annotators, 4-4 clips each\n")
    with workspace.session() as session:
        a1 = session.scalar(select(Person.id).where(Person.name == "a1"))
        from dfew_build.db.models import Assignment
        voted_clip = session.scalar(select(Assignment.clip_id).where(
            Assignment.annotator_id == a1).order_by(Assignment.clip_id))
        session.add(Vote(clip_id=voted_clip, annotator_id=a1, emotion=4))
    # raters_per_clip = 2 so deactivation refills with the configured n.
    config = workspace.config_path.read_text().replace("raters_per_clip = 10",
                                                       "raters_per_clip = 2")
    workspace.config_path.write_text(config)
    result = cli("-w", workspace.root, "people", "deactivate", "a1")
    assert result.exit_code == 0
    assert result.output == ("deactivated 'a1' (their link and sessions no longer work); "
                             "3 unvoted assignment(s) released\n"
                             "reassigned 3 to other annotators\n")
    rows = json.loads(cli("-w", workspace.root, "people", "list", "--json").output)
    progress = {r["name"]: (r["assigned"], r["voted"]) for r in rows}
    assert progress.pop("a1") == (1, 1)  # the voted clip stays theirs
    assert sorted(progress.values()) == [(5, 0), (6, 0)]  # 11 = 6 clips x 2 - a1's one
    result = cli("-w", workspace.root, "people", "deactivate", "a2")
    assert result.exit_code == 0
    assert "warning: not reassigned: clip" in result.output


def test_help_of_every_command(cli):
    for args in (["people", "--help"], ["people", "add", "--help"], ["people", "link", "--help"],
                 ["people", "list", "--help"], ["people", "deactivate", "--help"],
                 ["people", "activate", "--help"], ["assign", "--help"], ["serve", "--help"]):
        result = cli(*args)
        assert result.exit_code == 0 and "Usage: " in result.output
