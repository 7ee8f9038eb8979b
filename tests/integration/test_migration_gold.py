"""Migration 0006 (gold clips, practice votes): upgrade from 0005 keeps the data and adds
the two tables with their constraints; downgrade to 0005 removes exactly them."""

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from dfew_build.db.migrate import downgrade, upgrade
from dfew_build.db.session import make_engine
from tests.databases import backends, throwaway_url


@pytest.fixture(params=backends())
def engine(request, tmp_path):
    with throwaway_url(request.param, tmp_path) as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


def test_upgrade_from_0005_and_downgrade(engine):
    upgrade(engine, "0005")
    assert "gold_clip" not in inspect(engine).get_table_names()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO clip (id, start_s, end_s, duration_s, source, status, "
                          "created_at) VALUES (1, 0, 1, 1, 'manual', 'accepted', "
                          "CURRENT_TIMESTAMP)"))
        conn.execute(text("INSERT INTO person (id, name, role, active, created_at) "
                          "VALUES (1, 'a', 'annotator', true, CURRENT_TIMESTAMP)"))
    upgrade(engine)
    tables = set(inspect(engine).get_table_names())
    assert {"gold_clip", "practice_vote"} <= tables
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO gold_clip (clip_id, emotion, set_at) "
                          "VALUES (1, 2, CURRENT_TIMESTAMP)"))
        conn.execute(text("INSERT INTO practice_vote (person_id, clip_id, emotion, gold_emotion,"
                          " created_at) VALUES (1, 1, 3, 2, CURRENT_TIMESTAMP)"))
    for bad in ("INSERT INTO gold_clip (clip_id, emotion, set_at) VALUES (1, 3, "
                "CURRENT_TIMESTAMP)",                                       # one answer a clip
                "INSERT INTO gold_clip (clip_id, emotion, set_at) VALUES (1, 8, "
                "CURRENT_TIMESTAMP)",                                       # not an emotion
                "INSERT INTO practice_vote (person_id, clip_id, emotion, gold_emotion, "
                "created_at) VALUES (1, 1, 4, 2, CURRENT_TIMESTAMP)"):      # twice
        with pytest.raises(IntegrityError):
            with engine.begin() as conn:
                conn.execute(text(bad))
    downgrade(engine, "0005")
    after = set(inspect(engine).get_table_names())
    assert tables - after == {"gold_clip", "practice_vote"}
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM clip")).scalar() == 1
