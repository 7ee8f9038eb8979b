"""Training losses of the DFEW benchmark (DESIGN.md §8): ``ce``, ``center``, ``ecstfl``,
``ecstfl_released``, ``ldl``, ``combo`` — and label-distribution learning as a modifier of
any of them (``create_loss(name, ldl=True)``, ``train --loss NAME --ldl``).

Every loss is built by :func:`create_loss` and called the same way::

    loss_fn = create_loss("ecstfl", num_classes=7, feature_dim=model.feature_dim)
    features = model.forward_features(clips)          # [B, D], penultimate features
    logits = model.head(features)                     # [B, C]
    total, parts = loss_fn(logits, features, labels, votes=None)
    total.backward()

``labels`` are class indices ``[B]`` (int64, 0-based); ``votes`` are the clips' vote
counts ``[B, C]`` (only ``ldl`` and the LDL modifier need them: ``loss_fn.needs_votes``).
``parts`` maps the name of every term to its *unweighted* value, detached, for logging
(``ce``, ``center``, ``ecstfl``, ``ecstfl_released``, ``kl``, ``wbce``, ``dice``).

``center`` owns learnable parameters (the class centres): the trainer must put
``loss_fn.parameters()`` in the optimiser (and move ``loss_fn`` to the device) too.

The feature terms are computed in float32 whatever the features' dtype (AMP).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

LOSSES = ("ce", "center", "ecstfl", "ecstfl_released", "ldl", "combo")

#: LFER-LDL's combo loss defaults (§2.4.1): α = 0.5 (equal weights), β = 0.2 (its best on
#: RAF-DB; 0.6 on AffectNet-7), ε = 1 (smoothing).
COMBO_ALPHA, COMBO_BETA, COMBO_EPS = 0.5, 0.2, 1.0

#: Default trade-off coefficients λ (DFEW §4.1: EC-STFL 10, center loss 1e-4 after Wen et al.).
#: The released EC-STFL formula keeps the paper's λ = 10 although its values are about five
#: times smaller on a batch of 32 and shrink as 1/B (see :func:`ecstfl_released_term`).
DEFAULT_LAMBDA = {"center": 1e-4, "ecstfl": 10.0, "ecstfl_released": 10.0}


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


def ecstfl_released_term(features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """EC-STFL as computed by the code the DFEW authors' lab released (not equation 9).

    With B samples x_i (penultimate features), labels y_i and L1 distances
    d_ij = ‖x_i − x_j‖₁, let P_i = {j : y_j = y_i} (x_i itself included, |P_i| = N_{x_i})
    and Q_i = {j : y_j ≠ y_i}. Per sample::

        a_i = Σ_{j∈P_i} d_ij / ((|P_i| − 1) + 1 + 1e-6)        attraction
        r_i = Σ_{j∈Q_i} 1 / (d_ij + 1e-6) / (|Q_i| + 1 + 1e-6)  repulsion

        L   = (1/B) · Σ_i (a_i · r_i / B)                        i.e. mean(a·r) / B

    How the released code's "(count + 1)" reads, pinned by the tests:

    * the **attraction** divides by the number of *other* same-label samples plus one,
      which is |P_i|: the plain mean over the same-label set with x_i's own zero distance
      in it (a sample alone in its class has a_i = 0);
    * the **repulsion** divides by the number of different-label samples **plus one**
      (|Q_i| + 1), so it is *not* a plain mean: it is |Q_i| / (|Q_i| + 1) times the mean
      inverse distance;
    * the inverse distance is 1 / (d + 1e-6): the ``+ 1`` is in the count, never in the
      distance (1 / (d + 1) would be another loss);
    * the 1e-6 guards are kept as released, so values agree to float precision;
    * the final division by B comes *on top of* the mean over the batch, so the loss falls
      as 1/B with the batch size (doubling B by duplicating every sample halves it, up to
      the (|Q_i| + 1) factor), and λ = 10 weighs it differently from equation 9.

    Differences from equation 9 (:func:`ecstfl_term`): L1 instead of L2 distances; a mean
    of per-sample products instead of one ratio of sums; repulsion by *inverse* distances.
    On random B = 32, D = 512, 7-class batches of N(0, 1) features equation 9 gives
    ≈ 0.130 and this ≈ 0.0235, with gradients (w.r.t. the features) at cosine 0.56-0.68.

    A batch with a single class has no different-label pair: r_i = 0 for every sample, the
    released code returns 0 with a zero gradient; this returns a constant 0 with no autograd
    history (the same value and gradient, and no backward pass, as for equation 9).
    Computed in float32 (float64 features stay float64). Shapes: features [B, D], labels [B].
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
    batch = x.shape[0]
    dist = torch.cdist(x, x, p=1)                                     # [B, B] L1 distances
    same_f, different_f = same.to(x.dtype), different.to(x.dtype)
    others_same = same_f.sum(dim=1) - 1                               # same label, not itself
    attraction = (dist * same_f).sum(dim=1) / (others_same + 1 + 1e-6)
    inverse = different_f / (dist + 1e-6)                             # 0 on same-label pairs
    repulsion = inverse.sum(dim=1) / (different_f.sum(dim=1) + 1 + 1e-6)
    return (attraction * repulsion / batch).mean()


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


class ECSTFLReleasedLoss(ECSTFLLoss):
    """``ecstfl_released``: L = L_ce + λ · :func:`ecstfl_released_term`, λ = 10 by default.

    The formula of the EC-STFL code released by the DFEW authors' lab, kept beside the
    paper's equation 9 (``ecstfl``, the default) so that results of both can be
    reproduced. parts: ``ce``, ``ecstfl_released``.
    """

    name = "ecstfl_released"

    def forward(self, logits, features, labels, votes=None):
        _check_logits(logits, self.num_classes)
        _check_features(features, self.feature_dim, logits.shape[0])
        ce = F.cross_entropy(logits.float(), labels)
        term = ecstfl_released_term(features, labels)
        total = ce + self.lambda_ * term
        return total, {"ce": ce.detach(), "ecstfl_released": term.detach()}


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


def vote_distribution(votes: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """The clips' normalised vote vectors p_i = v_i / Σ_k v_ik ``[B, C]`` (float32, on the
    logits' device); ValueError unless every clip has a non-negative vector with a vote."""
    if votes is None:
        raise ValueError("label-distribution learning needs the clips' vote vectors "
                         "(votes=None given)")
    if votes.shape != logits.shape:
        raise ValueError(
            f"votes must have shape {list(logits.shape)} (one count per emotion), "
            f"got {list(votes.shape)}"
        )
    votes = votes.to(device=logits.device, dtype=torch.float32)
    totals = votes.sum(dim=1, keepdim=True)
    if bool((votes < 0).any()) or bool((totals <= 0).any()):
        raise ValueError("every clip's vote vector must be non-negative with at least one vote")
    return votes / totals


def combo_term(logits: torch.Tensor, target: torch.Tensor, *, alpha: float = COMBO_ALPHA,
               beta: float = COMBO_BETA, eps: float = COMBO_EPS):
    """LFER-LDL's combo loss (its eq. 6): an improved (weighted, multi-class binary)
    cross-entropy minus a Dice term. With p = softmax(z) and target t (one-hot, or any
    distribution) over N samples × C classes::

        WBCE  = −(1/(N·C)) Σ_n Σ_c [ β · t ln p + (1 − β) · (1 − t) ln(1 − p) ]
        Dice  = (2 Σ t·p + ε) / (Σ t + Σ p + ε)            sums over all n, c
        L     = α · WBCE − (1 − α) · Dice

    The paper: "binary cross-entropy generalised to the multi-class problem, its output the
    mean of the binary cross-entropies" (hence the 1/(N·C)); β < 0.5 penalises false
    positives more, β > 0.5 false negatives; ε = 1 smooths the Dice ratio. L is bounded
    below by −(1 − α), which a perfect prediction of one-hot targets reaches (WBCE = 0,
    Dice = 1).
    ln p and ln(1 − p) are computed from the logits (log-sum-exp), finite for any logits.
    Returns ``(L, WBCE, Dice)``; shapes ``logits``/``target`` ``[N, C]``.
    """
    z = logits.float()
    t = target.float()
    log_p = F.log_softmax(z, dim=1)
    classes = z.shape[1]
    others = z.unsqueeze(1).expand(-1, classes, -1).masked_fill(
        torch.eye(classes, dtype=torch.bool, device=z.device), float("-inf"))
    log_not_p = torch.logsumexp(others, dim=2) - torch.logsumexp(z, dim=1, keepdim=True)
    wbce = -(beta * t * log_p + (1 - beta) * (1 - t) * log_not_p).mean()
    p = log_p.exp()
    dice = (2 * (t * p).sum() + eps) / (t.sum() + p.sum() + eps)
    return alpha * wbce - (1 - alpha) * dice, wbce, dice


class ComboLoss(nn.Module):
    """``combo``: LFER-LDL's combo loss (:func:`combo_term`) on one-hot targets.
    parts: ``wbce``, ``dice`` (total = α·wbce − (1 − α)·dice)."""

    name = "combo"
    needs_votes = False

    def __init__(self, num_classes: int, feature_dim: int | None = None, *,
                 alpha: float = COMBO_ALPHA, beta: float = COMBO_BETA, eps: float = COMBO_EPS):
        super().__init__()
        self.num_classes, self.feature_dim = num_classes, feature_dim
        self.alpha, self.beta, self.eps = float(alpha), float(beta), float(eps)

    def forward(self, logits, features, labels, votes=None):
        _check_logits(logits, self.num_classes)
        target = F.one_hot(labels, self.num_classes)
        total, wbce, dice = combo_term(logits, target, alpha=self.alpha, beta=self.beta,
                                       eps=self.eps)
        return total, {"wbce": wbce.detach(), "dice": dice.detach()}


class WithLDL(nn.Module):
    """Label-distribution learning as a modifier of a base loss: ``train --loss NAME --ldl``.

    With the clip's counted votes v_i (``dfew_build.labels.matrix.vote_matrix``: votes of
    retired clips and excluded annotators do not count), p_i = v_i / Σ_k v_ik and
    q_i = softmax(z_i)::

        L = L_base + w · KL(p ‖ q),   KL(p ‖ q) = (1/N) Σ_i Σ_k p_ik (log p_ik − log q_ik)

    L_base is the base loss on the single labels, unchanged (its feature terms, e.g. the
    centre loss or EC-STFL, keep their hard labels). The KL term is normalised like the base
    loss's own classification term: per sample (w = 1) for the cross-entropy losses, and
    per sample *and class* for ``combo`` (w = 1/C), whose binary cross-entropy is a mean
    over classes — LFER-LDL trains its network on eq. 5, KL / (N·C), together with the
    combo loss of eq. 6, which is ``--loss combo --ldl``. Where LFER-LDL had to synthesise p
    with a ResNet-50 (RAF-DB and AffectNet have one label per image), a DFEW-style dataset
    has the annotators' votes. parts: the base loss's, plus ``kl`` (unweighted).
    """

    needs_votes = True

    def __init__(self, base: nn.Module, weight: float | None = None):
        super().__init__()
        self.base = base
        self.num_classes, self.feature_dim = base.num_classes, base.feature_dim
        default = 1.0 / base.num_classes if base.name == "combo" else 1.0
        self.weight = default if weight is None else float(weight)
        self.name = f"{base.name}+ldl"

    def forward(self, logits, features, labels, votes=None):
        target = vote_distribution(votes, logits)
        total, parts = self.base(logits, features, labels, votes)
        kl = F.kl_div(F.log_softmax(logits.float(), dim=1), target, reduction="batchmean")
        return total + self.weight * kl, {**parts, "kl": kl.detach()}


def create_loss(name: str, num_classes: int = 7, feature_dim: int | None = None,
                lambda_: float | None = None, *, ldl: bool = False,
                ldl_weight: float | None = None, alpha: float = COMBO_ALPHA,
                beta: float = COMBO_BETA) -> nn.Module:
    """Build the loss ``name`` (``ce``, ``center``, ``ecstfl``, ``ecstfl_released``, ``ldl``
    or ``combo``), with label-distribution learning added when ``ldl`` (:class:`WithLDL`,
    weight ``ldl_weight``; not with ``ldl`` itself, which already is KL to the votes).

    ``feature_dim`` (the model's ``feature_dim``) is required by ``center`` and the two
    EC-STFL losses. ``lambda_`` is their trade-off coefficient (defaults: center 1e-4,
    ecstfl and ecstfl_released 10); ``ce``, ``ldl`` and ``combo`` have none and refuse one.
    ``alpha``/``beta``: the combo loss's α and β (0.5, 0.2). Unknown names and invalid values
    raise ``ValueError``.
    """
    base = _create_base(name, num_classes, feature_dim, lambda_, alpha, beta)
    if ldl_weight is not None and not ldl:
        raise ValueError("ldl_weight applies with ldl=True (--ldl) only")
    if not ldl:
        return base
    if name == "ldl":
        raise ValueError("the 'ldl' loss already is the KL divergence to the vote "
                         "distribution; --ldl adds it to another loss (ce, center, ecstfl, "
                         "ecstfl_released, combo)")
    if ldl_weight is not None and not float(ldl_weight) >= 0:
        raise ValueError(f"ldl_weight must be >= 0, got {ldl_weight!r}")
    return WithLDL(base, ldl_weight)


def _create_base(name, num_classes, feature_dim, lambda_, alpha, beta) -> nn.Module:
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; known losses: {', '.join(LOSSES)}")
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    if name in ("ce", "ldl", "combo"):
        if lambda_ is not None:
            raise ValueError(f"the {name!r} loss has no trade-off coefficient; lambda "
                             "applies to 'center', 'ecstfl' and 'ecstfl_released' only")
        if name == "combo":
            if not 0 <= float(alpha) <= 1 or not 0 <= float(beta) <= 1:
                raise ValueError(f"the combo loss's alpha and beta must be in [0, 1], got "
                                 f"{alpha!r} and {beta!r}")
            return ComboLoss(num_classes, feature_dim, alpha=alpha, beta=beta)
        cls = CrossEntropyLoss if name == "ce" else LabelDistributionLoss
        return cls(num_classes, feature_dim)
    if not isinstance(feature_dim, int) or feature_dim < 1:
        raise ValueError(f"the {name!r} loss needs feature_dim (the model's feature_dim), "
                         f"got {feature_dim!r}")
    lam = DEFAULT_LAMBDA[name] if lambda_ is None else float(lambda_)
    if not lam >= 0:  # also rejects NaN
        raise ValueError(f"lambda must be >= 0, got {lambda_!r}")
    cls = {"center": CenterLoss, "ecstfl": ECSTFLLoss,
           "ecstfl_released": ECSTFLReleasedLoss}[name]
    return cls(num_classes, feature_dim, lam)
