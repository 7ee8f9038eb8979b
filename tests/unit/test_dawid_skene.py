"""Dawid-Skene on votes with a planted spammer and a planted fear/surprise swap."""

import numpy as np
import pandas as pd
import pytest

from dfew_build.errors import LabelsError
from dfew_build.labels.dawid_skene import DawidSkene

FEAR, SURPRISE = 7, 5


def planted_votes(seed: int = 0, tasks: int = 700) -> tuple[pd.DataFrame, pd.Series]:
    """6 honest workers (80 % right), a spammer (uniform answers) and a swapper (honest, but
    answers surprise for fear and fear for surprise); 7 of the 8 vote on each task."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, 8, tasks)
    rows = []
    workers = [f"honest{i}" for i in range(6)] + ["spammer", "swapper"]
    for task, true in enumerate(truth):
        for worker in rng.permutation(workers)[:7]:
            if worker == "spammer":
                label = int(rng.integers(1, 8))
            else:
                label = true if rng.random() < 0.8 else int(rng.integers(1, 8))
                if worker == "swapper" and label in (FEAR, SURPRISE):
                    label = SURPRISE if label == FEAR else FEAR
            rows.append((task, worker, label))
    data = pd.DataFrame(rows, columns=["task", "worker", "label"])
    return data, pd.Series(truth, index=range(tasks))


def test_finds_the_spammer_and_the_swap():
    data, truth = planted_votes()
    model = DawidSkene(labels=range(1, 8)).fit(data)
    assert model is not None and model.n_iter_ >= 2
    errors = model.errors_
    assert errors.index.names == ["worker", "label"]
    assert np.allclose(errors.sum(axis=1), 1)
    spammer = errors.loc["spammer"].to_numpy()
    assert spammer.max() < 0.3 and np.diag(spammer).mean() < 0.2      # rows ~ uniform (1/7)
    assert errors.loc[("swapper", FEAR), SURPRISE] > 0.7
    assert errors.loc[("swapper", SURPRISE), FEAR] > 0.7
    assert errors.loc[("swapper", FEAR), FEAR] < 0.1
    honest = np.mean([np.diag(errors.loc[f"honest{i}"].to_numpy()).mean() for i in range(6)])
    assert honest > 0.75
    # Knowing the swap and the spammer, DS recovers the truth better than the majority vote.
    majority = data.groupby("task")["label"].agg(lambda s: s.value_counts().idxmax())
    assert (model.labels_ == truth).mean() > (majority == truth).mean()
    assert (model.labels_ == truth).mean() > 0.97
    assert np.allclose(model.probas_.sum(axis=1), 1)
    assert model.priors_.sum() == pytest.approx(1)
    assert all(b >= a - 1e-9 for a, b in zip(model.loss_history_, model.loss_history_[1:]))


def test_fit_predict_and_label_set():
    data = pd.DataFrame({"task": [1, 1, 2, 2], "worker": ["a", "b", "a", "b"],
                         "label": [3, 3, 4, 4]})
    assert DawidSkene().fit_predict(data).to_dict() == {1: 3, 2: 4}
    model = DawidSkene(labels=[1, 2, 3, 4]).fit(data)
    assert list(model.probas_.columns) == [1, 2, 3, 4]
    with pytest.raises(LabelsError, match=r"label 4 is not in the label set \[1, 2, 3\]"):
        DawidSkene(labels=[1, 2, 3]).fit(data)
    with pytest.raises(LabelsError, match="missing worker"):
        DawidSkene().fit(data.drop(columns="worker"))
    with pytest.raises(LabelsError, match="smoothing must be > 0"):
        DawidSkene(smoothing=0)
