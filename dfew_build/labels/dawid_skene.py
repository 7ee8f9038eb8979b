"""Dawid & Skene (1979): each worker's confusion matrix and each task's true label, by EM.

In the style of crowd-kit's aggregators (DESIGN.md §10 rule 6): hyper-parameters in the
constructor, `fit(df) -> self`, fitted attributes end in `_`, input columns `task`,
`worker`, `label`. crowd-kit itself is not used: it pulls in transformers, nltk and
huggingface_hub and pins click, which this project does not want for one EM loop.

Model: a task's true label t has prior pi_t; worker w answers l with probability
e_w[t, l] whatever the task. EM alternates the posterior over t for every task (E) and
the priors and confusion matrices from the posteriors (M), starting from the majority
vote's label shares (ties split). `smoothing` adds that many pseudo-answers per cell of
every confusion row, so a worker who never saw some true label gets a uniform row rather
than a division by zero, and log(0) never occurs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dfew_build.errors import LabelsError


class DawidSkene:
    """Dawid-Skene aggregation.

    Fitted attributes:
      labels_       Series task -> most probable true label.
      probas_       DataFrame task x label: posterior of the true label.
      priors_       Series label -> prior probability.
      errors_       DataFrame indexed by (worker, true label), columns the answered label:
                    row (w, t) is P(w answers l | the truth is t), summing to 1.
      loss_history_ list of the mean log-likelihood per answer after each iteration.
      n_iter_       iterations run.
    """

    def __init__(self, n_iter: int = 100, tol: float = 1e-6, smoothing: float = 0.01,
                 labels=None):
        if n_iter < 1:
            raise LabelsError(f"n_iter must be at least 1, not {n_iter}")
        if not smoothing > 0:
            raise LabelsError(f"smoothing must be > 0 (it keeps log(0) out), not {smoothing}")
        self.n_iter = n_iter
        self.tol = tol
        self.smoothing = smoothing
        self.labels = labels  # the label set (default: the labels seen), fixes the order

    def fit(self, data: pd.DataFrame) -> "DawidSkene":
        missing = {"task", "worker", "label"} - set(data.columns)
        if missing:
            raise LabelsError(f"Dawid-Skene needs columns task, worker, label; missing "
                              f"{', '.join(sorted(missing))}")
        data = data[["task", "worker", "label"]].drop_duplicates(["task", "worker"])
        task_index, tasks = pd.factorize(data["task"], sort=True)
        worker_index, workers = pd.factorize(data["worker"], sort=True)
        labels = (pd.Index(self.labels) if self.labels is not None
                  else pd.Index(np.sort(data["label"].unique())))
        label_index = labels.get_indexer(data["label"])
        if (label_index < 0).any():
            unknown = data["label"][label_index < 0].iloc[0]
            raise LabelsError(f"label {unknown} is not in the label set {labels.tolist()}")
        T, W, K = len(tasks), len(workers), len(labels)
        if T == 0:
            raise LabelsError("Dawid-Skene needs at least one answer")

        probas = self._majority(task_index, label_index, T, K)
        history: list[float] = []
        for iteration in range(1, self.n_iter + 1):
            priors, errors = self._m_step(probas, task_index, worker_index, label_index, W, K)
            probas, loglik = self._e_step(priors, errors, task_index, worker_index,
                                          label_index, T, K)
            history.append(loglik / len(task_index))
            if len(history) > 1 and abs(history[-1] - history[-2]) < self.tol:
                break
        priors, errors = self._m_step(probas, task_index, worker_index, label_index, W, K)

        self.n_iter_ = iteration
        self.loss_history_ = history
        self.priors_ = pd.Series(priors, index=labels, name="prior")
        self.probas_ = pd.DataFrame(probas, index=pd.Index(tasks, name="task"), columns=labels)
        self.labels_ = pd.Series(labels[probas.argmax(axis=1)], index=self.probas_.index,
                                 name="label")
        index = pd.MultiIndex.from_product([workers, labels], names=["worker", "label"])
        self.errors_ = pd.DataFrame(errors.reshape(W * K, K), index=index, columns=labels)
        return self

    def fit_predict(self, data: pd.DataFrame) -> pd.Series:
        return self.fit(data).labels_

    @staticmethod
    def _majority(task_index, label_index, T, K) -> np.ndarray:
        counts = np.zeros((T, K))
        np.add.at(counts, (task_index, label_index), 1)
        top = counts == counts.max(axis=1, keepdims=True)
        return top / top.sum(axis=1, keepdims=True)

    def _m_step(self, probas, task_index, worker_index, label_index, W, K):
        priors = probas.mean(axis=0)
        # errors[w, t, l] = smoothing + sum over w's answers l of P(task truth = t)
        errors = np.full((W, K, K), float(self.smoothing))
        cell = worker_index * K + label_index
        for t in range(K):
            errors[:, t, :] += np.bincount(cell, weights=probas[task_index, t],
                                           minlength=W * K).reshape(W, K)
        totals = errors.sum(axis=2, keepdims=True)
        errors = np.divide(errors, totals, out=np.full_like(errors, 1.0 / K),
                           where=totals > 0)
        return priors, errors

    @staticmethod
    def _e_step(priors, errors, task_index, worker_index, label_index, T, K):
        with np.errstate(divide="ignore"):
            log_errors = np.log(errors)
            log_post = np.tile(np.log(priors), (T, 1))
        for t in range(K):
            log_post[:, t] += np.bincount(task_index,
                                          weights=log_errors[worker_index, t, label_index],
                                          minlength=T)
        top = log_post.max(axis=1, keepdims=True)
        post = np.exp(log_post - top)
        norm = post.sum(axis=1, keepdims=True)
        loglik = float((np.log(norm) + top).sum())
        return post / norm, loglik
