"""Label-distribution learning on the workspace's real vote distributions (issue 19).

The target of ``--ldl`` (and of ``--loss ldl``) is each clip's normalised vector of
*counted* votes: ``dfew_build.labels.matrix.vote_matrix``, which leaves out retired clips and
the votes of excluded annotators. These tests change the campaign (one annotator excluded,
one clip retired, uneven votes), then follow the votes from the database to the loss.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from sqlalchemy import select

import dfew_build.bench.losses as losses
from dfew_build.bench.config import TrainConfig
from dfew_build.bench.data import VOTE_COLUMNS, load_labelled_clips
from dfew_build.bench.motion import fill_workspace
from dfew_build.bench.protocol import dry_run
from dfew_build.clips.library import retire_clip
from dfew_build.db.models import Person, Run
from dfew_build.labels.matrix import vote_matrix
from dfew_build.people import exclude


@pytest.fixture
def campaign(workspace):
    """28 clips of 16×16 px in two folds, 10 votes each (8 for the clip's emotion), then
    annotator 01 excluded and the first clip retired."""
    info = fill_workspace(workspace, None, per_class=4, size=16, k=2, seed=3)
    with workspace.session() as session:
        before = vote_matrix(session)
        exclude(session, "motion-rater-01", "test: a spammer")
        retire_clip(session, info["clip_ids"][0], "test: no face")
    return workspace, info, before


def test_targets_are_the_counted_vote_distributions(campaign):
    workspace, info, before = campaign
    table = load_labelled_clips(workspace, "default")
    with workspace.session() as session:
        counted = vote_matrix(session)
    retired = info["clip_ids"][0]
    assert retired not in table.index and retired not in counted.index
    votes = table[VOTE_COLUMNS].to_numpy()
    assert np.array_equal(votes, counted.reindex(table.index).to_numpy())
    assert (votes.sum(axis=1) == 9).all()                    # 10 votes, one excluded
    assert not np.array_equal(votes, before.reindex(table.index).to_numpy())
    assert (votes > 0).sum(axis=1).max() >= 2                # real distributions, not one-hot


def test_the_loss_receives_each_clips_normalised_counted_votes(campaign, monkeypatch):
    workspace, info, _before = campaign
    seen = []
    original = losses.vote_distribution

    def spy(votes, logits):
        target = original(votes, logits)
        seen.append(target.detach().clone())
        return target

    monkeypatch.setattr(losses, "vote_distribution", spy)
    config = TrainConfig(model="lfer_ldl", loss="combo", ldl=True, size=16, input="tensors",
                         model_kwargs={"channels": (8, 32, 32, 32, 64), "repeats": (1, 1, 1)})
    out = dry_run(workspace, config)
    assert out["loss_name"] == "combo+ldl"
    assert {"wbce", "dice", "kl"} <= set(out)
    # dry_run's batch: the first two training clips (fold ≠ 1), in clip order
    table = load_labelled_clips(workspace, "default")
    first = table[table["fold"] != 1].iloc[:2]
    expected = first[VOTE_COLUMNS].to_numpy() / first[VOTE_COLUMNS].to_numpy().sum(1, keepdims=True)
    assert torch.allclose(seen[0], torch.tensor(expected, dtype=torch.float32))


def test_train_combo_with_ldl_through_the_cli(cli, campaign):
    workspace, _info, _before = campaign
    result = cli("-w", workspace.root, "train", "--model", "lfer_ldl", "--loss", "combo",
                 "--ldl", "--size", "16", "--epochs", "1", "--workers", "0",
                 "--batch-size", "8", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["run"].startswith("lfer_ldl-combo-ldl-fold1-") and out["loss"] == "combo+ldl"
    run = workspace.runs_dir / out["run"]
    config = json.loads((run / "config.json").read_text())
    assert config["loss"] == "combo" and config["ldl"] is True and config["ldl_weight"] is None
    # LFER-LDL's recipe is the default for its model (SGD 0.01, step ×0.1 every 30 epochs)
    assert (config["optimizer"], config["lr"], config["scheduler"], config["lr_step"]) == \
        ("sgd", 0.01, "step", 30)
    history = pd.read_csv(run / "metrics.csv")
    assert {"train_wbce", "train_dice", "train_kl"} <= set(history.columns)
    assert np.isfinite(history["train_kl"]).all() and (history["train_kl"] > 0).all()
    with workspace.session() as session:
        row = session.scalars(select(Run).where(Run.name == out["run"])).one()
        assert row.loss == "combo+ldl"


def test_ldl_flags_are_refused_with_their_fix(cli, campaign):
    workspace, _info, _before = campaign
    result = cli("-w", workspace.root, "train", "--model", "c3d", "--loss", "ldl", "--ldl",
                 "--dry-run")
    assert result.exit_code == 1
    assert result.output == ("Error: --loss ldl already is the KL divergence to the vote "
                             "distribution; --ldl adds it to another loss (e.g. --loss combo "
                             "--ldl)\n")
    result = cli("-w", workspace.root, "train", "--model", "c3d", "--ldl-weight", "2",
                 "--dry-run")
    assert result.output == "Error: --ldl-weight applies with --ldl only\n"


def test_an_excluded_annotator_changes_the_target_not_the_label(campaign):
    workspace, _info, _before = campaign
    with workspace.session() as session:
        person = session.scalars(select(Person).where(Person.name == "motion-rater-01")).one()
        assert person.excluded_at is not None
    table = load_labelled_clips(workspace, "default")
    # 7 of 9 counted votes agree: every clip keeps its single label (l_k / n_i > 6 / 10)
    assert (table[VOTE_COLUMNS].to_numpy().argmax(axis=1) == table["label"].to_numpy()).all()
