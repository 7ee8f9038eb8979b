"""Annotator quality: leave-one-out agreement by hand, and the planted spammer and swap found
through the database view (placeholder raters of a DFEW release left out)."""

import pandas as pd
import pytest

from dfew_build.annotation.votes import import_votes
from dfew_build.db.models import Clip, Person
from dfew_build.labels.quality import annotator_view, leave_one_out_agreement
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
