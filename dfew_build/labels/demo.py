"""The demo's labels step: votes (given, or simulated and clearly labelled as such), then
agreement, the single-label subset and the report.

Simulated votes come from 12 persons named `simulated-annotator-NN` (role annotator) so
nobody mistakes them for human judgements. Model: every clip has a latent emotion (the
extractor's intended emotion when recorded, else a draw from DFEW's label shares); each
annotator answers it with a personal accuracy, else picks an emotion that is plausibly
confused with it (fear/surprise, angry/disgust, sad/neutral, ...). Seeded: the same
workspace and seed give the same votes.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

from dfew_build.db.models import Assignment, Clip, Person, Vote
from dfew_build.errors import LabelsError
from dfew_build.labels.consensus import DEFAULT_THRESHOLD
from dfew_build.labels.matrix import counted_votes
from dfew_build.labels.report import write_report
from dfew_build.labels.views import raters_per_clip

SIMULATED_PREFIX = "simulated-annotator-"
SIMULATED_ANNOTATORS = 12
# DFEW's single-labelled shares (Table 2), DFEW order.
DFEW_SHARES = np.array([2488, 2008, 2709, 2229, 1498, 146, 981], dtype=float)
# Relative weights of the wrong answer given the latent emotion (rows, DFEW order).
CONFUSABLE = np.array([
    # hap sad neu ang sur dis fea
    [0, 1, 6, 1, 4, 1, 1],   # happy
    [1, 0, 6, 2, 1, 1, 3],   # sad
    [3, 4, 0, 3, 2, 1, 1],   # neutral
    [1, 2, 3, 0, 2, 5, 1],   # angry
    [3, 1, 2, 1, 0, 1, 6],   # surprise
    [1, 1, 2, 6, 1, 0, 2],   # disgust
    [1, 3, 1, 1, 7, 1, 0],   # fear
], dtype=float)


def _simulated_annotators(session) -> dict[str, int]:
    names = [f"{SIMULATED_PREFIX}{i:02d}" for i in range(1, SIMULATED_ANNOTATORS + 1)]
    existing = dict(session.execute(select(Person.name, Person.id)
                                    .where(Person.name.in_(names))).all())
    try:
        from dfew_build.people import add_person
    except ImportError:  # pragma: no cover - the people module ships with dfew-build
        add_person = None
    for name in names:
        if name in existing:
            continue
        if add_person is not None:
            person, _token = add_person(session, name, "annotator")
        else:  # pragma: no cover
            person = Person(name=name, role="annotator", active=True)
            session.add(person)
            session.flush()
        existing[name] = person.id
    return {name: existing[name] for name in names}


def _clips(session) -> list[tuple[int, int | None]]:
    """Cut clips, else accepted ones; never retired clips."""
    live = Clip.retired_at.is_(None)
    cut = session.execute(select(Clip.id, Clip.intended_emotion)
                          .where(Clip.path.is_not(None), live).order_by(Clip.id)).all()
    if cut:
        return cut
    return session.execute(select(Clip.id, Clip.intended_emotion)
                           .where(Clip.status == "accepted", live).order_by(Clip.id)).all()


def simulate_votes(session, csv_path: Path, *, raters: int, seed: int = 0) -> int:
    """Write simulated votes that top every demo clip up to `raters` counted votes; returns
    rows."""
    clips = _clips(session)
    if not clips:
        raise LabelsError("no clips to vote on: cut or import clips first (dfew-build clips)")
    people = _simulated_annotators(session)
    ids = list(people.values())
    names = {pid: name for name, pid in people.items()}
    have = dict(session.execute(counted_votes(Vote.clip_id, func.count(), session=session)
                                .group_by(Vote.clip_id)).all())
    voted = set(session.execute(select(Vote.clip_id, Vote.annotator_id)).all())
    assigned = set(session.execute(select(Assignment.clip_id, Assignment.annotator_id)
                                   .where(Assignment.annotator_id.in_(ids))).all())
    rng = np.random.default_rng(seed)
    accuracy = rng.uniform(0.55, 0.9, len(ids))
    wrong = CONFUSABLE / CONFUSABLE.sum(axis=1, keepdims=True)
    rows = []
    for clip_id, intended in clips:
        # Draws happen for every clip, so a clip's votes do not depend on the others'.
        latent = int(intended) - 1 if intended else int(rng.choice(7, p=DFEW_SHARES /
                                                                   DFEW_SHARES.sum()))
        order = rng.permutation(len(ids))
        answers_right = rng.random(len(ids)) < accuracy
        confusions = [int(rng.choice(7, p=wrong[latent])) for _ in ids]
        missing = raters - have.get(clip_id, 0)
        if missing <= 0:
            continue
        # Annotators already assigned to the clip vote first (as they would in practice).
        free = [i for i in order if (clip_id, ids[i]) not in voted]
        free.sort(key=lambda i: (clip_id, ids[i]) not in assigned)
        for i in free[:missing]:
            emotion = latent if answers_right[i] else confusions[i]
            rows.append((clip_id, names[ids[i]], emotion + 1))
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    with open(csv_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["clip_id", "annotator", "emotion"])
        writer.writerows(rows)
    return len(rows)


def run_labels_demo(workspace, *, votes_csv=None, seed: int = 0, report_dir=None) -> dict:
    """Votes in (votes_csv, or simulated ones), then kappa, labels and the report.

    Idempotent: a second run finds every clip voted, imports nothing new and rewrites the
    report. Returns a summary: kappa, single-labelled count, report path, ...
    """
    from dfew_build.annotation.votes import import_votes

    raters = raters_per_clip(workspace.config)
    summary: dict = {"simulated": votes_csv is None}
    with workspace.session() as session:
        if votes_csv is None:
            votes_csv = workspace.reports_dir / "simulated_votes.csv"
            summary["simulated_rows"] = simulate_votes(session, Path(votes_csv),
                                                       raters=raters, seed=seed)
        imported = import_votes(session, votes_csv)
    summary["votes_csv"] = str(votes_csv)
    summary["import"] = imported.summary()
    summary["problems"] = imported.problem_lines()[:20]
    out = Path(report_dir) if report_dir is not None else workspace.reports_dir
    with workspace.session() as session:
        written = write_report(session, out, raters=raters, threshold=DEFAULT_THRESHOLD,
                               seed=seed)
    kappa, labels = written["kappa"][0], written["labels"]
    overall = kappa["overall"]
    summary.update({"clips": kappa["N"], "raters_per_clip": raters, "kappa": overall["kappa"],
                    "kappa_band": overall["band"] or overall["undefined_reason"],
                    "single_labelled": labels["single_labelled"],
                    "report": written["markdown"], "report_html": written["html"]})
    return summary
