"""People: annotators, extractors and admins, their login tokens, and exclusion.

A login token is a random URL-safe string shown once (in a login link). Only its SHA-256
is stored: the token carries 256 bits of entropy, so a plain hash cannot be brute-forced
and lets the server find the person with one indexed lookup. Issuing a new link replaces
the hash and revokes every session opened before (dfew_build.logins); a link may be given
an expiry (`expires_in_days`).

Deactivating and excluding are different things:
- `deactivate`: the person can no longer log in (their link is void and every session of
  theirs is revoked; `activate` + `people link` lets them in again with a new link); an
  annotator's votes keep counting.
- `exclude` (annotators only): their votes stay stored but count nowhere (agreement, labels,
  quality, folds, exports), they get no clips and their queue is empty; they can still log
  in (and see their history) unless deactivated too. `include` undoes it.
"""

from __future__ import annotations

import difflib
import hashlib
import secrets
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from dfew_build.db.models import PERSON_ROLES, Person, utcnow
from dfew_build.errors import PeopleError

TOKEN_BYTES = 32
MAX_NAME_LENGTH = 200
MAX_LINK_DAYS = 3650


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh (token, hash) pair."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, hash_token(token)


def login_link(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/login/{quote(token, safe='')}"


def normalize_name(name: str) -> str:
    """A name as stored and compared: Unicode NFC, runs of whitespace as one space.

    NFC makes a name typed on one system equal to the same name copied from another (macOS
    file names and some keyboards give decomposed "e" + U+0301 for "é")."""
    return " ".join(unicodedata.normalize("NFC", str(name)).split())


def name_variants(name: str) -> list[str]:
    """The stored spellings a normalised name may have: NFC, and NFD for rows written before
    names were normalised. For `Person.name.in_(...)` lookups (one indexed query)."""
    return sorted({name, unicodedata.normalize("NFD", name)})


def find_person(session: Session, name: str) -> Person | None:
    """The person with this name after normalisation (see normalize_name), or None."""
    cleaned = normalize_name(name)
    if not cleaned:
        return None
    matches = list(session.scalars(select(Person).where(Person.name.in_(name_variants(cleaned)))
                                   .order_by(Person.id)))
    exact = [p for p in matches if p.name == cleaned]
    return (exact or matches or [None])[0]


def _clean_name(name: str) -> str:
    from dfew_build.names import check_name

    cleaned = normalize_name(name)
    if not cleaned:
        raise PeopleError("a person's name cannot be empty")
    check_name(cleaned, "the name", PeopleError)  # no control or bidi characters
    if len(cleaned) > MAX_NAME_LENGTH:
        raise PeopleError(f"the name {cleaned[:40]!r}... is longer than {MAX_NAME_LENGTH} "
                          "characters; choose a shorter one")
    return cleaned


def _check_role(role: str) -> str:
    if role not in PERSON_ROLES:
        close = difflib.get_close_matches(str(role).lower(), PERSON_ROLES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise PeopleError(f"unknown role {role!r}{hint}: use one of {', '.join(PERSON_ROLES)}")
    return role


def link_expiry(expires_in_days: float | None):
    """The expiry time of a link issued now, or None for a link that does not expire.
    PeopleError for a number of days that is not positive or beyond ten years."""
    if expires_in_days is None or expires_in_days == 0:
        return None
    try:
        days = float(expires_in_days)
    except (TypeError, ValueError):
        raise PeopleError(f"link expiry {expires_in_days!r} is not a number of days") from None
    if not 0 < days <= MAX_LINK_DAYS:
        raise PeopleError(f"link expiry {expires_in_days!r} days should be more than 0 and at "
                          f"most {MAX_LINK_DAYS} (0 or nothing: the link does not expire)")
    return utcnow() + timedelta(days=days)


def _give_token(session: Session, person: Person, expires_at) -> str:
    """A new link for the person: the old one stops working and their sessions end."""
    from dfew_build.logins import revoke_sessions

    token, person.token_hash = new_token()
    person.token_expires_at = expires_at
    if person.id is not None:
        revoke_sessions(session, [person.id])
    return token


def add_person(session: Session, name: str, role: str, *,
               expires_in_days: float | None = None) -> tuple[Person, str]:
    """Add a person; returns them and their login token (shown once, never stored).
    expires_in_days: the link stops working after that many days (None: never)."""
    name = _clean_name(name)
    role = _check_role(role)
    expires_at = link_expiry(expires_in_days)
    existing = find_person(session, name)
    if existing is not None:
        raise PeopleError(f"a person named {name!r} already exists (role {existing.role}); "
                          f"choose another name, or issue a new login link with: "
                          f"dfew-build people link {name!r}")
    token, token_hash = new_token()
    person = Person(name=name, role=role, token_hash=token_hash, active=True,
                    token_expires_at=expires_at)
    session.add(person)
    session.flush()
    return person, token


def get_person(session: Session, name: str) -> Person:
    # A lookup, not a new name: a person stored before names were checked (dfew_build.names)
    # can still be found, deactivated or excluded. The message below shows the name escaped.
    cleaned = normalize_name(name)
    if not cleaned:
        raise PeopleError("a person's name cannot be empty")
    person = find_person(session, cleaned)
    if person is None:
        raise PeopleError(f"no person named {name!r}; see `dfew-build people list`")
    return person


def list_people(session: Session, role: str | None = None,
                include_inactive: bool = True) -> list[Person]:
    query = select(Person).order_by(Person.role, Person.name)
    if role is not None:
        query = query.where(Person.role == _check_role(role))
    if not include_inactive:
        query = query.where(Person.active.is_(True))
    return list(session.scalars(query))


def issue_token(session: Session, name: str, *,
                expires_in_days: float | None = None) -> tuple[Person, str]:
    """A new login token for a person; their old link and sessions stop working."""
    expires_at = link_expiry(expires_in_days)
    person = get_person(session, name)
    if not person.active:
        raise PeopleError(_deactivated(person))
    token = _give_token(session, person, expires_at)
    session.flush()
    return person, token


def _deactivated(person: Person) -> str:
    return (f"{person.name!r} is deactivated; reactivate them first with: "
            f"dfew-build people activate {person.name!r}")


def issue_tokens(session: Session, names=None, *, role: str | None = None,
                 expires_in_days: float | None = None
                 ) -> tuple[list[tuple[Person, str]], list[tuple[str, str]]]:
    """New login tokens for several people: those named, or (names None) every active
    person (of `role`, when given). Returns ([(person, token)], [(name, why skipped)]);
    a name that cannot get a link (unknown, deactivated) does not stop the others. Each
    old link stops working."""
    if role is not None:
        _check_role(role)
    expires_at = link_expiry(expires_in_days)
    issued, skipped = [], []
    if names is None:
        for person in list_people(session, role=role):
            if not person.active:
                skipped.append((person.name, _deactivated(person)))
                continue
            issued.append((person, _give_token(session, person, expires_at)))
    else:
        for name in dict.fromkeys(names):
            try:
                issued.append(issue_token(session, name, expires_in_days=expires_in_days))
            except PeopleError as exc:
                skipped.append((normalize_name(name), str(exc)))
    session.flush()
    return issued, skipped


@dataclass
class PeopleImport:
    """What `add_people_from_csv` did, row by row (lines are file lines; the header is 1)."""

    source: Path
    rows: int = 0
    added: list[tuple[int, Person, str]] = field(default_factory=list)  # (line, person, token)
    existing: list[tuple[int, str, str]] = field(default_factory=list)  # (line, name, role)
    refused: list[tuple[int, str]] = field(default_factory=list)        # (line, reason)

    def messages(self) -> list[str]:
        """One line per row that added nobody, in file order."""
        lines = [(line, f"{name!r} already exists (role {role}); not added again (a new "
                        f"link: dfew-build people link {name!r})")
                 for line, name, role in self.existing] + list(self.refused)
        return [f"{self.source.name} line {line}: {text}" for line, text in sorted(lines)]

    def summary(self) -> dict:
        return {"rows": self.rows, "added": len(self.added), "already_present":
                len(self.existing), "refused": len(self.refused)}


def add_people_from_csv(session: Session, path: str | Path,
                        default_role: str | None = None, *,
                        expires_in_days: float | None = None) -> PeopleImport:
    """Add the people of a CSV file with columns name and role (any order, case-insensitive;
    other columns are ignored). A bad row (empty name, unknown role, a name twice in the
    file) is reported by line and the other rows go on; a name that already exists is
    reported and left as it is. default_role fills an empty or missing role column.
    Raises PeopleError when the file as a whole cannot be used (unreadable, no name column).
    """
    from dfew_build.csvinput import read_user_csv

    path = Path(path)
    header, reader = read_user_csv(path, what="people CSV", needs="columns name and role",
                                   error=PeopleError)
    columns = [h.strip().lower() for h in header]
    if "name" not in columns or ("role" not in columns and default_role is None):
        missing = [c for c in ("name", "role") if c not in columns]
        raise PeopleError(f"{path} has no {' or '.join(missing)} column: the header is "
                          f"{', '.join(header)}; it needs columns name and role (annotator, "
                          "extractor or admin)" + (" or --role ROLE for every row"
                                                   if "name" in columns else ""))
    if default_role is not None:
        _check_role(default_role)
    link_expiry(expires_in_days)  # a bad expiry refuses the file before any row
    report = PeopleImport(path)
    seen: dict[str, int] = {}
    for values in reader:
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue
        report.rows += 1
        row = dict(zip(columns, (v.strip() for v in values)))
        try:
            name = _clean_name(row.get("name", ""))
            role = row.get("role") or default_role
            if not role:
                raise PeopleError(f"the role column is empty: use one of "
                                  f"{', '.join(PERSON_ROLES)} (or give --role for such rows)")
            role = _check_role(role)
            if name in seen:
                raise PeopleError(f"{name!r} is already on line {seen[name]} of this file")
            seen[name] = line
            existing = find_person(session, name)
            if existing is not None:
                report.existing.append((line, existing.name, existing.role))
                continue
            person, token = add_person(session, name, role,
                                       expires_in_days=expires_in_days)
        except PeopleError as exc:
            report.refused.append((line, str(exc)))
            continue
        report.added.append((line, person, token))
    return report


def deactivate(session: Session, name: str) -> Person:
    """Deactivate a person: they can no longer log in, their login link is void for good
    and every session of theirs is revoked. Their votes stay."""
    from dfew_build.logins import revoke_sessions

    person = get_person(session, name)
    person.active = False
    person.token_hash = None  # `activate` does not bring the old link back
    person.token_expires_at = None
    revoke_sessions(session, [person.id])
    session.flush()
    return person


def activate(session: Session, name: str) -> Person:
    person = get_person(session, name)
    person.active = True
    session.flush()
    return person


def exclude(session: Session, name: str, reason: str) -> tuple[Person, bool]:
    """Exclude an annotator: (person, True) if newly excluded, (person, False) if they were
    excluded already (their first reason and time are kept).

    Their votes stay stored and count nowhere; they get no new clips (`assign` releases
    their unvoted assignments and tops the clips up with other annotators). PeopleError
    for an empty reason or someone who is not an annotator."""
    text = " ".join("".join(ch if ch >= " " else " " for ch in str(reason or "")).split())
    if not text:
        raise PeopleError("the reason is empty: say why the annotator is excluded (e.g. "
                          "--reason 'says sad for neutral')")
    person = get_person(session, name)
    if person.role != "annotator":
        raise PeopleError(f"{person.name!r} is {_article(person.role)} {person.role}; only "
                          "annotators are excluded (their votes stop counting); to stop "
                          f"someone logging in use: dfew-build people deactivate "
                          f"{person.name!r}")
    if person.excluded_at is not None:
        return person, False
    person.excluded_at, person.excluded_reason = utcnow(), text[:2000]
    session.flush()
    return person, True


def include(session: Session, name: str) -> tuple[Person, bool]:
    """Undo `exclude`: their stored votes count again; (person, changed)."""
    person = get_person(session, name)
    if person.excluded_at is None:
        return person, False
    person.excluded_at = person.excluded_reason = None
    session.flush()
    return person, True


def vote_count(session: Session, person: Person) -> int:
    """How many votes the person has stored (counted or not)."""
    from sqlalchemy import func

    from dfew_build.db.models import Vote

    return session.scalar(select(func.count()).select_from(Vote)
                          .where(Vote.annotator_id == person.id)) or 0


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def person_for_token(session: Session, token: str) -> Person | None:
    """The active person a login token belongs to, or None (unknown, replaced, expired, or
    its person deactivated)."""
    if not token or len(token) > 200:
        return None
    token_hash = hash_token(token)
    person = session.scalar(select(Person).where(Person.token_hash == token_hash))
    if person is None or not person.active:
        return None
    if person.token_expires_at is not None:
        from dfew_build.logins import aware

        if aware(person.token_expires_at) <= utcnow():
            return None
    return person


def person_dict(person: Person) -> dict:
    return {"id": person.id, "name": person.name, "role": person.role,
            "active": person.active, "created_at": person.created_at,
            "excluded": person.excluded_at is not None, "excluded_at": person.excluded_at,
            "excluded_reason": person.excluded_reason,
            "link_expires_at": person.token_expires_at}


def configured_base_url(config: dict) -> str:
    """The address in login links: [server] base_url, else http://host:port."""
    server = config.get("server", {})
    if server.get("base_url"):
        return str(server["base_url"]).rstrip("/")
    return f"http://{server.get('host', '127.0.0.1')}:{server.get('port', 8000)}"
