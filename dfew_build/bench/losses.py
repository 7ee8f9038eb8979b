"""Training losses of the DFEW benchmark (DESIGN.md §8): ``ce``, ``center``, ``ecstfl``, ``ldl``.

Every loss is built by :func:`create_loss` and called the same way::

    loss_fn = create_loss("ecstfl", num_classes=7, feature_dim=model.feature_dim)
    features = model.forward_features(clips)          # [B, D], penultimate features
    logits = model.head(features)                     # [B, C]
    total, parts = loss_fn(logits, features, labels, votes=None)
    total.backward()

``labels`` are class indices ``[B]`` (int64, 0-based); ``votes`` are the clips' vote
counts ``[B, C]`` (only ``ldl`` needs them). ``parts`` maps the name of every term to
its *unweighted* value, detached, for logging (``ce``, ``center``, ``ecstfl``, ``kl``).

``center`` owns learnable parameters (the class centres): the trainer must put
``loss_fn.parameters()`` in the optimiser (and move ``loss_fn`` to the device) too.

The feature terms are computed in float32 whatever the features' dtype (AMP).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

LOSSES = ("ce", "center", "ecstfl", "ldl")

#: Default trade-off coefficients λ (DFEW §4.1: EC-STFL 10, center loss 1e-4 after Wen et al.)
DEFAULT_LAMBDA = {"center": 1e-4, "ecstfl": 10.0}


def list_losses() -> list[str]:
    """Names accepted by :func:`create_loss`."""
    return list(LOSSES)


def _check_logits(logits: torch.Tensor, num_classes: int) -> None:
    if logits.dim() != 2 or logits.shape[1] != num_classes:
        raise ValueError(
            f"logits must have shape [B, {num_classes}], got {list(logits.shape)}"
        )


def _check_features(features: torch.Tensor, feature_dim: int, batch: int) -> None:
    if features is None:
        raise ValueError("this loss needs the penultimate features; got features=None")
    if features.dim() != 2 or features.shape != (batch, feature_dim):
        raise ValueError(
            f"features must have shape [{batch}, {feature_dim}], got {list(features.shape)}"
        )


class CrossEntropyLoss(nn.Module):
    """``ce``: softmax cross-entropy, mean over the batch. parts: ``ce``."""

    name = "ce"
    needs_votes = False

    def __init__(self, num_classes: int, feature_dim: int | None = None):
        super().__init__()
        self.num_classes = num_classes
        self.feature_dim = feature_dim

    def forward(self, logits, features, labels, votes=None):
        _check_logits(logits, self.num_classes)
        ce = F.cross_entropy(logits.float(), labels)
        return ce, {"ce": ce.detach()}


class CenterLoss(nn.Module):
    """``center``: cross-entropy + λ · center loss (Wen et al., ECCV 2016).

    With one learnable centre ``c_k`` per class (``self.centers``, an ``nn.Parameter``
    of shape ``[num_classes, feature_dim]``, initialised N(0, 1)) and a batch of B
    penultimate features ``f_i`` with labels ``y_i``::

        L_center = ½ · (1/B) · Σ_i ‖f_i − c_{y_i}‖²₂        (squared Euclidean, batch mean)
        L        = L_ce + λ · L_center,                      λ = 1e-4 by default

    i.e. Wen et al.'s ``½ Σ_i ‖x_i − c_{y_i}‖²`` averaged over the batch instead of
    summed. The centres are learned by gradient descent on L together with the network
    (the usual PyTorch formulation), not by Wen et al.'s separate moving-average rule
    with rate α; since ∂L/∂c_k carries the factor λ/B, a trainer that wants centres to
    move at Wen's pace gives them their own parameter group with a larger learning
    rate (e.g. lr_centres = α / λ). parts: ``ce``, ``center``.
    """

    name = "center"
    needs_votes = False

    def __init__(self, num_classes: int, feature_dim: int, lambda_: float = 1e-4):
        super().__init__()
        self.num_classes = num_classes
        self.feature_dim = feature_dim
        self.lambda_ = float(lambda_)
        self.centers = nn.Parameter(torch.randn(num_classes, feature_dim))

    def center_term(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        diff = features.float() - self.centers.float()[labels]
        return 0.5 * diff.pow(2).sum(dim=1).mean()

    def forward(self, logits, features, labels, votes=None):
        _check_logits(logits, self.num_classes)
        _check_features(features, self.feature_dim, logits.shape[0])
        ce = F.cross_entropy(logits.float(), labels)
        center = self.center_term(features, labels)
        total = ce + self.lambda_ * center
        return total, {"ce": ce.detach(), "center": center.detach()}


def ecstfl_term(features: torch.Tensor, labels: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """The EC-STFL loss of DFEW's equation 9 on one mini-batch.

    With n samples, penultimate features x_i and labels y_i, let 𝒩{x_i} be the set of
    batch samples with the same label as x_i (x_i itself included) and N_{x_i} = |𝒩{x_i}|.
    Over all ordered pairs (i, j), 1 ≤ i, j ≤ n::

                      Σ_{(i,j): y_j = y_i}  ‖x_i − x_j‖₂ / N_{x_i}
        L_EC-STFL =  ───────────────────────────────────────────────
                      Σ_{(i,j): y_j ≠ y_i}  ‖x_i − x_j‖₂ / N_{x_j}

    Distances are plain (not squared) Euclidean norms, as in the paper's
    φ(x_i, x_j) = ‖x_i − x_j‖. One ratio per batch (not a mean of per-sample ratios).
    The pairs (i, i) are in the numerator's sum and add 0. The weights make each class
    weigh the same however many samples it has in the batch (the paper's dynamic
    weights against class imbalance). Because the sums run over *ordered* pairs and
    ‖x_i − x_j‖ is symmetric, weighting the denominator by 1/N_{x_j} (the paper) or by
    1/N_{x_i} gives the same value; the code follows the paper's wording.

    Edge cases:

    * a batch with a single class has no different-label pair: the loss "has no
      meaning" (paper) and this returns a constant 0 with no autograd history, so it
      contributes no gradient;
    * ‖·‖ is not differentiable at 0: zero distances (i = i, duplicate features)
      contribute 0 with a 0 gradient instead of NaN;
    * the denominator is clamped at ``eps``. With at least two classes it can only be
      0 when all features coincide, and then the numerator is 0 too: the loss is 0.

    Computed in float32 (float64 features stay float64).
    """
    if features.dim() != 2:
        raise ValueError(f"features must be [B, D], got {list(features.shape)}")
    labels = labels.reshape(-1)
    if labels.shape[0] != features.shape[0]:
        raise ValueError(
            f"{labels.shape[0]} labels for {features.shape[0]} feature vectors"
        )
    same = labels[:, None] == labels[None, :]
    different = ~same
    if not bool(different.any()):
        dtype = torch.float64 if features.dtype == torch.float64 else torch.float32
        return torch.zeros((), dtype=dtype, device=features.device)
    x = features if features.dtype == torch.float64 else features.float()
    sq = (x[:, None, :] - x[None, :, :]).pow(2).sum(dim=-1)  # [n, n] squared distances
    nonzero = sq > 0
    dist = torch.where(nonzero, sq.clamp_min(torch.finfo(sq.dtype).tiny).sqrt(),
                       torch.zeros_like(sq))
    counts = same.sum(dim=1).to(x.dtype)  # N_{x_i}
    numerator = (dist * same).sum(dim=1).div(counts).sum()          # weight 1/N_{x_i}
    denominator = (dist * different).div(counts[None, :]).sum()     # weight 1/N_{x_j}
    return numerator / denominator.clamp_min(eps)


class ECSTFLLoss(nn.Module):
    """``ecstfl``: joint supervision L = L_ce + λ · L_EC-STFL, λ = 10 (DFEW §3.3, §4.1).

    L_EC-STFL is :func:`ecstfl_term` (the paper's equation 9) on the penultimate
    features. When the batch holds a single class the term is 0 and gives no gradient;
    the cross-entropy still trains on that batch. parts: ``ce``, ``ecstfl``.
    """

    name = "ecstfl"
    needs_votes = False

    def __init__(self, num_classes: int, feature_dim: int, lambda_: float = 10.0):
        super().__init__()
        self.num_classes = num_classes
        self.feature_dim = feature_dim
        self.lambda_ = float(lambda_)

    def forward(self, logits, features, labels, votes=None):
        _check_logits(logits, self.num_classes)
        _check_features(features, self.feature_dim, logits.shape[0])
        ce = F.cross_entropy(logits.float(), labels)
        term = ecstfl_term(features, labels)
        total = ce + self.lambda_ * term
        return total, {"ce": ce.detach(), "ecstfl": term.detach()}


class LabelDistributionLoss(nn.Module):
    """``ldl``: KL divergence from the clip's vote distribution to the softmax output.

    With votes v_i (the counts of the C emotions among the clip's annotators, e.g. ten
    votes) and predicted distribution q_i = softmax(z_i)::

        p_i = v_i / Σ_k v_ik
        L   = (1/B) · Σ_i KL(p_i ‖ q_i) = (1/B) · Σ_i Σ_k p_ik · (log p_ik − log q_ik)

    with 0 · log 0 = 0 (``F.kl_div(log_softmax(z), p, reduction="batchmean")``). The
    labels are not used. parts: ``kl``.
    """

    name = "ldl"
    needs_votes = True

    def __init__(self, num_classes: int, feature_dim: int | None = None):
        super().__init__()
        self.num_classes = num_classes
        self.feature_dim = feature_dim

    def forward(self, logits, features, labels, votes=None):
        _check_logits(logits, self.num_classes)
        if votes is None:
            raise ValueError("the 'ldl' loss needs the clips' vote vectors (votes=None given)")
        if votes.shape != logits.shape:
            raise ValueError(
                f"votes must have shape {list(logits.shape)} (one count per emotion), "
                f"got {list(votes.shape)}"
            )
        votes = votes.to(device=logits.device, dtype=torch.float32)
        totals = votes.sum(dim=1, keepdim=True)
        if bool((votes < 0).any()) or bool((totals <= 0).any()):
            raise ValueError("every clip's vote vector must be non-negative with at least one vote")
        target = votes / totals
        kl = F.kl_div(F.log_softmax(logits.float(), dim=1), target, reduction="batchmean")
        return kl, {"kl": kl.detach()}


def create_loss(name: str, num_classes: int = 7, feature_dim: int | None = None,
                lambda_: float | None = None) -> nn.Module:
    """Build the loss ``name`` (``ce``, ``center``, ``ecstfl`` or ``ldl``).

    ``feature_dim`` (the model's ``feature_dim``) is required by ``center`` and
    ``ecstfl``. ``lambda_`` is their trade-off coefficient (defaults: center 1e-4,
    ecstfl 10); ``ce`` and ``ldl`` have none and refuse one. Unknown names and invalid
    values raise ``ValueError``.
    """
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; known losses: {', '.join(LOSSES)}")
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    if name in ("ce", "ldl"):
        if lambda_ is not None:
            raise ValueError(f"the {name!r} loss has no trade-off coefficient; "
                             f"lambda applies to 'center' and 'ecstfl' only")
        cls = CrossEntropyLoss if name == "ce" else LabelDistributionLoss
        return cls(num_classes, feature_dim)
    if not isinstance(feature_dim, int) or feature_dim < 1:
        raise ValueError(f"the {name!r} loss needs feature_dim (the model's feature_dim), "
                         f"got {feature_dim!r}")
    lam = DEFAULT_LAMBDA[name] if lambda_ is None else float(lambda_)
    if not lam >= 0:  # also rejects NaN
        raise ValueError(f"lambda must be >= 0, got {lambda_!r}")
    cls = CenterLoss if name == "center" else ECSTFLLoss
    return cls(num_classes, feature_dim, lam)
