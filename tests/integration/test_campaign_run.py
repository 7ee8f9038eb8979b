"""A whole campaign steered from the CLI and the web form (issue 13): 30 people from a CSV,
assignment, a vendor-style votes import, a spammer excluded and replaced (every affected
clip topped back up to 10 counted votes), a clip retired, kappa/labels/folds/export all
counting the same 39 clips x 10 votes afterwards, and each annotator's own queue order,
stable on reload."""

from __future__ import annotations

import csv
import itertools
import json
import re
from collections import Counter

from sqlalchemy import select

from dfew_build.db.models import Assignment, Clip, Movie, Person, Vote
from dfew_build.workspace import open_workspace
from tests.annotation_data import Site, make_client

ANNOTATORS = [f"ann{i:02d}" for i in range(1, 29)]
SPAMMER = "ann07"
CLIPS = 60
VOTED_CLIPS = 40      # clips 1..40 get all their votes from the vendor file; 41..60 wait
RETIRED = 12


def _truth(clip_id: int) -> int:
    return 1 + clip_id % 7


def _write_csv(path, header, rows):
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _pairs(root):
    workspace = open_workspace(root)
    with workspace.session() as s:
        rows = s.execute(select(Assignment.clip_id, Person.name)
                         .join(Person, Person.id == Assignment.annotator_id)).all()
        votes = s.execute(select(Vote.clip_id, Person.name)
                          .join(Person, Person.id == Vote.annotator_id)).all()
    workspace.close()
    return [tuple(r) for r in rows], {tuple(v) for v in votes}


def _counted_votes(root) -> Counter:
    """Votes that count: by annotators not excluded, on clips not retired."""
    workspace = open_workspace(root)
    with workspace.session() as s:
        clip_ids = s.scalars(
            select(Vote.clip_id).join(Person, Person.id == Vote.annotator_id)
            .join(Clip, Clip.id == Vote.clip_id)
            .where(Person.excluded_at.is_(None), Clip.retired_at.is_(None))).all()
    workspace.close()
    return Counter(clip_ids)


def test_a_campaign_with_an_exclusion_a_replacement_and_a_retired_clip(cli, tmp_path):
    root = tmp_path / "ws"
    assert cli("init", root).exit_code == 0
    workspace = open_workspace(root)
    with workspace.session() as s:
        s.add(Movie(path="/films/street.mp4", sha256="c" * 64, size_bytes=1, status="ok",
                    duration_s=600.0, fps=25.0))
        s.flush()
        for i in range(CLIPS):
            s.add(Clip(movie_id=1, start_s=5 * i, end_s=5 * i + 2, duration_s=2.0,
                       path=f"clips/{i + 1:05d}.mp4", status="accepted"))
    workspace.close()

    # 30 people from one CSV; their links go to a file.
    people = _write_csv(tmp_path / "people.csv", ["name", "role"],
                        [(n, "annotator") for n in ANNOTATORS]
                        + [("cutter", "extractor"), ("boss", "admin")])
    links = tmp_path / "links.csv"
    result = cli("-w", root, "people", "add", "--from", people, "--csv", links)
    assert result.exit_code == 0, result.output
    assert result.stdout == (f"wrote 30 login link(s) to {links} (keep it private)\n"
                             "added 30, already present 0, refused 0\n"
                             "Give them clips with: dfew-build assign\n")
    tokens = {row["name"]: row["link"].rsplit("/", 1)[1]
              for row in csv.DictReader(links.open(encoding="utf-8"))}
    assert len(tokens) == 30

    result = cli("-w", root, "assign")
    assert result.stdout == ("600 assignment(s) added; 60 clip(s) with 10 annotators each; "
                             "28 annotators, 21-22 clips each\n")

    # The vendor's file: every vote on clips 1..40; the spammer always says sad.
    pairs, _ = _pairs(root)
    rows = [(c, a, 2 if a == SPAMMER else _truth(c)) for c, a in sorted(pairs)
            if c <= VOTED_CLIPS]
    votes_csv = _write_csv(tmp_path / "votes.csv", ["clip_id", "annotator", "emotion"], rows)
    result = cli("-w", root, "votes", "import", votes_csv)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("400 rows: imported 400")
    assert set(_counted_votes(root).values()) == {10}
    before = json.loads(cli("-w", root, "kappa", "--format", "json", "--bootstrap", "0").stdout)
    assert before["overall"]["kappa"] < 0.95  # the spammer's sad votes, still counted

    # The spammer is excluded: their votes stay, their clips get replacements.
    spam_voted = sorted(c for c, a in pairs if a == SPAMMER and c <= VOTED_CLIPS)
    spam_open = sorted(c for c, a in pairs if a == SPAMMER and c > VOTED_CLIPS)
    assert (len(spam_voted), len(spam_open)) == (15, 6)
    result = cli("-w", root, "people", "exclude", SPAMMER, "--reason", "says sad for neutral")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"excluded '{SPAMMER}': their 15 vote(s) stay stored and count nowhere; 6 unvoted "
        "assignment(s) released\n"
        "assigned 21 to other annotators (21 clip(s) topped up)\n")
    pairs, stored = _pairs(root)
    on_clip = Counter(c for c, a in pairs if a != SPAMMER)
    assert all(on_clip[c] == 10 for c in range(1, CLIPS + 1))  # 10 counted on every clip
    assert sorted(c for c, a in pairs if a == SPAMMER) == spam_voted  # voted ones stay
    assert len(stored) == 400  # nothing deleted
    assert json.loads(cli("-w", root, "assign", "--json").stdout)["added"] == 0

    # The replacements vote (a second vendor delivery): 10 counted votes on every clip.
    replacements = [(c, a, _truth(c)) for c, a in sorted(pairs)
                    if c <= VOTED_CLIPS and (c, a) not in stored]
    assert len(replacements) == 15
    more = _write_csv(tmp_path / "more.csv", ["clip_id", "annotator", "emotion"],
                      replacements)
    assert cli("-w", root, "votes", "import", more).stdout.startswith("15 rows: imported 15")
    counted = _counted_votes(root)
    assert [counted[c] for c in range(1, VOTED_CLIPS + 1)] == [10] * VOTED_CLIPS
    _, stored = _pairs(root)
    per_clip_stored = Counter(c for c, _ in stored)
    assert sorted(c for c in per_clip_stored if per_clip_stored[c] == 11) == spam_voted

    # A clip without a usable face is retired: its votes stay stored and stop counting.
    result = cli("-w", root, "clips", "retire", RETIRED, "--reason", "no face visible")
    assert result.stdout == ("retired 1, unchanged 0, refused 0\n"
                             f"{per_clip_stored[RETIRED]} vote(s) on the retired clip(s) stay "
                             "stored and count nowhere; undo with: dfew-build clips restore "
                             "IDS\n")
    counted = _counted_votes(root)
    assert RETIRED not in counted and len(counted) == VOTED_CLIPS - 1
    assert set(counted.values()) == {10}
    assert json.loads(cli("-w", root, "assign", "--json").stdout)["clips"] == CLIPS - 1

    _agreement_folds_and_export_agree(cli, root, tmp_path)

    # The web form: each annotator's queue holds clips 41..60 only, in an order of their
    # own, the same on every reload; the spammer's queue is empty.
    site = Site(open_workspace(root), tokens=tokens)
    try:
        with site.workspace.session() as s:
            site.ids = dict(s.execute(select(Person.name, Person.id)).all())
        from annotation_server.annotating import queue
        from dfew_build.annotation.assign import queue_order

        order = queue_order(site.workspace.config)
        with site.workspace.session() as s:
            queues = {n: queue(s, site.ids[n], order) for n in ANNOTATORS}
        assert queues[SPAMMER] == []
        assert {c for q in queues.values() for c in q} == set(range(VOTED_CLIPS + 1, CLIPS + 1))
        assert sum(len(q) for q in queues.values()) == 200
        # Where two annotators share clips, they mostly see them in different orders.
        shared = differ = 0
        for a, b in itertools.combinations([n for n in ANNOTATORS if n != SPAMMER], 2):
            common = set(queues[a]) & set(queues[b])
            if len(common) >= 3:
                shared += 1
                differ += [c for c in queues[a] if c in common] != \
                    [c for c in queues[b] if c in common]
        assert shared > 100 and differ / shared > 0.6
        not_ascending = [n for n, q in queues.items() if q and q != sorted(q)]
        assert len(not_ascending) >= 20
        for name in ("ann01", "ann02", "ann03"):
            client = make_client(site, name)
            first = _on_page(client)
            assert first == _on_page(client) == queues[name][0]
        excluded_page = make_client(site, SPAMMER).get("/annotate").text
        assert "No clips for you" in excluded_page
        admin = " ".join(make_client(site, "boss").get("/admin").text.split())
        assert "1 retired clip(s), 1 excluded annotator(s)" in admin
        assert "excluded: says sad for neutral" in admin
        clips_page = " ".join(make_client(site, "boss").get("/admin/clips").text.split())
        assert "<td>11 (10 counted)</td>" in clips_page
    finally:
        site.workspace.close()


def _on_page(client) -> int:
    page = client.get("/annotate")
    assert page.status_code == 200
    return int(re.search(r'data-clip="(\d+)"', page.text).group(1))


def _agreement_folds_and_export_agree(cli, root, tmp_path):
    """After the exclusion and the retirement every figure counts the same 39 clips x 10
    votes. Every counted vote is the clip's true emotion (only the excluded spammer ever
    disagreed), so Fleiss' kappa is exactly 1 and every clip is single-labelled; a leak
    of the spammer's 15 sad votes or of the retired clip would show in every number."""
    import pandas as pd

    kept = [c for c in range(1, VOTED_CLIPS + 1) if c != RETIRED]
    truth = {c: _truth(c) for c in kept}

    kappa = json.loads(cli("-w", root, "kappa", "--format", "json", "--bootstrap", "0").stdout)
    assert (kappa["clips_used"], kappa["vote_counts"]) == (39, {"10": 39})
    assert (kappa["not_counted"]["retired_clips"], kappa["not_counted"]["retired_votes"],
            kappa["not_counted"]["excluded_votes"]) == (1, 10, 15)
    assert kappa["overall"]["kappa"] == 1.0 and kappa["alpha"]["alpha"] == 1.0

    labels = json.loads(cli("-w", root, "labels", "--json").stdout)
    assert (labels["single_labelled"], labels["clips_used"]) == (39, 39)
    table2 = {row["code"]: row["total"] for row in labels["table2"] if row["code"]}
    assert table2 == dict(Counter(truth.values()))
    assert cli("-w", root, "labels", "--output", tmp_path / "subset.csv").exit_code == 0
    subset = pd.read_csv(tmp_path / "subset.csv")
    assert dict(zip(subset["clip_id"], subset["label"])) == truth

    folds = json.loads(cli("-w", root, "folds", "--k", "3", "--include-unprocessed",
                           "--json").stdout)
    assert folds["clips"] == 39 and [f["size"] for f in folds["folds"]] == [13, 13, 13]
    assert folds["left_out"] == {"retired (dfew-build clips retire)": 1}

    release = tmp_path / "release"
    export = json.loads(cli("-w", root, "export", "--format", "dfew", release,
                            "--json").stdout)
    assert (export["clips"], export["folds"]) == (39, 3)
    table = pd.read_csv(release / "Annotation" / "annotation.csv", dtype={"order": str})
    assert sorted(table["order"].astype(int)) == kept  # no retired clip, no unvoted one
    votes = table[[c for c in table.columns if c[0].isdigit()]]
    assert (votes.sum(axis=1) == 10).all()  # counted votes only: no 11th, excluded one
    assert dict(zip(table["order"].astype(int), table["label"])) == truth
    tested = []
    for k in (1, 2, 3):
        split = pd.read_csv(release / "EmoLabel_DataSplit" / "test(single-labeled)"
                            / f"set_{k}.csv", dtype={"video_name": str})
        tested += split["video_name"].astype(int).tolist()
        assert all(truth[int(c)] == e for c, e in zip(split["video_name"], split["label"]))
    assert sorted(tested) == kept  # every counted clip tested exactly once
