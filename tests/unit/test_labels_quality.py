"""Annotator quality: leave-one-out agreement by hand, and the planted spammer and swap found
through the database view (placeholder raters of a DFEW release left out)."""

import numpy as np
import pandas as pd
import pytest

from dfew_build.annotation.votes import import_votes
from dfew_build.db.models import Clip, Person
from dfew_build.labels import render
from dfew_build.labels.quality import annotator_view, leave_one_out_agreement, top_confusion
from tests.unit.test_dawid_skene import planted_votes


def test_leave_one_out_agreement_by_hand():
    votes = pd.DataFrame([
        ("A", "a", 1), ("A", "b", 1), ("A", "c", 2),               # a, b: happy ties sad -> 1/2
        ("B", "a", 1), ("B", "b", 2),                              # each disagrees: 0
        ("C", "a", 3),                                             # alone: not scored
        ("D", "a", 7), ("D", "b", 7), ("D", "c", 7), ("D", "d", 2),
        ("E", "b", 2), ("E", "c", 2), ("E", "d", 2),
        ("F", "a", 1), ("F", "b", 2), ("F", "c", 3), ("F", "d", 1),  # a: 1 of 3 tied -> 1/3
    ], columns=["task", "worker", "label"])
    result = leave_one_out_agreement(votes)
    assert result.loc["a", "votes"] == 5 and result.loc["a", "scored"] == 4
    assert result.loc["a", "agreement"] == pytest.approx((0.5 + 0 + 1 + 1 / 3) / 4)
    assert result.loc["b", "agreement"] == pytest.approx((0.5 + 0 + 1 + 1 + 0) / 5)
    assert result.loc["c", "agreement"] == pytest.approx((0 + 1 + 1 + 0) / 4)
    assert result.loc["d", "agreement"] == pytest.approx((0 + 1 + 1 / 3) / 3)


def test_view_flags_the_spammer_and_the_swap_and_hides_placeholders(workspace, tmp_path):
    data, _ = planted_votes(tasks=400)
    data["task"] += 1
    # A placeholder rater from a DFEW release votes like an honest annotator.
    placeholder = data[data["worker"] == "honest0"].assign(worker="dfew-release:rater-01")
    data = pd.concat([data, placeholder])
    with workspace.session() as session:
        for task in data["task"].unique():
            session.add(Clip(id=int(task), start_s=0.0, end_s=3.0, duration_s=3.0))
        for name in data["worker"].unique():
            session.add(Person(name=name, role="annotator"))
    csv_path = tmp_path / "votes.csv"
    data.rename(columns={"task": "clip_id", "worker": "annotator", "label": "emotion"}).to_csv(
        csv_path, index=False)
    with workspace.session() as session:
        assert import_votes(session, csv_path).imported == len(data)
    with workspace.session() as session:
        view = annotator_view(session)
    by_name = {a["annotator"]: a for a in view["annotators"]}
    assert sorted(by_name) == [f"honest{i}" for i in range(6)] + ["spammer", "swapper"]
    assert view["excluded_placeholders"] == 1
    assert by_name["spammer"]["flags"] == ["spammer: answers hardly depend on the clip"]
    swap = by_name["swapper"]
    assert [f.split(" (")[0] for f in swap["flags"]] == ["says fear for surprise",
                                                         "says surprise for fear"]
    assert {swap["top_confusion"]["true"], swap["top_confusion"]["said"]} == {"fear",
                                                                            "surprise"}
    assert all(not by_name[f"honest{i}"]["flags"] for i in range(6))
    assert by_name["spammer"]["loo_agreement"] < 0.25 < by_name["honest1"]["loo_agreement"]
    assert by_name["spammer"]["ds_accuracy"] < 0.25 < by_name["honest1"]["ds_accuracy"]
    assert len(swap["confusion"]) == 7 and all(len(row) == 7 for row in swap["confusion"])


def test_only_placeholders(workspace, tmp_path):
    with workspace.session() as session:
        session.add(Clip(id=1, start_s=0.0, end_s=3.0, duration_s=3.0))
        session.add(Person(name="dfew-release:rater-01", role="annotator", active=False))
    csv_path = tmp_path / "v.csv"
    csv_path.write_text("clip_id,annotator,emotion\n1,dfew-release:rater-01,1\n")
    with workspace.session() as session:
        import_votes(session, csv_path)
        view = annotator_view(session)
    assert view["annotators"] == []
    assert view["note"] == ("no votes by real annotators yet (the 1 'dfew-release:*' "
                            "placeholder raters of a DFEW release import are not people)")


def _store_votes(workspace, tmp_path, rows):
    data = pd.DataFrame(rows, columns=["clip_id", "annotator", "emotion"])
    with workspace.session() as session:
        for clip in data["clip_id"].unique():
            session.add(Clip(id=int(clip), start_s=0.0, end_s=3.0, duration_s=3.0))
        for name in data["annotator"].unique():
            session.add(Person(name=name, role="annotator"))
    data.to_csv(tmp_path / "votes.csv", index=False)
    with workspace.session() as session:
        import_votes(session, tmp_path / "votes.csv")
        return annotator_view(session)


def test_top_confusion_finds_a_real_confusion_on_few_clips(workspace, tmp_path):
    """Issue 17 item 5: `ann` is right on every clip of the emotions she saw often, and says
    neutral for one of the 4 happy clips. The old rule (rows with support >= 5 only) printed
    'neutral -> happy (0.00)', a smoothing artefact; the real confusion is happy -> neutral,
    1 of 4."""
    truth = {clip: 1 for clip in range(1, 5)}                       # 4 happy clips
    truth.update({clip: 3 for clip in range(5, 15)})                # 10 neutral
    truth.update({clip: 2 for clip in range(15, 25)})               # 10 sad
    rows = [(clip, f"honest{i}", code) for clip, code in truth.items() for i in range(4)]
    rows += [(clip, "ann", 3 if clip == 1 else code) for clip, code in truth.items()]
    view = _store_votes(workspace, tmp_path, rows)
    ann = next(a for a in view["annotators"] if a["annotator"] == "ann")
    top = ann["top_confusion"]
    assert (top["true"], top["said"], top["well_supported"]) == ("happy", "neutral", False)
    assert top["probability"] == pytest.approx(0.25, abs=0.01)
    assert top["support"] == pytest.approx(4.0, abs=0.1)
    assert render.confusion_text(top) == "happy -> neutral (0.25 of 4 clips)"
    row = next(r for r in render.annotator_rows(view) if r["annotator"] == "ann")
    assert row["top_confusion"] == "happy -> neutral (0.25 of 4 clips)" and row["flags"] == ""
    # Honest annotators made no confusion at all: nothing is reported, not a 0.00.
    assert all(a["top_confusion"] is None for a in view["annotators"] if a["annotator"] != "ann")


def test_top_confusion_prefers_well_supported_rows_and_never_reports_smoothing():
    # Dawid-Skene smoothing: 0.01 pseudo-votes per cell, so on 50 clips 0.0002 per cell.
    eye = np.eye(7) * 0.9986 + 0.0002                  # rows sum to 1
    support = np.array([4.0, 50, 50, 50, 0, 0, 0])
    errors = eye.copy()
    errors[0] = [0.70, 0, 0.30, 0, 0, 0, 0]            # happy -> neutral, 0.30 of 4 clips
    errors[1] = [0.02, 0.90, 0.08, 0, 0, 0, 0]         # sad -> neutral, 0.08 of 50 clips
    top = top_confusion(errors, support)
    assert (top["true"], top["said"], top["well_supported"]) == ("sad", "neutral", True)
    assert top["votes"] == pytest.approx(4.0)
    errors[1] = eye[1]                                 # 0.01 * 50 = 0.5 votes: smoothing-sized
    errors[1, 2] = 0.009                               # 0.45 votes: not a real confusion
    top = top_confusion(errors, support)
    assert (top["true"], top["said"], top["well_supported"]) == ("happy", "neutral", False)
    assert top_confusion(np.eye(7) * 0.99 + 0.01 / 7, np.full(7, 20.0)) is None
    assert render.confusion_text({"true": "sad", "said": "fear", "probability": 0.003,
                                  "support": 400.0}) == "sad -> fear (<0.01 of 400 clips)"


def test_flags_column_in_the_table(workspace, tmp_path):
    view = {"annotators": [{"annotator": "bo", "votes": 3, "loo_agreement": 0.1,
                            "ds_accuracy": 0.2, "top_confusion": None,
                            "flags": ["spammer: answers hardly depend on the clip"]},
                           {"annotator": "cy", "votes": 3, "loo_agreement": 0.1,
                            "ds_accuracy": 0.2, "top_confusion": None,
                            "flags": ["says fear for surprise (0.80 vs 0.10)",
                                      "says surprise for fear (0.70 vs 0.20)"]}]}
    rows = render.annotator_rows(view)
    assert "flags" in render.ANNOTATOR_COLUMNS
    assert rows[0]["flags"] == "spammer: answers hardly depend on the clip"
    assert rows[1]["flags"] == ("says fear for surprise (0.80 vs 0.10); "
                                "says surprise for fear (0.70 vs 0.20)")
