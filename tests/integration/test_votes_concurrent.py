"""`votes import` while annotators vote on the web form (issue 13 item 7), on SQLite and
PostgreSQL: short transactions, conflicts with web votes resolved and reported row by row,
nothing valid rolled back, a locked database waited for (bounded) and a stopped import
finished by running it again."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from dfew_build.annotation import votes as votes_module
from dfew_build.annotation import votes_write
from dfew_build.db.models import Assignment, Clip, Person, Vote
from dfew_build.emotions import BY_CODE
from dfew_build.people import add_person
from dfew_build.workspace import init_workspace
from tests.annotation_data import csrf_of
from tests.databases import backends, throwaway_url

VENDOR = [f"v{i}" for i in range(1, 8)]   # only in the vendor's file
WEB = ["w1", "w2", "w3"]                  # in the file and voting on the web meanwhile
CONFLICT = re.compile(r"clip (\d+) by (w\d) already has the stored vote (\w+), the file says "
                      r"(\w+); not changed \(import with --update to replace stored votes\)")


@dataclass
class Campaign:
    root: Path
    workspace: object
    url: str
    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)
    clip_ids: list[int] = field(default_factory=list)


@contextmanager
def campaign(backend: str, tmp_path: Path, clips: int):
    """`clips` cut, accepted clips; annotators VENDOR + WEB; each web annotator assigned
    every clip (so they can vote any of them on the web)."""
    with throwaway_url(backend, tmp_path) as url:
        root = tmp_path / "ws"
        workspace, _ = init_workspace(root, None if backend == "sqlite" else url)
        site = Campaign(root, workspace, url)
        with workspace.session() as session:
            rows = [Clip(start_s=0.0, end_s=1.5, duration_s=1.5, status="accepted",
                         source="manual", path=f"clips/{i:05d}.mp4")
                    for i in range(1, clips + 1)]
            session.add_all(rows)
            for name in VENDOR + WEB:
                person, token = add_person(session, name, "annotator")
                site.tokens[name], site.ids[name] = token, person.id
            session.flush()
            site.clip_ids = [clip.id for clip in rows]
            session.add_all(Assignment(clip_id=c, annotator_id=site.ids[name],
                                       source="assigned")
                            for name in WEB for c in site.clip_ids)
        try:
            yield site
        finally:
            workspace.close()


def _vendor_file(site: Campaign, path: Path, seed: int = 0) -> dict[int, tuple[int, str, int]]:
    """Ten votes per clip (VENDOR + WEB), random emotions; returns {line: (clip, name, code)}."""
    rng = random.Random(seed)
    rows, by_line = ["clip_id,annotator,emotion"], {}
    for clip in site.clip_ids:
        for name in VENDOR + WEB:
            emotion = rng.randint(1, 7)
            by_line[len(rows) + 1] = (clip, name, emotion)
            rows.append(f"{clip},{name},{BY_CODE[emotion].name}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return by_line


def _web_client(site: Campaign, name: str):
    from fastapi.testclient import TestClient

    from annotation_server import Settings, create_app

    app = create_app(Settings.from_workspace(site.workspace, secret_key="test-secret"))
    client = TestClient(app, follow_redirects=False)
    assert client.get(f"/login/{site.tokens[name]}").status_code == 303
    return client, csrf_of(client.get("/annotate").text)


def _stored(site: Campaign) -> dict[tuple[int, str], int]:
    with site.workspace.session() as session:
        return {(c, n): e for c, n, e in session.execute(
            select(Vote.clip_id, Person.name, Vote.emotion)
            .join(Person, Person.id == Vote.annotator_id))}


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "DFEW_DATABASE_URL"}


@pytest.mark.parametrize("backend", backends())
def test_import_while_annotators_vote_on_the_web(backend, tmp_path):
    with campaign(backend, tmp_path, clips=400) as site:
        csv_path = tmp_path / "vendor.csv"
        file_rows = _vendor_file(site, csv_path)
        with open(csv_path, "a", encoding="utf-8") as handle:
            handle.write("9999,v1,happy\n")  # line 4002: one bad row among 4,000 good ones
        posted: dict[tuple[int, str], list[int]] = {}  # what the web stored, in order
        timings: list[tuple[float, float, int]] = []   # (start, seconds, status) per vote
        stop, lock = threading.Event(), threading.Lock()

        def annotator(name: str) -> None:
            client, token = _web_client(site, name)
            rng = random.Random(name)
            # Down from the last clip while the import goes up from the first: some votes
            # land before the import reaches their rows, some after.
            order = site.clip_ids[::-1]
            i = 0
            while not stop.is_set():
                clip, emotion = order[i % len(order)], rng.randint(1, 7)
                i += 1
                started = time.perf_counter()
                response = client.post(f"/annotate/clip/{clip}/vote",
                                       data={"emotion": str(emotion), "csrf_token": token})
                with lock:
                    timings.append((started, time.perf_counter() - started,
                                    response.status_code))
                    if response.status_code == 303:
                        posted.setdefault((clip, name), []).append(emotion)

        threads = [threading.Thread(target=annotator, args=(n,), daemon=True) for n in WEB]
        for thread in threads:
            thread.start()
        try:
            while len(timings) < 15:  # a head start: the import meets votes already cast
                time.sleep(0.02)
            started = time.perf_counter()
            result = subprocess.run(
                [sys.executable, "-c", "from dfew_build.cli import main; main()",
                 "-w", str(site.root), "votes", "import", str(csv_path), "--json"],
                capture_output=True, text=True, env=_env(), timeout=300)
            finished = time.perf_counter()
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=60)

        assert result.returncode == 0, result.stderr
        assert result.stderr == ""  # no traceback, no warning
        report = json.loads(result.stdout)
        problems = {p["line"]: p["message"] for p in report["problems"]}
        assert problems.pop(4002) == ("unknown clip 9999; only clips in the workspace can get "
                                      "votes (see `dfew-build clips list`)")
        summary = report["summary"]
        assert summary["rows"] == 4001
        # Every valid row is accounted for: stored now, found stored, or reported.
        assert summary["imported"] + summary["unchanged"] + len(problems) == 4000
        assert problems, "the web votes cast before the import should conflict with some rows"
        for line, message in problems.items():
            clip, name, emotion = file_rows[line]
            match = CONFLICT.fullmatch(message)
            assert match, message
            assert (int(match[1]), match[2], match[4]) == (clip, name, BY_CODE[emotion].name)
            assert match[3] in {BY_CODE[e].name for e in posted[(clip, name)]}

        assert {status for *_, status in timings} == {303}
        stored = _stored(site)
        for line, (clip, name, emotion) in file_rows.items():
            web = posted.get((clip, name), [])
            if name in VENDOR or not web:
                assert stored[(clip, name)] == emotion, line  # the file's vote is in
            else:  # the web's last word, or the file's if the import came after it
                assert stored[(clip, name)] in {emotion, *web}, line
        during = [seconds for start, seconds, _ in timings if started <= start <= finished]
        assert during, "no web vote was cast while the import ran"
        # A web vote waits for one short import transaction, never for the whole import.
        assert max(during) < 10, max(during)
        print(f"\n{backend}: import of 4,001 rows in {finished - started:.2f} s (process "
              f"included) with {len(during)} web votes meanwhile, slowest "
              f"{max(during) * 1000:.0f} ms; {len(problems)} conflict(s) reported")


def _small_file(site: Campaign, path: Path, rows: list[tuple[int, str, str]]) -> Path:
    path.write_text("clip_id,annotator,emotion\n"
                    + "".join(f"{c},{n},{e}\n" for c, n, e in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("backend", backends())
def test_votes_cast_between_batches_are_kept_and_their_rows_reported(backend, tmp_path, cli,
                                                                     monkeypatch):
    with campaign(backend, tmp_path, clips=3) as site:
        csv_path = _small_file(site, tmp_path / "v.csv", [
            (1, "v1", "happy"), (1, "w1", "sad"),      # batch 1 (rows are written by clip)
            (2, "v1", "happy"), (2, "w1", "fear"),     # batch 2
            (3, "w1", "angry"), (3, "w2", "disgust"),  # batch 3
        ])
        client, token = _web_client(site, "w1")
        client2, token2 = _web_client(site, "w2")
        monkeypatch.setattr(votes_module, "TRANSACTION_ROWS", 2)
        real = votes_module._commit_rows
        batches = []

        def after_first_batch_the_web_votes(writer, rows, wait, report):
            real(writer, rows, wait, report)
            batches.append([(c, writer.names[a]) for _, c, a, _ in rows])
            if len(batches) == 1:
                for c, tok, cl, emotion in ((2, token, client, 5), (3, token, client, 4),
                                            (3, token2, client2, 6)):
                    assert cl.post(f"/annotate/clip/{c}/vote", data={
                        "emotion": str(emotion), "csrf_token": tok}).status_code == 303

        monkeypatch.setattr(votes_module, "_commit_rows", after_first_batch_the_web_votes)
        result = cli("-w", site.root, "votes", "import", csv_path)
        assert result.exit_code == 0
        assert batches == [[(1, "v1"), (1, "w1")], [(2, "v1"), (2, "w1")],
                           [(3, "w1"), (3, "w2")]]
        # w1 voted surprise for clip 2 on the web before its row was written: kept, reported;
        # angry for clip 3 as the file says: already stored; w2's disgust too.
        assert result.stderr == ("v.csv line 5: clip 2 by w1 already has the stored vote "
                                 "surprise, the file says fear; not changed (import with "
                                 "--update to replace stored votes)\n")
        assert result.stdout == ("6 rows: imported 3, already stored 2, problems 1; "
                                 "2 assignment(s) created\n")
        assert _stored(site) == {(1, "v1"): 1, (1, "w1"): 2, (2, "v1"): 1, (2, "w1"): 5,
                                 (3, "w1"): 4, (3, "w2"): 6}


@pytest.mark.parametrize("backend", backends())
def test_a_vote_stored_between_read_and_insert_is_resolved_row_by_row(backend, tmp_path, cli,
                                                                      monkeypatch):
    """The batch's read misses two votes (as if the web stored them just after it): the
    insert finds them taken, the batch is rolled back and written again with RETURNING,
    which tells row by row which votes are the import's."""
    with campaign(backend, tmp_path, clips=2) as site:
        for clip, name, emotion in ((2, "w1", 7), (2, "w2", 3)):
            client, token = _web_client(site, name)
            assert client.post(f"/annotate/clip/{clip}/vote", data={
                "emotion": str(emotion), "csrf_token": token}).status_code == 303
        csv_path = _small_file(site, tmp_path / "v.csv", [
            (1, "v1", "sad"), (2, "v1", "happy"), (2, "w1", "happy"), (2, "w2", "neutral")])
        real_read, real_write = votes_write._votes_of_pairs, votes_module._Writer.write
        hidden = {(2, site.ids["w1"]), (2, site.ids["w2"])}
        modes = []

        def stale_read(connection, pairs):
            found = real_read(connection, pairs)
            if (1, site.ids["v1"]) in pairs:  # the batch's read, not the re-read
                found = {pair: e for pair, e in found.items() if pair not in hidden}
            return found

        def write(self, rows, *, returning=False):
            modes.append(returning)
            return real_write(self, rows, returning=returning)

        monkeypatch.setattr(votes_write, "_votes_of_pairs", stale_read)
        monkeypatch.setattr(votes_module._Writer, "write", write)
        result = cli("-w", site.root, "votes", "import", csv_path)
        assert result.exit_code == 0
        assert modes == [False, True]
        assert result.stderr == ("v.csv line 4: clip 2 by w1 already has the stored vote fear, "
                                 "the file says happy; not changed (import with --update to "
                                 "replace stored votes)\n")
        assert result.stdout == ("4 rows: imported 2, already stored 1, problems 1; "
                                 "2 assignment(s) created\n")
        assert _stored(site) == {(1, "v1"): 2, (2, "v1"): 1, (2, "w1"): 7, (2, "w2"): 3}

        modes.clear()
        updated = cli("-w", site.root, "votes", "import", csv_path, "--update")
        assert updated.exit_code == 0 and updated.stderr == ""
        assert updated.stdout == ("4 rows: imported 0, updated 1, already stored 3, "
                                  "problems 0; 0 assignment(s) created\n")
        assert _stored(site)[(2, "w1")] == 1


@contextmanager
def _writer_lock(site: Campaign, backend: str):
    """Another program holding the database's write lock (SQLite) or an exclusive lock on
    the vote table (PostgreSQL) until the block ends."""
    engine = create_engine(site.url if backend != "sqlite"
                           else f"sqlite:///{site.root / 'dfew.sqlite'}",
                           isolation_level="AUTOCOMMIT")
    connection = engine.connect()
    try:
        if backend == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")
            connection.exec_driver_sql("LOCK TABLE vote IN EXCLUSIVE MODE")
        yield
    finally:
        connection.exec_driver_sql("ROLLBACK")
        connection.close()
        engine.dispose()


LOCK_CAUSE = {"sqlite": "database is locked", "postgresql": "canceling statement due to lock "
                                                            "timeout"}


@pytest.mark.parametrize("backend", backends())
def test_a_locked_database_stops_the_import_cleanly_and_a_rerun_does_the_rest(
        backend, tmp_path, cli, monkeypatch):
    with campaign(backend, tmp_path, clips=3) as site:
        csv_path = _small_file(site, tmp_path / "v.csv", [
            (c, n, "happy") for c in (1, 2, 3) for n in ("v1", "v2")])
        monkeypatch.setattr(votes_module, "TRANSACTION_ROWS", 2)
        real = votes_module._commit_rows
        lock, batches = _writer_lock(site, backend), []

        def lock_after_the_first_batch(writer, rows, wait, report):
            if len(batches) == 1:
                lock.__enter__()
            batches.append(rows)
            real(writer, rows, wait, report)

        monkeypatch.setattr(votes_module, "_commit_rows", lock_after_the_first_batch)
        started = time.perf_counter()
        try:
            result = cli("-w", site.root, "votes", "import", csv_path, "--wait", "0.5")
        finally:
            if len(batches) > 1:
                lock.__exit__(None, None, None)
        waited = time.perf_counter() - started
        assert result.exit_code == 1
        assert result.stdout == ("6 rows: imported 2, already stored 0, problems 0; "
                                 "2 assignment(s) created\n")
        assert result.stderr == (
            f"Error: the database stayed locked by another program for 0.5 s "
            f"({LOCK_CAUSE[backend]}); the import stopped with 4 of the file's 6 rows to "
            "store not yet written. What it wrote stays stored (2 vote(s) in the database "
            "now): run the same import again to write the rest (stored votes are skipped), "
            "with --wait SECONDS to wait longer\n")
        assert 0.5 <= waited < 10
        assert sorted(_stored(site)) == [(1, "v1"), (1, "v2")]

        monkeypatch.setattr(votes_module, "_commit_rows", real)
        again = cli("-w", site.root, "votes", "import", csv_path)
        assert again.exit_code == 0 and again.stderr == ""
        assert again.stdout == ("6 rows: imported 4, already stored 2, problems 0; "
                                "4 assignment(s) created\n")
        assert len(_stored(site)) == 6


@pytest.mark.parametrize("backend", backends())
def test_a_lock_held_for_a_moment_is_waited_for(backend, tmp_path, cli):
    with campaign(backend, tmp_path, clips=2) as site:
        csv_path = _small_file(site, tmp_path / "v.csv", [(1, "v1", "sad"), (2, "v2", "fear")])
        locked, release = threading.Event(), threading.Event()

        def hold() -> None:
            with _writer_lock(site, backend):
                locked.set()
                release.wait(10)

        holder = threading.Thread(target=hold, daemon=True)
        holder.start()
        assert locked.wait(10)
        threading.Timer(0.5, release.set).start()
        started = time.perf_counter()
        result = cli("-w", site.root, "votes", "import", csv_path, "--wait", "20")
        waited = time.perf_counter() - started
        holder.join(10)
        assert result.exit_code == 0 and result.stderr == ""
        assert result.stdout == ("2 rows: imported 2, already stored 0, problems 0; "
                                 "2 assignment(s) created\n")
        assert waited >= 0.4
        assert _stored(site) == {(1, "v1"): 2, (2, "v2"): 7}


def test_the_import_leaves_the_connections_usual_lock_wait(workspace, tmp_path):
    """The import shortens SQLite's busy timeout for its batches only."""
    from dfew_build.db.session import SQLITE_BUSY_TIMEOUT_MS

    with workspace.session() as session:
        session.add(Clip(id=1, start_s=0.0, end_s=1.0, duration_s=1.0))
        session.add(Person(name="ann1", role="annotator"))
    csv_path = tmp_path / "v.csv"
    csv_path.write_text("clip_id,annotator,emotion\n1,ann1,3\n", encoding="utf-8")
    with workspace.session() as session:
        assert votes_module.import_votes(session, csv_path, lock_wait_s=1).imported == 1
        assert session.execute(text("PRAGMA busy_timeout")).scalar() == SQLITE_BUSY_TIMEOUT_MS
