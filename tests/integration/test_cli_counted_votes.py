"""Counted votes through the CLI (issue 13): a workspace with 9, 10 and 11 votes per clip
where kappa, labels and the report run and state the counts; then a retired clip and an
excluded annotator (set directly in their rows: the commands that set them live elsewhere)
leave kappa, labels, annotators, folds and both exports consistent."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone

import krippendorff
import numpy as np
import pytest
from sqlalchemy import func, select
from statsmodels.stats.inter_rater import fleiss_kappa

from dfew_build.db.models import Clip, Person, Vote
from dfew_build.workspace import init_workspace, open_workspace
from tests.databases import backends, throwaway_url

# clip -> its votes in rater order r01, r02, ... (r01 is excluded later; clip 3 retired).
VOTES = {
    1: [1] * 6 + [2] * 3,          # 9 votes: 6/9 > 60 %, happy
    2: [2] * 5 + [3] * 4,          # 9: 5/9, none
    3: [3] * 9,                    # 9: neutral
    4: [4] * 7 + [6] * 2,          # 9: angry
    5: [5] * 7 + [7] * 3,          # 10: surprise
    6: [1] * 6 + [3] * 4,          # 10: 6/10 is not more than 60 %
    7: [7] * 8 + [5] * 2,          # 10: fear
    8: [2] * 10,                   # 10: sad
    9: [1] * 7 + [2] * 4,          # 11: 7/11 > 60 %, happy
    10: [4] * 6 + [6] * 5,         # 11: none
    11: [6] * 9 + [4] * 2,         # 11: disgust
    12: [3] * 8 + [1] * 3,         # 11: neutral
    13: [2],                       # one vote: left out
}
LABELS_BEFORE = {1: 1, 3: 3, 4: 4, 5: 5, 7: 7, 8: 2, 9: 1, 11: 6, 12: 3}
# Without r01's first vote and without clip 3: clip 9 falls to 6 of 10.
LABELS_AFTER = {1: 1, 4: 4, 5: 5, 7: 7, 8: 2, 11: 6, 12: 3}


def _table(votes: dict) -> np.ndarray:
    return np.array([np.bincount(codes, minlength=8)[1:] for codes in votes.values()])


def _direct_kappa(table: np.ndarray) -> float:
    n = table.sum(axis=1)
    p_bar = ((table * (table - 1)).sum(axis=1) / (n * (n - 1))).mean()
    p_e = ((table.sum(axis=0) / n.sum()) ** 2).sum()
    return (p_bar - p_e) / (1 - p_e)


def _alpha(votes: dict) -> float:
    """krippendorff.alpha on reliability data (raters x clips), the other input form."""
    raters = max(len(v) for v in votes.values())
    data = np.full((raters, len(votes)), np.nan)
    for i, codes in enumerate(votes.values()):
        data[:len(codes), i] = codes
    return krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")


@pytest.fixture(params=backends())
def root(request, cli, tmp_path):
    """A workspace on SQLite and (when the tests have a server) PostgreSQL: the counted-vote
    filters are SQL and must mean the same on both."""
    with throwaway_url(request.param, tmp_path) as url:
        workspace, _ = init_workspace(tmp_path / "ws",
                                      None if request.param == "sqlite" else url)
        workspace.close()
        yield _populated(cli, tmp_path, tmp_path / "ws")


def _populated(cli, tmp_path, root):
    workspace = open_workspace(root)
    with workspace.session() as session:
        for clip_id in VOTES:
            session.add(Clip(id=clip_id, start_s=0.0, end_s=3.0, duration_s=3.0))
        for r in range(1, 12):
            session.add(Person(name=f"r{r:02d}", role="annotator"))
    workspace.close()
    lines = ["clip_id,annotator,emotion"]
    for clip_id, codes in VOTES.items():
        lines += [f"{clip_id},r{j:02d},{code}" for j, code in enumerate(codes, start=1)]
    (tmp_path / "votes.csv").write_text("\n".join(lines) + "\n")
    result = cli("-w", root, "votes", "import", tmp_path / "votes.csv")
    assert result.exit_code == 0, result.output
    return root


def _retire_and_exclude(root) -> None:
    workspace = open_workspace(root)
    now = datetime.now(timezone.utc)
    with workspace.session() as session:
        clip = session.get(Clip, 3)
        clip.retired_at, clip.retired_reason = now, "no usable face"
        person = session.scalars(select(Person).where(Person.name == "r01")).one()
        person.excluded_at, person.excluded_reason = now, "says sad for neutral"
    workspace.close()


def _json(cli, root, *args):
    result = cli("-w", root, *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_uneven_counts_kappa_labels_report(cli, root, tmp_path):
    used = {c: v for c, v in VOTES.items() if len(v) >= 2}
    table = _table(used)
    view = _json(cli, root, "kappa", "--format", "json", "--bootstrap", "200")
    assert (view["N"], view["n"], view["clips_used"]) == (12, None, 12)
    assert view["vote_counts"] == {"9": 4, "10": 4, "11": 4}
    assert view["left_out_fewer_than_min_votes"] == 1
    assert view["overall"]["kappa"] == pytest.approx(_direct_kappa(table), abs=1e-6)
    assert view["alpha"]["alpha"] == pytest.approx(_alpha(used), abs=1e-6)
    complete = fleiss_kappa(table[table.sum(axis=1) == 10])
    assert view["complete_only"]["N"] == 4
    assert view["complete_only"]["kappa"] == pytest.approx(complete, abs=1e-6)
    assert view["method"].startswith("Fleiss' kappa generalised to a varying number")

    text = cli("-w", root, "kappa", "--bootstrap", "0").stdout.splitlines()
    kappa, alpha = view["overall"]["kappa"], view["alpha"]["alpha"]
    assert text[:6] == [
        "Fleiss' kappa, all clips: N = 12 clips with 9 to 11 votes (generalised to a varying "
        "number of votes per clip)",
        "counted votes per clip: 9 votes: 4 clips, 10 votes: 4 clips, 11 votes: 4 clips",
        "left out: 1 clip(s) with fewer than 2 counted votes",
        f"kappa = {kappa:.4f}  {view['overall']['band']} agreement (Landis & Koch)",
        f"Krippendorff's alpha (nominal) = {alpha:.4f}",
        f"for comparison, DFEW's fixed-n Fleiss' kappa (statsmodels) on the 4 clip(s) with "
        f"exactly 10 votes: {complete:.4f}"]
    markdown = cli("-w", root, "kappa", "--format", "markdown", "--bootstrap", "0").stdout
    assert "counted votes per clip: 9 votes: 4 clips" in markdown
    assert any(line.split() == ["|", "emotion", "|", "p", "|", "kappa", "|", "ci", "|", "band",
                                "|"] for line in markdown.splitlines())

    single = _json(cli, root, "kappa", "--format", "json", "--subset", "single")
    assert single["N"] == len(LABELS_BEFORE) and single["not_single_labelled"] == 3

    labels = _json(cli, root, "labels", "--json", "--output", tmp_path / "labels.csv")
    assert (labels["clips_used"], labels["single_labelled"]) == (12, 9)
    assert labels["votes_needed"] == {"9": 6, "10": 7, "11": 7}
    assert labels["single_labelled_by_vote_count"] == {"9": 3, "10": 3, "11": 3}
    rows = (tmp_path / "labels.csv").read_text().splitlines()[1:]
    assert dict(tuple(map(int, r.split(","))) for r in rows) == LABELS_BEFORE
    text = cli("-w", root, "labels").stdout.splitlines()
    assert text[:3] == [
        "single-labelled: 9 of 12 clips (75.00 %), more than 6 of 10 votes for one emotion "
        "(more than 60 % of its counted votes)",
        "counted votes per clip: 9 votes: 4 clips, 10 votes: 4 clips, 11 votes: 4 clips; a "
        "single label needs at least 6 of 9, 7 of 10, 7 of 11 votes for one emotion",
        "left out: 1 clip(s) with fewer than 2 counted votes"]

    # A typed --raters that few clips have is refused, naming the counts found.
    refused = cli("-w", root, "kappa", "--raters", "11")
    assert refused.exit_code == 1
    assert refused.stderr.startswith(
        "Error: --raters 11 matches 4 of the 12 clip(s) with at least 2 counted votes (9 "
        "votes: 4 clips, 10 votes: 4 clips, 11 votes: 4 clips); --raters is the number of "
        "votes a clip is meant to get")
    for command in ("labels", "report"):
        extra = [tmp_path / "r"] if command == "report" else []
        again = cli("-w", root, command, *extra, "--raters", "9")
        assert again.exit_code == 1 and "--raters 9 matches 4 of the 12" in again.stderr

    out = tmp_path / "report"
    assert cli("-w", root, "report", out).exit_code == 0
    report = (out / "report.md").read_text()
    assert ("12 clip(s) with at least 2 counted votes are used (counted votes per clip: 9 "
            "votes: 4 clips, 10 votes: 4 clips, 11 votes: 4 clips); left out: 1 clip(s) with "
            "fewer than 2 counted votes.") in report
    assert "Krippendorff's alpha (nominal)" in report
    assert "at least 6 of 9, 7 of 10, 7 of 11 votes" in report


def test_retired_clip_and_excluded_annotator_count_nowhere(cli, root, tmp_path):
    folds = cli("-w", root, "folds", "--k", "2", "--include-unprocessed", "--json")
    assert folds.exit_code == 0, folds.output
    assert json.loads(folds.stdout)["clips"] == len(LABELS_BEFORE)
    _retire_and_exclude(root)
    counted = {c: v[1:] for c, v in VOTES.items() if c != 3 and len(v) > 1}

    view = _json(cli, root, "kappa", "--format", "json", "--bootstrap", "0")
    assert (view["N"], view["vote_counts"]) == (11, {"8": 3, "9": 4, "10": 4})
    assert view["overall"]["kappa"] == pytest.approx(_direct_kappa(_table(counted)), abs=1e-6)
    assert view["alpha"]["alpha"] == pytest.approx(_alpha(counted), abs=1e-6)
    assert view["not_counted"] == {
        "rule": "a vote counts when its clip is not retired, its clip is not a gold check "
                "clip, and its annotator is not excluded",
        "retired_clips": 1, "retired_votes": 9,
        "excluded_annotators": [{"annotator": "r01", "reason": "says sad for neutral",
                                 "excluded_at": view["not_counted"]["excluded_annotators"][0][
                                     "excluded_at"], "votes": 12}],
        "excluded_votes": 12, "clips_only_excluded_votes": 1,
        "gold_clips": 0, "gold_votes": 0}
    left_out = ("left out: 1 retired clip(s) (9 votes); 12 vote(s) of 1 excluded annotator(s) "
                "(r01); 1 clip(s) voted on only by excluded annotators")
    assert left_out in cli("-w", root, "kappa", "--bootstrap", "0").stdout.splitlines()

    labels = _json(cli, root, "labels", "--json", "--output", tmp_path / "labels.csv")
    rows = (tmp_path / "labels.csv").read_text().splitlines()[1:]
    assert dict(tuple(map(int, r.split(","))) for r in rows) == LABELS_AFTER
    assert labels["single_labelled"] == len(LABELS_AFTER)
    assert left_out in cli("-w", root, "labels").stdout.splitlines()

    people = _json(cli, root, "annotators", "--json")
    assert "r01" not in [a["annotator"] for a in people["annotators"]]
    assert sum(a["votes"] for a in people["annotators"]) == sum(map(len, counted.values()))
    text = cli("-w", root, "annotators").stdout.splitlines()
    assert "r01 is excluded (says sad for neutral): 12 vote(s) stored, not counted" in text
    assert "not counted: 9 vote(s) on 1 retired clip(s)" in text

    out = tmp_path / "report"
    assert cli("-w", root, "report", out).exit_code == 0
    report = (out / "report.md").read_text()
    assert left_out[len("left out: "):] in report
    assert "r01 is excluded (says sad for neutral): 12 vote(s) stored" in report

    # The stored scheme still holds the retired clip: an export says so, `folds` refuses
    # naming it, and --replace rebuilds it.
    dfew = tmp_path / "DFEW"
    result = cli("-w", root, "export", "--format", "dfew", dfew)
    assert result.exit_code == 0, result.output
    assert ("missing: 1 clip(s) in the folds but retired: left out of the split CSVs "
            "(dfew-build folds --replace rebuilds scheme 'default' without them): 00003"
            ) in result.stderr.splitlines()
    assert ("note: not exported (stored, not counted): 1 retired clip(s) (9 votes); 12 "
            "vote(s) of 1 excluded annotator(s) (r01); 1 clip(s) voted on only by excluded "
            "annotators") in result.stderr.splitlines()
    with open(dfew / "Annotation" / "annotation.csv", newline="") as handle:
        table = list(csv.reader(handle))[1:]
    expected = {c: list(np.bincount(v, minlength=8)[1:]) for c, v in counted.items()}
    assert {int(r[7]): [int(x) for x in r[:7]] for r in table} == expected
    assert {int(r[7]): int(r[8]) for r in table if r[8] != "0"} == LABELS_AFTER
    splits = (dfew / "EmoLabel_DataSplit" / "test(single-labeled)").glob("set_*.csv")
    listed = {int(r[0]) for path in splits for r in list(csv.reader(open(path)))[1:]}
    assert 3 not in listed and listed <= set(counted)

    lists = cli("-w", root, "export", "--format", "former-dfer", tmp_path / "lists")
    assert ("missing: 1 clip(s) in the folds but retired: left out (dfew-build folds --replace "
            "rebuilds scheme 'default' without them): 00003") in lists.stderr.splitlines()

    refused = cli("-w", root, "folds", "--k", "2", "--include-unprocessed")
    assert refused.exit_code == 1
    assert refused.stderr == (
        "Error: scheme 'default' already holds different folds (9 clips, 1 of them retired: "
        "3); pass --replace to overwrite it without the retired clips, or --scheme NAME to "
        "store a new scheme\n")
    replaced = cli("-w", root, "folds", "--k", "2", "--include-unprocessed", "--replace")
    assert replaced.exit_code == 0, replaced.output
    assert "left out: 1 clip(s) retired (dfew-build clips retire)" in replaced.stderr
    assert "replaced: 1 retired clip(s) left scheme 'default' (3)" in replaced.stderr
    assert f"scheme 'default' replaced: {len(LABELS_AFTER)} clips in 2 folds" in replaced.stdout
    again = cli("-w", root, "export", "--format", "dfew", dfew)
    assert "retired" not in " ".join(line for line in again.stderr.splitlines()
                                     if line.startswith("missing"))

    # Nothing was deleted: every vote is still stored.
    workspace = open_workspace(root)
    with workspace.session() as session:
        assert session.scalar(select(func.count(Vote.id))) == sum(map(len, VOTES.values()))
    workspace.close()


def test_nothing_counts(cli, root):
    workspace = open_workspace(root)
    with workspace.session() as session:
        for clip in session.scalars(select(Clip)):
            clip.retired_at = datetime.now(timezone.utc)
    workspace.close()
    result = cli("-w", root, "kappa")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: no counted votes: 13 retired clip(s) (121 votes) (their votes are stored but not "
        "counted); bring clips back with `dfew-build clips restore` or annotators with "
        "`dfew-build people include`\n")
