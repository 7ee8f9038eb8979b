"""The people-and-assignment step of `dfew-build demo`: a team of annotators and an admin,
and every cut clip assigned to `raters_per_clip` of them. Running it again adds nothing."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from dfew_build.annotation.assign import assign_clips
from dfew_build.db.models import Person
from dfew_build.errors import PeopleError
from dfew_build.people import add_person, configured_base_url, issue_token, login_link

DEMO_ANNOTATORS = tuple(f"annotator-{i:02d}" for i in range(1, 13))
DEMO_ADMIN = "demo-admin"


def run_annotation_demo(workspace, *, annotator_names=DEMO_ANNOTATORS,
                        admin_name: str = DEMO_ADMIN, per_clip: int | None = None,
                        seed: int = 0) -> dict:
    """Add the annotators (role annotator) and the admin if missing, assign every cut clip
    to `per_clip` of them (default: [annotation] raters_per_clip), and return counts and
    login links for the admin and the first annotator. Links are issued only for people
    added by this run: tokens are never stored, and issuing one replaces the previous, so a
    re-run keeps the links printed the first time working and returns None for them (with
    ``link_command``: the `people link` command that issues a new one on purpose).

    Names that exist with another role are an error (PeopleError), not silently reused.
    """
    if isinstance(workspace, (str, Path)):
        from dfew_build.workspace import open_workspace

        workspace = open_workspace(workspace)
    per_clip = per_clip or workspace.config["annotation"]["raters_per_clip"]
    added = []
    with workspace.session() as session:
        existing = {p.name: p for p in session.scalars(select(Person))}
        for name, role in [*((n, "annotator") for n in annotator_names), (admin_name, "admin")]:
            person = existing.get(name)
            if person is None:
                add_person(session, name, role)
                added.append(name)
            elif person.role != role:
                raise PeopleError(f"the demo needs {name!r} as {role}, but that name is an "
                                  f"existing {person.role}; rename or remove them")
        token = issue_token(session, admin_name)[1] if admin_name in added else None
        first = annotator_names[0] if annotator_names else None
        annotator_token = issue_token(session, first)[1] if first in added else None
        report = assign_clips(session, per_clip, seed=seed)
    base_url = configured_base_url(workspace.config)
    return {"annotators": len(annotator_names), "people_added": len(added),
            "clips": report.clips, "per_clip": per_clip,
            "assignments_added": report.added, "load_spread": report.as_dict()["load_spread"],
            "admin": admin_name,
            "admin_login_link": login_link(base_url, token) if token else None,
            "link_command": f"dfew-build -w {workspace.root} people link {admin_name}",
            "annotator_login_link": login_link(base_url, annotator_token)
            if annotator_token else None,
            "serve": "dfew-build serve"}
