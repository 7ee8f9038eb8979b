"""Folds: stratification, fold sizes, determinism, grouping by movie, storage per scheme."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dfew_build.db.models import Assignment, Clip, FaceTrack, Movie, Person, Vote
from dfew_build.errors import SplitError
from dfew_build.splits import load_folds, plan_folds, save_folds, stratified_folds


def seed_clips(workspace, labels, *, movies=None, kept=None, votes_for_label=8):
    """Clips with 10 votes each: `votes_for_label` for the label, the rest spread out."""
    with workspace.session() as session:
        annotators = [Person(name=f"a{i:02d}", role="annotator") for i in range(10)]
        session.add_all(annotators)
        movie_rows = {}
        for m in sorted(set(movies or [])):
            movie_rows[m] = Movie(path=f"/m/{m}.mp4", sha256=f"{m:064d}", size_bytes=1)
        session.add_all(movie_rows.values())
        session.flush()
        for i, label in enumerate(labels):
            clip = Clip(start_s=0.0, end_s=2.0, duration_s=2.0,
                        movie_id=movie_rows[movies[i]].id if movies else None)
            session.add(clip)
            session.flush()
            for j, person in enumerate(annotators):
                emotion = label if j < votes_for_label else (label % 7) + 1
                session.add(Assignment(clip_id=clip.id, annotator_id=person.id))
                session.flush()
                session.add(Vote(clip_id=clip.id, annotator_id=person.id, emotion=emotion))
            if kept is None or kept[i]:
                session.add(FaceTrack(clip_id=clip.id, detector="mtcnn", status="kept"))
        session.flush()


def test_stratified_folds_balance_sizes_and_classes():
    import pandas as pd

    rng = np.random.default_rng(1)
    labels = pd.Series(rng.choice(np.arange(1, 8), size=503, p=[.3, .2, .2, .1, .1, .05, .05]),
                       index=np.arange(1000, 1503))
    folds = stratified_folds(labels, 5, seed=3)
    assert sorted(folds.index) == sorted(labels.index)
    sizes = folds.value_counts()
    assert sizes.max() - sizes.min() <= 1
    per_class = pd.crosstab(folds, labels)
    assert ((per_class.max() - per_class.min()) <= 1).all()
    assert folds.equals(stratified_folds(labels, 5, seed=3))
    assert not folds.equals(stratified_folds(labels, 5, seed=4))


def test_plan_uses_single_labelled_kept_clips(workspace):
    labels = [1, 2, 3, 4, 5, 6, 7] * 3
    kept = [True] * 20 + [False]
    seed_clips(workspace, labels, kept=kept)
    with workspace.session() as session:
        # Two more clips: one with only 6 votes for its top emotion (not single-labelled).
        seed_more = Clip(start_s=0, end_s=1, duration_s=1)
        session.add(seed_more)
        session.flush()
        people = session.query(Person).order_by(Person.id).all()
        for j, person in enumerate(people):
            session.add(Assignment(clip_id=seed_more.id, annotator_id=person.id))
            session.flush()
            session.add(Vote(clip_id=seed_more.id, annotator_id=person.id,
                             emotion=1 if j < 6 else 2))
        session.add(FaceTrack(clip_id=seed_more.id, detector="mtcnn", status="kept"))
        session.flush()
        plan = plan_folds(session, k=5, seed=0)
    assert len(plan.folds) == 20
    assert plan.left_out == {
        "not single-labelled (no emotion with more than 6 of 10 votes, i.e. more than 60 % "
        "of the clip's counted votes)": 1,
        "not kept by preprocessing (dfew-build preprocess)": 1}
    assert plan.imbalance()["size"] <= 1


def test_save_is_idempotent_and_refuses_silent_overwrite(workspace):
    seed_clips(workspace, [1, 2, 3, 4, 5, 6, 7] * 2)
    with workspace.session() as session:
        first = save_folds(session, plan_folds(session, k=2, seed=0))
        assert first.status == "created"
    with workspace.session() as session:
        again = save_folds(session, plan_folds(session, k=2, seed=0))
        assert again.status == "unchanged"
        other = plan_folds(session, k=2, seed=5)
        if not other.folds.equals(again.folds):
            with pytest.raises(SplitError, match="pass --replace"):
                save_folds(session, other)
        replaced = save_folds(session, plan_folds(session, k=3, seed=5), replace=True)
        assert replaced.status == "replaced"
    with workspace.session() as session:
        assert sorted(load_folds(session).unique()) == [1, 2, 3]


def test_group_by_movie_keeps_movies_whole(workspace):
    labels = [1, 2, 3, 4, 5, 6, 7] * 6
    movies = [i // 3 for i in range(len(labels))]  # 14 movies of 3 clips
    seed_clips(workspace, labels, movies=movies)
    with workspace.session() as session:
        plan = plan_folds(session, k=5, seed=0, group_by="movie")
        movie_of = {c.id: c.movie_id for c in session.query(Clip)}
    by_movie = {}
    for clip_id, fold in plan.folds.items():
        by_movie.setdefault(movie_of[clip_id], set()).add(fold)
    assert all(len(f) == 1 for f in by_movie.values())
    assert plan.imbalance()["size"] <= 3  # whole movies of 3 clips: at most one movie apart


def test_errors_name_the_fix(workspace):
    with workspace.session() as session:
        with pytest.raises(SplitError, match=r"only 0 clip\(s\) can be split.*no votes yet"):
            plan_folds(session)
        with pytest.raises(SplitError, match=r"no folds stored for scheme 'x'; run `dfew-build "
                                             r"folds` first"):
            load_folds(session, "x")


def test_cli_folds(workspace, cli):
    seed_clips(workspace, [1, 2, 3, 4, 5, 6, 7] * 5)
    result = cli("-w", workspace.root, "folds", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["clips"] == 35 and data["status"] == "created"
    assert [f["size"] for f in data["folds"]] == [7] * 5
    assert all(f[name] == 1 for f in data["folds"] for name in ("happy", "fear"))
    result = cli("-w", workspace.root, "folds")
    assert "scheme 'default' unchanged: 35 clips in 5 folds" in result.stdout
    result = cli("-w", workspace.root, "folds", "--seed", "9")
    assert result.exit_code == 1
    assert "already holds different folds (35 clips); pass --replace" in result.stderr
    result = cli("-w", workspace.root, "folds", "--k", "40")
    assert result.exit_code == 1
    assert "only 35 clip(s) can be split, fewer than k=40 folds" in result.stderr


def test_counted_votes_decide_the_candidates_and_retired_clips_are_named(workspace):
    from datetime import datetime, timezone

    seed_clips(workspace, [1, 2, 3, 4, 5, 6, 7] * 2, votes_for_label=7)
    with workspace.session() as session:
        stored = save_folds(session, plan_folds(session, k=2, seed=0))
        assert len(stored.folds) == 14
        now = datetime.now(timezone.utc)
        session.get(Clip, 3).retired_at = now
        # a00 voted for every clip's label: without it 6 of 9 remain, still more than 60 %.
        session.query(Person).filter_by(name="a00").one().excluded_at = now
        session.flush()
        plan = plan_folds(session, k=2, seed=0)
        assert 3 not in plan.folds.index and len(plan.folds) == 13
        assert plan.left_out == {"retired (dfew-build clips retire)": 1}
        with pytest.raises(SplitError) as error:
            save_folds(session, plan)
        assert str(error.value) == (
            "scheme 'default' already holds different folds (14 clips, 1 of them retired: 3); "
            "pass --replace to overwrite it without the retired clips, or --scheme NAME to "
            "store a new scheme")
        replaced = save_folds(session, plan, replace=True)
        assert replaced.status == "replaced" and replaced.retired_dropped == [3]
        assert 3 not in load_folds(session).index


def test_overlapping_clips_of_one_movie_share_a_fold_unless_leakage_is_allowed(workspace):
    from dfew_build.splits import candidate_labels

    labels = [1, 2, 3, 4, 5, 6, 7] * 2
    seed_clips(workspace, labels)
    with workspace.session() as session:
        movie = Movie(path="/m/one.mp4", sha256="f" * 64, size_bytes=1)
        session.add(movie)
        session.flush()
        # Clips 1 and 8 (both happy) overlap by a second in one movie, clip 2 touches clip 8.
        for clip_id, (start, end) in {1: (10.0, 12.0), 8: (11.0, 13.0), 2: (13.0, 15.0)}.items():
            clip = session.get(Clip, clip_id)
            clip.movie_id, clip.start_s, clip.end_s = movie.id, start, end
        session.flush()
        candidates, _ = candidate_labels(session)
        plain = stratified_folds(candidates, 2, 0)
        assert plain[1] != plain[8]          # before: the overlap straddled the folds
        plan = plan_folds(session, k=2, seed=0)
        assert plan.folds[1] == plan.folds[8]
        assert plan.groups == {"1": [1, 8]}
        leakage = plan.as_dict()["leakage"]
        assert leakage["near_duplicates_checked"] is False   # no workspace: overlaps only
        assert [(x["a"], x["b"], x["kind"]) for x in leakage["links"]] == [(1, 8, "overlap")]
        assert leakage["split_links"] == 0 and leakage["allowed"] is False
        allowed = plan_folds(session, k=2, seed=0, allow_leakage=True)
        assert allowed.folds.equals(plain)
        assert allowed.as_dict()["leakage"]["split_links"] == 1 and allowed.groups == {}
