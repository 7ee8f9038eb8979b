"""add_clip / confirm / reject under DFEW's rules, on a real ingested movie."""

import pytest
from sqlalchemy import select

from dfew_build.clips import (DuplicateClipError, add_clip, clip_rules, confirm_clip,
                              confirm_clips, list_clips, reject_clip, reject_clips)
from dfew_build.db.models import Clip, Person
from dfew_build.errors import ClipError
from dfew_build.media.ingest import ingest
from dfew_build.workspace import init_workspace
from tests.databases import backends, throwaway_url

MOVIE = "WolfgangLanger_Pexels.mp4"  # 19.685 s at 23.976 fps


@pytest.fixture(params=backends())
def ws(request, tmp_path, sample_media):
    with throwaway_url(request.param, tmp_path) as url:
        workspace, _ = init_workspace(tmp_path / "ws", database_url=url)
        ingest(workspace, [sample_media / MOVIE, sample_media / "single_face.mp4"])
        yield workspace
        workspace.close()


def _add(session, config, start, end, **kwargs):
    kwargs.setdefault("extractor", "alice")
    return add_clip(session, config, movie=MOVIE, start_s=start, end_s=end, **kwargs)


def test_add_clip_stores_an_accepted_clip_and_creates_the_extractor(ws):
    with ws.session() as session:
        clip = _add(session, ws.config, 1.0, 3.5, intended_emotion="fear")
        assert (clip.movie.path.endswith(MOVIE), clip.duration_s, clip.intended_emotion,
                clip.source, clip.status) == (True, 2.5, 7, "manual", "accepted")
        person = session.get(Person, clip.extractor_id)
        assert (person.name, person.role, person.token_hash) == ("alice", "extractor", None)
        # The movie by id, the extractor as a Person: same person, no second one.
        second = add_clip(session, ws.config, movie=clip.movie_id, start_s=5, end_s=6,
                          extractor=person)
        assert second.extractor_id == person.id
        assert len(list(session.scalars(select(Person)))) == 1


def test_the_21st_clip_of_a_movie_is_refused(ws):
    with ws.session() as session:
        for i in range(20):
            _add(session, ws.config, i * 0.9, i * 0.9 + 0.8)
        with pytest.raises(ClipError) as info:
            _add(session, ws.config, 18.5, 19.5)
    assert str(info.value) == ("movie 1 (WolfgangLanger_Pexels.mp4) already has 20 clips, "
                               "the most allowed (clips.max_per_movie = 20)")
    with ws.session() as session:
        assert len(list_clips(session, movie=MOVIE)) == 20


def test_limit_is_configurable(ws):
    ws.config["clips"]["max_per_movie"] = 2
    with ws.session() as session:
        _add(session, ws.config, 0, 1)
        _add(session, ws.config, 2, 3)
        with pytest.raises(ClipError, match="already has 2 clips"):
            _add(session, ws.config, 4, 5)


def test_overlap_refused_unless_allowed(ws):
    with ws.session() as session:
        first = _add(session, ws.config, 2.0, 4.0)
        _add(session, ws.config, 3.0, 5.0)  # exactly half of the shorter one: allowed
        with pytest.raises(ClipError) as info:
            _add(session, ws.config, 2.5, 3.5)
        assert str(info.value) == (
            f"overlaps clip {first.id} (00:00:02.000-00:00:04.000) of movie 1 "
            "(WolfgangLanger_Pexels.mp4) by more than 50% of the shorter clip; use "
            "--allow-overlap to keep it")
        kept = _add(session, ws.config, 2.5, 3.5, allow_overlap=True)
        assert kept.status == "accepted"


def test_same_span_twice_is_a_duplicate(ws):
    with ws.session() as session:
        clip = _add(session, ws.config, 2.0, 4.0)
        with pytest.raises(DuplicateClipError) as info:
            _add(session, ws.config, 2.0, 4.0, allow_overlap=True)
    assert info.value.clip_id == clip.id
    assert str(info.value) == (f"00:00:02.000-00:00:04.000 of movie 1 "
                               f"(WolfgangLanger_Pexels.mp4) is already clip {clip.id}")


@pytest.mark.parametrize("start, end, kwargs, message", [
    (3, 2, {}, "end 00:00:02.000 is not after start 00:00:03.000"),
    (-1, 2, {}, "-00:00:01.000-00:00:02.000 lies outside movie 1 (WolfgangLanger_Pexels.mp4), "
                "which is 00:00:19.685 long"),
    (18, 20, {}, "00:00:18.000-00:00:20.000 lies outside movie 1 (WolfgangLanger_Pexels.mp4), "
                 "which is 00:00:19.685 long"),
    (1, 1.3, {}, "duration 0.300 s is outside the allowed 0.5-10 s "
                 "(clips.min_duration_s/max_duration_s in dfew.toml)"),
    (0, 12, {}, "duration 12.000 s is outside the allowed 0.5-10 s "
                "(clips.min_duration_s/max_duration_s in dfew.toml)"),
    (1, 2, {"intended_emotion": "9"},
     "unknown emotion '9': use a code 1..7 or one of happy, sad, neutral, angry, surprise, "
     "disgust, fear"),
    (1, 2, {"extractor": "  "}, "the extractor is empty: name the person who cut the clip"),
])
def test_invalid_clips(ws, start, end, kwargs, message):
    with ws.session() as session:
        with pytest.raises(ClipError) as info:
            _add(session, ws.config, start, end, **kwargs)
        assert str(info.value) == message
        assert list(session.scalars(select(Clip))) == []
        assert list(session.scalars(select(Person))) == []  # no extractor for a refused clip


def test_movie_references(ws):
    with ws.session() as session:
        for ref, message in [
            ("nope.mp4", "unknown movie 'nope.mp4': no ingested movie has that id, file name "
                         "or path; ingest it first with: dfew-build ingest PATH"),
            ("99", "unknown movie '99': no ingested movie has that id, file name or path; "
                   "ingest it first with: dfew-build ingest PATH"),
        ]:
            with pytest.raises(ClipError) as info:
                add_clip(session, ws.config, movie=ref, start_s=0, end_s=1, extractor="a")
            assert str(info.value) == message


def test_a_non_extractor_name_is_refused(ws):
    with ws.session() as session:
        session.add(Person(name="ann", role="annotator"))
        session.flush()
        with pytest.raises(ClipError) as info:
            _add(session, ws.config, 0, 1, extractor="ann")
    assert str(info.value) == ("'ann' is an annotator, not an extractor; name an extractor (or "
                               "add one with: dfew-build people add NAME --role extractor)")


def _candidate(session, start, end, movie_id=1):
    clip = Clip(movie_id=movie_id, start_s=start, end_s=end, duration_s=end - start,
                source="proposed", status="candidate")
    session.add(clip)
    session.flush()
    return clip


def test_candidates_count_only_once_confirmed(ws):
    ws.config["clips"]["max_per_movie"] = 1
    with ws.session() as session:
        first, second = _candidate(session, 0, 2), _candidate(session, 5, 7)
        # Candidates do not hold the movie's only slot: a manual clip still fits.
        manual = _add(session, ws.config, 10, 12)
        with pytest.raises(ClipError) as info:
            confirm_clip(session, ws.config, first.id, extractor="bob")
        assert str(info.value) == (f"clip {first.id}: movie 1 (WolfgangLanger_Pexels.mp4) "
                                   "already has 1 clips, the most allowed "
                                   "(clips.max_per_movie = 1)")
        assert manual.status == "accepted"
        ws.config["clips"]["max_per_movie"] = 3
        confirmed = confirm_clip(session, ws.config, first.id, extractor="bob")
        assert (confirmed.status, confirmed.extractor.name) == ("accepted", "bob")
        rejected = reject_clip(session, second.id)
        assert rejected.status == "rejected"
        with pytest.raises(ClipError) as info:
            reject_clip(session, first.id)
        assert str(info.value) == (f"clip {first.id} is accepted, not a candidate; only "
                                   "candidates can be rejected (take an accepted clip out of "
                                   "the campaign with: dfew-build clips retire "
                                   f"{first.id} --reason TEXT)")


def test_batches_go_on_past_refused_ids(ws):
    with ws.session() as session:
        a, b = _candidate(session, 0, 2), _candidate(session, 0.5, 2.5)
        c = _candidate(session, 6, 8)
        outcome = confirm_clips(session, ws.config, [a.id, b.id, 99, c.id, a.id])
        assert outcome.done == [a.id, c.id] and outcome.unchanged == [a.id]
        assert outcome.refused == {
            b.id: f"clip {b.id}: overlaps clip {a.id} (00:00:00.000-00:00:02.000) of movie 1 "
                  "(WolfgangLanger_Pexels.mp4) by more than 50% of the shorter clip; use "
                  "--allow-overlap to keep it",
            99: "no clip 99; see dfew-build clips list"}
        assert session.get(Clip, b.id).status == "candidate"
        outcome = reject_clips(session, [b.id, a.id, b.id])
        assert outcome.done == [b.id] and outcome.unchanged == [b.id]
        assert list(outcome.refused) == [a.id]


def test_rules_read_from_config(ws):
    ws.config["clips"]["min_duration_s"] = 1.0
    assert clip_rules(ws.config).min_duration_s == 1.0
    with ws.session() as session:
        with pytest.raises(ClipError, match="outside the allowed 1-10 s"):
            _add(session, ws.config, 0, 0.8)
