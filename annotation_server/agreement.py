"""The agreement summary on the admin page, from the labels module (`dfew-build kappa`).

Fleiss' kappa needs every vote; at a million votes that takes seconds, more than a page
may. So the summary is computed in a background thread (its own database connection, not
one of the request pool's) and kept: the page shows the last result with its time and
starts a new computation when the votes changed, never waiting more than `wait_s` for it.
Campaigns under 100,000 votes (well under a second of work) wait for a current result.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dfew_build.db.models import Clip, GoldClip, Person, Vote
from dfew_build.errors import LabelsError


def agreement_summary(db: Session, raters: int) -> dict | None:
    """{'rows': [...]} (Fleiss' kappa, all clips and the single-labelled ones), {'error': why}
    when it cannot be measured yet, or None when the labels module is not installed."""
    try:
        from dfew_build.labels.views import kappa_view
    except ImportError:
        return None
    rows = []
    for subset in ("all", "single"):
        try:
            # No bootstrap interval here: the page must stay fast; `dfew-build kappa` has it.
            view = kappa_view(db, raters=raters, subset=subset, bootstrap=0)
        except LabelsError as exc:
            if subset == "all":
                return {"error": str(exc)}
            rows.append({"subset": subset, "clips": 0, "kappa": None, "band": None,
                         "left_out": str(exc)})
            continue
        left = []
        if view.get("left_out_fewer_votes"):
            left.append(f"{view['left_out_fewer_votes']} with fewer than {raters} votes")
        if view.get("not_single_labelled"):
            left.append(f"{view['not_single_labelled']} not single-labelled")
        gold = (view.get("not_counted") or {}).get("gold_clips")
        if gold:
            left.append(f"{gold} gold check clip(s), counted only for gold accuracy")
        overall = view["overall"]
        rows.append({"subset": subset, "clips": view["N"], "kappa": overall["kappa"],
                     "band": overall["band"] or overall.get("undefined_reason"),
                     "left_out": "; ".join(left)})
    return {"rows": rows}


def votes_fingerprint(db: Session) -> tuple:
    """What the summary depends on, in index lookups: the newest vote, gold clips, retired
    clips and excluded annotators (with the vote count the page has already, and the minute: a
    revised vote changes none of these, so the figure follows revisions within a minute)."""
    return (db.scalar(select(func.max(Vote.id))),
            db.scalar(select(func.count()).select_from(GoldClip)),
            db.scalar(select(func.count()).select_from(Clip).where(Clip.retired_at.is_not(None))),
            db.scalar(select(func.count()).select_from(Person)
                      .where(Person.excluded_at.is_not(None))))


SMALL_VOTES = 100_000


class AgreementCache:
    def __init__(self, database_url: str, wait_s: float = 0.3):
        self.url = database_url
        self.wait_s = wait_s
        self.lock = threading.Lock()
        self.result: dict | None = None
        self.key = None
        self.computed_at: datetime | None = None
        self.running: threading.Thread | None = None
        self.engine = None

    def _compute(self, key, raters: int) -> None:
        from sqlalchemy.orm import sessionmaker
        from sqlalchemy.pool import NullPool

        from dfew_build.db.session import make_engine

        try:
            if self.engine is None:
                self.engine = make_engine(self.url, poolclass=NullPool)
            with sessionmaker(self.engine)() as db:
                result = agreement_summary(db, raters)
        except Exception as exc:  # shown on the page, never a 500
            result = {"error": f"could not be computed ({exc.__class__.__name__}: {exc})"}
        with self.lock:
            self.result, self.key = result, key
            self.computed_at = datetime.now(timezone.utc)
            self.running = None

    async def summary(self, database, raters: int, votes: int) -> dict | None:
        """The summary for `votes` stored votes (the admin page counted them already)."""
        key = (votes, await database.run(votes_fingerprint), raters, int(time.time() // 60))
        with self.lock:
            if self.key == key:
                return self.result
            thread = self.running
            if thread is None:
                thread = threading.Thread(target=self._compute, args=(key, raters),
                                          daemon=True, name="agreement")
                self.running = thread
                thread.start()
        # A campaign of modest size (well under a second of work) waits for its figure.
        deadline = time.monotonic() + (60.0 if (votes or 0) < SMALL_VOTES else self.wait_s)
        import anyio

        while thread.is_alive() and time.monotonic() < deadline:
            await anyio.sleep(0.01)
        with self.lock:
            if self.key == key:
                return self.result
            if self.result is None:
                return {"error": "being computed over every vote; reload the page in a few "
                                 "seconds"}
            stale = dict(self.result)
            when = self.computed_at.strftime("%H:%M:%S UTC") if self.computed_at else ""
            note = f"as of {when}; being updated for the newest votes (reload in a moment)"
            if "rows" in stale:
                stale["rows"] = [{**row, "left_out": "; ".join(filter(None, [row["left_out"],
                                                                             note]))}
                                 for row in stale["rows"]]
            else:
                stale["error"] = f"{stale['error']} ({note})"
            return stale

    def dispose(self) -> None:
        if self.engine is not None:
            self.engine.dispose()
