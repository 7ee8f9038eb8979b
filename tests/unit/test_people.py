"""People and login tokens: only hashes are stored; errors name the fix."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from dfew_build.db.models import Person
from dfew_build.errors import PeopleError
from dfew_build.people import (activate, add_person, configured_base_url, deactivate,
                               get_person, hash_token, issue_token, list_people, login_link,
                               person_for_token)


def test_add_person_stores_only_the_hash(workspace):
    with workspace.session() as session:
        person, token = add_person(session, "  Ann   Lee ", "annotator")
    assert person.name == "Ann Lee" and len(token) >= 43
    with workspace.session() as session:
        stored = session.scalar(select(Person))
        assert stored.token_hash == hash_token(token) != token
        assert person_for_token(session, token).name == "Ann Lee"
        assert person_for_token(session, token + "x") is None
        assert person_for_token(session, "") is None


def test_errors(workspace):
    with workspace.session() as session:
        add_person(session, "ann", "annotator")
        with pytest.raises(PeopleError) as dup:
            add_person(session, "ann", "admin")
        with pytest.raises(PeopleError) as role:
            add_person(session, "bob", "boss")
        with pytest.raises(PeopleError) as unknown:
            get_person(session, "nobody")
        with pytest.raises(PeopleError) as empty:
            add_person(session, "   ", "admin")
    assert str(dup.value) == ("a person named 'ann' already exists (role annotator); choose "
                              "another name, or issue a new login link with: "
                              "dfew-build people link 'ann'")
    assert str(role.value) == "unknown role 'boss': use one of annotator, extractor, admin"
    assert str(unknown.value) == "no person named 'nobody'; see `dfew-build people list`"
    assert str(empty.value) == "a person's name cannot be empty"


def test_new_link_replaces_the_old_one(workspace):
    with workspace.session() as session:
        _, old = add_person(session, "ann", "annotator")
        _, new = issue_token(session, "ann")
        assert old != new
        assert person_for_token(session, old) is None
        assert person_for_token(session, new).name == "ann"


def test_deactivated_people_cannot_log_in(workspace):
    with workspace.session() as session:
        _, token = add_person(session, "ann", "annotator")
        deactivate(session, "ann")
        assert person_for_token(session, token) is None
        with pytest.raises(PeopleError, match="'ann' is deactivated; reactivate them first"):
            issue_token(session, "ann")
        activate(session, "ann")
        # Deactivation is revocation (issue 14): the old link stays dead; a new one works.
        assert person_for_token(session, token) is None
        assert person_for_token(session, issue_token(session, "ann")[1]).name == "ann"


def test_list_people(workspace):
    with workspace.session() as session:
        for name, role in [("zed", "annotator"), ("amy", "annotator"), ("root", "admin")]:
            add_person(session, name, role)
        deactivate(session, "zed")
        assert [p.name for p in list_people(session)] == ["root", "amy", "zed"]
        assert [p.name for p in list_people(session, role="annotator",
                                            include_inactive=False)] == ["amy"]


def test_links():
    assert login_link("http://h:1/", "a-b_c") == "http://h:1/login/a-b_c"
    assert configured_base_url({"server": {"host": "0.0.0.0", "port": 9000, "base_url": ""}}) \
        == "http://0.0.0.0:9000"
    assert configured_base_url({"server": {"base_url": "https://x.org/dfew/"}}) \
        == "https://x.org/dfew"


def test_exclude_and_include_keep_login_and_say_why(workspace):
    from dfew_build.people import exclude, include, person_dict

    with workspace.session() as session:
        _, token = add_person(session, "ann", "annotator")
        add_person(session, "cut", "extractor")
        person, changed = exclude(session, "ann", "  says   sad for neutral ")
        assert changed and person.excluded_reason == "says sad for neutral"
        first = person.excluded_at
        assert exclude(session, "ann", "other")[1] is False
        assert (person.excluded_at, person.excluded_reason) == (first, "says sad for neutral")
        assert person_for_token(session, token).name == "ann"  # can still log in
        assert person_dict(person)["excluded"] is True
        with pytest.raises(PeopleError, match="'cut' is an extractor; only annotators"):
            exclude(session, "cut", "x")
        assert include(session, "ann") == (person, True)
        assert (person.excluded_at, person.excluded_reason) == (None, None)
        assert include(session, "ann")[1] is False


def test_issue_tokens_for_everyone_active(workspace):
    from dfew_build.people import issue_tokens

    with workspace.session() as session:
        _, old = add_person(session, "ann", "annotator")
        add_person(session, "bob", "annotator")
        add_person(session, "root", "admin")
        deactivate(session, "bob")
        issued, skipped = issue_tokens(session)
        assert [p.name for p, _ in issued] == ["root", "ann"]
        assert skipped == [("bob", "'bob' is deactivated; reactivate them first with: "
                                   "dfew-build people activate 'bob'")]
        assert person_for_token(session, old) is None
        assert person_for_token(session, dict((p.name, t) for p, t in issued)["ann"]).name \
            == "ann"
        issued, _ = issue_tokens(session, role="admin")
        assert [p.name for p, _ in issued] == ["root"]
