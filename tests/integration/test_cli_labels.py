"""`kappa`, `labels`, `annotators`, `report` and the labels demo through the CLI."""

import json

import numpy as np
import pytest
from statsmodels.stats.tests import test_inter_rater as reference

from dfew_build.db.models import Clip, Person
from dfew_build.labels.demo import run_labels_demo
from dfew_build.workspace import open_workspace
from tests.unit.test_markdown import assert_aligned


def _workspace(cli, tmp_path, clips, raters, durations=None):
    root = tmp_path / "ws"
    assert cli("init", root).exit_code == 0
    workspace = open_workspace(root)
    with workspace.session() as session:
        for i in range(1, clips + 1):
            duration = durations[i - 1] if durations else 3.0
            session.add(Clip(id=i, start_s=0.0, end_s=duration, duration_s=duration))
        for r in range(1, raters + 1):
            session.add(Person(name=f"rater{r}", role="annotator"))
    workspace.close()
    return root


def _import(cli, root, tmp_path, per_clip_codes):
    """per_clip_codes[i] lists clip i+1's emotion codes, one per rater1, rater2, ..."""
    lines = ["clip_id,annotator,emotion"]
    for clip, codes in enumerate(per_clip_codes, start=1):
        lines += [f"{clip},rater{r},{code}" for r, code in enumerate(codes, start=1)]
    path = tmp_path / "votes.csv"
    path.write_text("\n".join(lines) + "\n")
    result = cli("-w", root, "votes", "import", path)
    assert result.exit_code == 0 and result.stderr == "", result.output


def _kappa(cli, root, *args):
    result = cli("-w", root, "kappa", "--format", "json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_fleiss_1971_diagnoses(cli, tmp_path):
    root = _workspace(cli, tmp_path, 30, 6)
    _import(cli, root, tmp_path, reference.diagnoses.tolist())
    view = _kappa(cli, root, "--raters", "6")
    assert (view["N"], view["n"], view["left_out_fewer_than_min_votes"]) == (30, 6, 0)
    assert view["vote_counts"] == {"6": 30}
    assert view["overall"]["kappa"] == pytest.approx(0.4302, abs=5e-5)
    assert view["overall"]["band"] == "moderate"
    low, high = view["overall"]["ci_low"], view["overall"]["ci_high"]
    assert low < 0.4302 < high
    assert [row["emotion"] for row in view["per_category"]][:5] == [
        "happy", "sad", "neutral", "angry", "surprise"]
    assert view["per_category"][5]["undefined_reason"] == "no vote for disgust"
    assert "complete_only" not in view  # every clip has 6 votes: statsmodels' value itself
    # The default configuration (10 raters per clip) uses the 6-vote clips all the same:
    # raters_per_clip is the n of the single-label share, not a filter.
    default = _kappa(cli, root)
    assert default["overall"]["kappa"] == view["overall"]["kappa"]
    assert (default["N"], default["n"], default["raters_per_clip"]) == (30, 6, 10)


def test_fourteen_raters_table(cli, tmp_path):
    counts = np.asarray(reference.table1, dtype=int)  # 10 subjects x 5 categories, 14 raters
    root = _workspace(cli, tmp_path, 10, 14)
    _import(cli, root, tmp_path, [np.repeat(np.arange(1, 6), row).tolist() for row in counts])
    assert _kappa(cli, root, "--raters", "14")["overall"]["kappa"] == pytest.approx(0.2099,
                                                                                    abs=5e-5)


def test_per_category_hand_values_and_output_formats(cli, tmp_path):
    # 4 clips x 3 raters, see tests/unit/test_labels_agreement.py for the hand computation.
    # The fifth clip has 1 vote: left out (agreement needs 2).
    root = _workspace(cli, tmp_path, 5, 3)
    _import(cli, root, tmp_path, [[1, 1, 1], [1, 1, 2], [2, 2, 7], [7, 7, 7], [3]])
    view = _kappa(cli, root, "--raters", "3", "--bootstrap", "0")
    assert view["left_out_fewer_than_min_votes"] == 1
    kappas = {row["emotion"]: row["kappa"] for row in view["per_category"]}
    assert kappas["happy"] == pytest.approx(23 / 35, abs=1e-6)
    assert kappas["sad"] == pytest.approx(1 / 9, abs=1e-6)
    assert kappas["fear"] == pytest.approx(0.625, abs=1e-6)
    assert view["overall"]["kappa"] == pytest.approx(46 / 94, abs=1e-6)
    assert view["overall"]["ci_low"] is None
    table = cli("-w", root, "kappa", "--raters", "3", "--bootstrap", "0").stdout.splitlines()
    assert table[:4] == ["Fleiss' kappa, all clips: N = 4 clips x n = 3 votes",
                         "left out: 1 clip(s) with fewer than 2 counted votes",
                         "kappa = 0.4894  moderate agreement (Landis & Koch)",
                         "Krippendorff's alpha (nominal) = 0.5319"]
    assert table[6].split() == ["happy", "0.4167", "0.6571", "—", "substantial"]
    markdown = cli("-w", root, "kappa", "--raters", "3", "--format", "markdown").stdout
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in markdown.splitlines()
            if line.startswith("| ")]
    assert rows[0] == ["emotion", "p", "kappa", "ci", "band"]
    assert ["neutral", "0.0000", "—", "—", "no vote for neutral"] in rows
    assert_aligned("\n".join(line for line in markdown.splitlines() if line.startswith("|")))


def test_degenerate_kappa_is_explained(cli, tmp_path):
    root = _workspace(cli, tmp_path, 3, 2)
    _import(cli, root, tmp_path, [[1, 1], [1, 1], [1, 1]])
    result = cli("-w", root, "kappa", "--raters", "2")
    assert result.exit_code == 0
    assert result.stdout == (
        "Fleiss' kappa, all clips: N = 3 clips x n = 2 votes\n"
        "kappa undefined: every vote is for one emotion (happy): observed and chance "
        "agreement are both 1, so kappa = (P - Pe) / (1 - Pe) is 0/0, undefined\n")
    one = cli("-w", root, "kappa", "--raters", "1")
    assert one.exit_code == 1
    assert one.stderr == (
        "Error: --raters 1 matches 0 of the 3 clip(s) with at least 2 counted votes (2 votes: "
        "3 clips); --raters is the number of votes a clip is meant to get (the n of the "
        "single-label rule l_k / n_i > R / n), not a filter: every clip with at least 2 "
        "counted votes is used whatever its count. Pass the count most clips have, or leave "
        "--raters out to use [annotation] raters_per_clip from dfew.toml\n")


def test_a_clip_with_more_votes_than_the_raters_is_used(cli, tmp_path):
    # Issue 13: one clip with 11 votes used to stop kappa and labels for the whole dataset.
    root = _workspace(cli, tmp_path, 2, 11)
    _import(cli, root, tmp_path, [[1] * 11, [2] * 10])
    view = _kappa(cli, root)
    assert (view["N"], view["n"], view["vote_counts"]) == (2, None, {"10": 1, "11": 1})
    assert view["complete_only"] == {"n": 10, "N": 1, "kappa": None,
                                     "undefined_reason": view["complete_only"][
                                         "undefined_reason"]}
    labels = json.loads(cli("-w", root, "labels", "--json").stdout)
    assert labels["single_labelled"] == 2 and labels["votes_needed"] == {"10": 7, "11": 7}


def test_no_votes(cli, tmp_path):
    root = _workspace(cli, tmp_path, 1, 1)
    result = cli("-w", root, "labels")
    assert result.exit_code == 1
    assert result.stderr == ("Error: there are no votes yet; import them with `dfew-build votes "
                             "import CSV` or collect them with `dfew-build serve`\n")


def test_labels_threshold_boundary_and_table2(cli, tmp_path):
    durations = [1.0, 2.0, 4.0, 5.0, 7.5, 3.0]
    root = _workspace(cli, tmp_path, 6, 10, durations)
    _import(cli, root, tmp_path, [
        [1] * 7 + [2] * 3,        # 7 happy: single, 0-2s
        [1] * 6 + [2] * 4,        # 6 happy: not single
        [7] * 10,                 # fear, 2-5s
        [5] * 8 + [7] * 2,        # surprise, 5s+ (exactly 5 s)
        [1] * 9 + [3],            # happy, 5s+
        [2] * 9,                  # 9 votes: sad (9 of 9 > 60 %), 2-5s
    ])
    result = cli("-w", root, "labels", "--json", "--output", tmp_path / "labels.csv")
    view = json.loads(result.stdout)
    assert (view["clips_used"], view["single_labelled"]) == (6, 5)
    assert view["vote_counts"] == {"9": 1, "10": 5}
    assert view["single_labelled_by_vote_count"] == {"9": 1, "10": 4}
    assert view["votes_needed"] == {"9": 6, "10": 7}
    rows = {row["emotion"]: row for row in view["table2"]}
    assert rows["happy"] == {"emotion": "happy", "code": 1, "0-2s": 1, "2-5s": 0, "5s+": 1,
                             "total": 2, "percent": 40.0}
    assert rows["fear"]["2-5s"] == 1 and rows["surprise"]["5s+"] == 1
    assert rows["sad"]["2-5s"] == 1
    assert rows["Total"] == {"emotion": "Total", "code": None, "0-2s": 1, "2-5s": 2, "5s+": 2,
                             "total": 5, "percent": 100.0}
    assert (tmp_path / "labels.csv").read_text() == "clip_id,label\n1,1\n3,7\n4,5\n5,1\n6,2\n"
    text = cli("-w", root, "labels", "--threshold", "5").stdout.splitlines()
    assert text[:2] == [
        "single-labelled: 6 of 6 clips (100.00 %), more than 5 of 10 votes for one emotion "
        "(more than 50 % of its counted votes)",
        "counted votes per clip: 9 votes: 1 clip, 10 votes: 5 clips; a single label needs at "
        "least 5 of 9, 6 of 10 votes for one emotion"]
    assert text[4].split() == ["happy", "1", "1", "1", "3", "50.00"]
    bad = cli("-w", root, "labels", "--threshold", "10")
    assert bad.stderr == ("Error: --threshold 10 leaves no clip single-labelled: a label needs "
                          "more than 10 of the 10 votes; use a threshold below 10 (DFEW: 6 of "
                          "10)\n")
    single = _kappa(cli, root, "--subset", "single")
    assert (single["N"], single["not_single_labelled"], single["threshold"]) == (5, 1, 6)


def test_labels_demo_report_and_annotators(cli, tmp_path):
    root = _workspace(cli, tmp_path, 40, 0)
    workspace = open_workspace(root)
    summary = run_labels_demo(workspace, seed=3)
    assert summary["simulated"] and summary["import"]["imported"] == 400
    assert summary["clips"] == 40 and 0 < summary["kappa"] < 1
    reports = root / "reports"
    assert summary["report"] == str(reports / "report.md")
    for name in ("report.md", "report.html", "emotion_distribution.png", "vote_entropy.png",
                 "annotator_agreement.png", "annotator_confusion.png"):
        assert (reports / name).stat().st_size > 0, name
    assert (reports / "annotator_confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = run_labels_demo(workspace, seed=3)
    assert again["simulated_rows"] == 0  # every clip has its 10 votes: nothing to add
    assert again["import"]["imported"] == 0 and again["clips"] == 40
    assert again["kappa"] == summary["kappa"]
    workspace.close()

    people = json.loads(cli("-w", root, "annotators", "--json").stdout)
    names = [a["annotator"] for a in people["annotators"]]
    assert names == [f"simulated-annotator-{i:02d}" for i in range(1, 13)]
    assert sum(a["votes"] for a in people["annotators"]) == 400
    table = cli("-w", root, "annotators").stdout.splitlines()
    assert table[0].split() == ["annotator", "votes", "loo_agreement", "ds_accuracy",
                                "top_confusion", "flags", "gold_voted", "gold_correct",
                                "gold_accuracy"]

    out = tmp_path / "elsewhere"
    result = cli("-w", root, "report", out)
    assert result.stdout == f"wrote {out / 'report.md'} and {out / 'report.html'} (4 figures)\n"
    markdown = (out / "report.md").read_text()
    for heading in ("## Agreement (Fleiss' kappa)", "## Single-labelled subset (DFEW Table 2)",
                    "## Annotator quality", "![Confusion matrices](annotator_confusion.png)"):
        assert heading in markdown
    assert "<table>" in (out / "report.html").read_text()
    tables = [block for block in markdown.split("\n\n") if block.startswith("| ")]
    assert len(tables) == 4  # kappa all, kappa single, Table 2, annotators
    for table in tables:
        assert_aligned(table)  # raw Markdown reads as a table (issue 17 item 6)
    # No OUT_DIR: WS/reports, where the demo writes it (issue 17).
    (reports / "report.md").unlink()
    default = cli("-w", root, "report")
    assert default.exit_code == 0 and default.stdout.startswith(f"wrote {reports / 'report.md'}")
    assert (reports / "report.md").is_file()
