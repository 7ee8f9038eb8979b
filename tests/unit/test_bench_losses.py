"""The benchmark losses against hand-computed values (DFEW eq. 9, the released EC-STFL
code's formula, Wen et al., LDL)."""

from __future__ import annotations

import itertools
import math

import pytest

import torch  # noqa: E402  (a core dependency: never skipped)

from dfew_build.bench.losses import (create_loss, ecstfl_released_term, ecstfl_term,  # noqa: E402
                                     list_losses)


def reference_ecstfl(points, labels):
    """Equation 9 written out with plain Python, pair by pair."""
    n_of = {y: labels.count(y) for y in labels}
    num = den = 0.0
    for (xi, yi), (xj, yj) in itertools.product(zip(points, labels), repeat=2):
        d = math.dist(xi, xj)
        if yi == yj:
            num += d / n_of[yi]
        else:
            den += d / n_of[yj]
    return num / den


# -- EC-STFL -------------------------------------------------------------------------

POINTS = [(0.0, 0.0), (3.0, 4.0), (1.0, 0.0), (0.0, 2.0)]
LABELS = [0, 0, 1, 2]


def test_ecstfl_hand_computed_four_samples():
    # N = (2, 2, 1, 1).
    # numerator: pairs (0,1) and (1,0), distance 5, weight 1/N_{x_i} = 1/2 -> 5
    # denominator, weight 1/N_{x_j}:
    #   (0,2) 1/1  (0,3) 2/1  (1,2) √20/1  (1,3) √13/1
    #   (2,0) 1/2  (2,1) √20/2  (2,3) √5/1
    #   (3,0) 2/2  (3,1) √13/2  (3,2) √5/1
    numerator = 5.0
    denominator = 1 + 2 + math.sqrt(20) + math.sqrt(13) + 0.5 + math.sqrt(20) / 2 \
        + math.sqrt(5) + 1 + math.sqrt(13) / 2 + math.sqrt(5)
    expected = numerator / denominator  # 0.2371...
    assert expected == pytest.approx(reference_ecstfl(POINTS, LABELS))
    value = ecstfl_term(torch.tensor(POINTS), torch.tensor(LABELS))
    assert value.item() == pytest.approx(expected, rel=1e-6)


def test_ecstfl_joint_loss_is_ce_plus_ten_times_the_term():
    loss_fn = create_loss("ecstfl", num_classes=3, feature_dim=2)
    assert loss_fn.lambda_ == 10.0
    logits = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 0.0], [1.0, 1.0, 3.0]])
    labels = torch.tensor(LABELS)
    total, parts = loss_fn(logits, torch.tensor(POINTS), labels)
    ce = sum(-row[y] + math.log(sum(math.exp(v) for v in row))
             for row, y in zip(logits.tolist(), LABELS)) / 4
    term = reference_ecstfl(POINTS, LABELS)
    assert parts["ce"].item() == pytest.approx(ce, rel=1e-6)
    assert parts["ecstfl"].item() == pytest.approx(term, rel=1e-6)
    assert total.item() == pytest.approx(ce + 10 * term, rel=1e-6)
    custom = create_loss("ecstfl", num_classes=3, feature_dim=2, lambda_=2.5)
    assert custom(logits, torch.tensor(POINTS), labels)[0].item() == \
        pytest.approx(ce + 2.5 * term, rel=1e-6)


def test_ecstfl_matches_reference_on_random_batches():
    gen = torch.Generator().manual_seed(3)
    for _ in range(5):
        feats = torch.randn(24, 6, generator=gen, dtype=torch.float64)
        labels = torch.randint(0, 7, (24,), generator=gen)
        expected = reference_ecstfl(feats.tolist(), labels.tolist())
        assert ecstfl_term(feats, labels).item() == pytest.approx(expected, rel=1e-9)


def test_ecstfl_is_invariant_to_batch_order():
    gen = torch.Generator().manual_seed(0)
    feats = torch.randn(12, 16, generator=gen)
    labels = torch.tensor([0, 0, 0, 0, 0, 1, 1, 2, 3, 3, 3, 6])
    logits = torch.randn(12, 7, generator=gen)
    loss_fn = create_loss("ecstfl", num_classes=7, feature_dim=16)
    base, _ = loss_fn(logits, feats, labels)
    for seed in range(3):
        perm = torch.randperm(12, generator=torch.Generator().manual_seed(seed))
        assert not torch.equal(perm, torch.arange(12))
        permuted, _ = loss_fn(logits[perm], feats[perm], labels[perm])
        assert permuted.item() == pytest.approx(base.item(), rel=1e-5)


def test_ecstfl_one_class_batch_gives_zero_and_no_gradient():
    feats = torch.randn(5, 4, requires_grad=True)
    logits = torch.randn(5, 7, requires_grad=True)
    labels = torch.full((5,), 3)
    term = ecstfl_term(feats, labels)
    assert term.item() == 0.0 and not term.requires_grad
    total, parts = create_loss("ecstfl", num_classes=7, feature_dim=4)(logits, feats, labels)
    assert parts["ecstfl"].item() == 0.0
    assert total.item() == pytest.approx(parts["ce"].item())
    total.backward()
    assert feats.grad is None          # nothing reached the features
    assert logits.grad is not None     # cross-entropy still trains


def test_ecstfl_gradient_is_finite_and_correct():
    feats = torch.tensor(POINTS + [(0.0, 0.0)], dtype=torch.float64, requires_grad=True)
    labels = torch.tensor(LABELS + [1])   # a duplicate point: zero distances in both sums
    ecstfl_term(feats, labels).backward()
    assert torch.isfinite(feats.grad).all()
    x = torch.tensor([[0.1, 0.3], [1.2, -0.4], [0.7, 0.9], [-1.0, 0.2], [0.5, 0.5]],
                     dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 0, 1, 1, 2])
    assert torch.autograd.gradcheck(lambda f: ecstfl_term(f, y), (x,))


def test_ecstfl_pulls_classes_apart():
    feats = torch.tensor(POINTS, requires_grad=True)
    opt = torch.optim.SGD([feats], lr=0.05)
    labels = torch.tensor(LABELS)
    first = ecstfl_term(feats, labels).item()
    for _ in range(20):
        opt.zero_grad()
        ecstfl_term(feats, labels).backward()
        opt.step()
    assert ecstfl_term(feats, labels).item() < first


def test_ecstfl_collapsed_features_are_zero_not_nan():
    feats = torch.zeros(4, 3, requires_grad=True)
    value = ecstfl_term(feats, torch.tensor([0, 1, 1, 2]))
    value.backward()
    assert value.item() == 0.0
    assert torch.isfinite(feats.grad).all()


# -- EC-STFL, the released code's formula --------------------------------------------

def reference_released(points, labels):
    """The released formula with plain Python loops, sample by sample:
    attraction = sum of L1 distances to the same-label samples (itself included, distance
    0) / (number of *other* same-label samples + 1); repulsion = sum of 1 / (d + 1e-6) over
    the different-label samples / (their number + 1); loss = mean(attraction · repulsion / B)."""
    b = len(points)
    total = 0.0
    for xi, yi in zip(points, labels):
        same = [sum(abs(u - v) for u, v in zip(xi, xj)) for xj, yj in zip(points, labels)
                if yj == yi]
        other = [sum(abs(u - v) for u, v in zip(xi, xj)) for xj, yj in zip(points, labels)
                 if yj != yi]
        attraction = sum(same) / ((len(same) - 1) + 1 + 1e-6)
        repulsion = sum(1.0 / (d + 1e-6) for d in other) / (len(other) + 1 + 1e-6)
        total += attraction * repulsion / b
    return total / b


def test_ecstfl_released_hand_computed_four_samples():
    # L1 distances: d01 = 7, d02 = 1, d03 = 2, d12 = 6, d13 = 5, d23 = 3; B = 4.
    # sample 0 (label 0 with sample 1): a = (0 + 7) / 2,  r = (1/1 + 1/2) / (2 + 1) = 1/2
    # sample 1:                          a = 7 / 2,        r = (1/6 + 1/5) / 3 = 11/90
    # samples 2 and 3 are alone in their class: a = 0 / 1 = 0
    # L = (1/4) · Σ a·r / 4 = (7/4 + 77/180) / 16 = 392 / 2880
    expected = (7 / 4 + 77 / 180) / 16  # 0.13611...
    assert reference_released(POINTS, LABELS) == pytest.approx(expected, rel=1e-5)
    value = ecstfl_released_term(torch.tensor(POINTS), torch.tensor(LABELS))
    assert value.item() == pytest.approx(expected, rel=1e-5)
    # The readings of "(count + 1)" this rules out, on the same batch:
    inverse_of_d_plus_1 = (3.5 * (1 / 2 + 1 / 3) / 3 + 3.5 * (1 / 7 + 1 / 6) / 3) / 16
    plain_mean_repulsion = (3.5 * (1.5 / 2) + 3.5 * (11 / 30) / 2) / 16
    others_only_attraction = (7 * 0.5 + 7 * 11 / 90) / 16
    for wrong in (inverse_of_d_plus_1, plain_mean_repulsion, others_only_attraction):
        assert abs(value.item() - wrong) > 0.01


def test_ecstfl_released_matches_the_loop_on_random_batches():
    gen = torch.Generator().manual_seed(4)
    for _ in range(5):
        feats = torch.randn(24, 6, generator=gen, dtype=torch.float64)
        labels = torch.randint(0, 7, (24,), generator=gen)
        expected = reference_released(feats.tolist(), labels.tolist())
        assert ecstfl_released_term(feats, labels).item() == pytest.approx(expected, rel=1e-9)


def test_ecstfl_released_shrinks_as_one_over_b_and_equation_9_does_not():
    feats = torch.tensor(POINTS, dtype=torch.float64)
    labels = torch.tensor(LABELS)
    twice_f, twice_y = feats.repeat(2, 1), labels.repeat(2)   # every sample twice, B = 8
    # equation 9: every sum doubles, the ratio stays
    assert ecstfl_term(twice_f, twice_y).item() == pytest.approx(
        ecstfl_term(feats, labels).item(), rel=1e-12)
    # released: attraction unchanged (0, 7, 0, 7 over 4), repulsion sums double over
    # (2q + 1) instead of (q + 1) different-label samples (q = 2 for samples 0 and 1),
    # and the loss is divided by B = 8 instead of 4.
    expected = (2 * 3.5 * (3.0 / 5) + 2 * 3.5 * (2 * 11 / 30) / 5) / 8 / 8
    assert ecstfl_released_term(twice_f, twice_y).item() == pytest.approx(expected, rel=1e-5)
    ratio = ecstfl_released_term(twice_f, twice_y).item() / \
        ecstfl_released_term(feats, labels).item()
    assert ratio == pytest.approx(0.5 * (2 * 3) / (2 * 2 + 1), rel=1e-5)   # 1/2 · 6/5
    # and times B it is the plain batch mean of attraction · repulsion
    per_sample_mean = (3.5 * 0.5 + 3.5 * 11 / 90) / 4
    assert 4 * ecstfl_released_term(feats, labels).item() == pytest.approx(per_sample_mean,
                                                                           rel=1e-5)


def test_ecstfl_released_joint_loss_and_parts():
    loss_fn = create_loss("ecstfl_released", num_classes=3, feature_dim=2)
    assert loss_fn.lambda_ == 10.0
    logits = torch.zeros(4, 3)
    total, parts = loss_fn(logits, torch.tensor(POINTS), torch.tensor(LABELS))
    assert set(parts) == {"ce", "ecstfl_released"}
    assert parts["ce"].item() == pytest.approx(math.log(3))
    assert total.item() == pytest.approx(math.log(3) + 10 * (7 / 4 + 77 / 180) / 16, rel=1e-5)


def test_ecstfl_released_one_class_batch_gives_zero_and_no_gradient():
    feats = torch.randn(5, 4, requires_grad=True)
    term = ecstfl_released_term(feats, torch.full((5,), 2))
    assert term.item() == 0.0 and not term.requires_grad


def test_ecstfl_released_gradient_is_correct():
    x = torch.tensor([[0.1, 0.3], [1.2, -0.4], [0.7, 0.9], [-1.0, 0.2], [0.5, 0.5]],
                     dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 0, 1, 1, 2])
    assert torch.autograd.gradcheck(lambda f: ecstfl_released_term(f, y), (x,))


def test_the_two_forms_on_a_random_batch_of_32():
    """Issue 16's comparison, on our own seeded batch (B = 32, D = 512, 7 classes):
    equation 9 ≈ 0.130, released ≈ 0.0235, gradients far from parallel (cosine ≈ 0.6)."""
    gen = torch.Generator().manual_seed(0)
    feats = torch.randn(32, 512, generator=gen, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, 7, (32,), generator=gen)
    paper, released = ecstfl_term(feats, labels), ecstfl_released_term(feats, labels)
    g_paper, = torch.autograd.grad(paper, feats)
    g_released, = torch.autograd.grad(released, feats)
    cosine = torch.nn.functional.cosine_similarity(g_paper.flatten(), g_released.flatten(),
                                                   dim=0).item()
    assert paper.item() == pytest.approx(0.1305, abs=5e-4)
    assert released.item() == pytest.approx(0.0236, abs=5e-4)
    assert cosine == pytest.approx(0.643, abs=0.01)


# -- center loss ---------------------------------------------------------------------

def test_center_loss_hand_computed():
    loss_fn = create_loss("center", num_classes=3, feature_dim=2)
    assert loss_fn.lambda_ == 1e-4
    with torch.no_grad():
        loss_fn.centers.copy_(torch.tensor([[1.0, 1.0], [0.0, 0.0], [5.0, 5.0]]))
    feats = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    labels = torch.tensor([0, 1])
    logits = torch.zeros(2, 3)
    total, parts = loss_fn(logits, feats, labels)
    # ½ · mean(‖(1,2)−(1,1)‖², ‖(3,4)−(0,0)‖²) = ½ · (1 + 25) / 2 = 6.5
    assert parts["center"].item() == pytest.approx(6.5)
    assert parts["ce"].item() == pytest.approx(math.log(3))
    assert total.item() == pytest.approx(math.log(3) + 1e-4 * 6.5)
    total.backward()
    # ∂/∂c_0 = λ · (c_0 − f_0) / B = 1e-4 · (0, −1) / 2 ; class 2 is absent: no pull
    expected = torch.tensor([[0.0, -0.5e-4], [-1.5e-4, -2e-4], [0.0, 0.0]])
    assert torch.allclose(loss_fn.centers.grad, expected, atol=1e-9)
    assert list(dict(loss_fn.named_parameters())) == ["centers"]


# -- label distribution learning -----------------------------------------------------

def test_ldl_hand_computed_and_equal_to_torch_kl():
    loss_fn = create_loss("ldl", num_classes=3)
    votes = torch.tensor([[2.0, 1.0, 1.0], [0.0, 10.0, 0.0]])
    logits = torch.log(torch.tensor([[0.25, 0.5, 0.25], [0.2, 0.6, 0.2]]))
    total, parts = loss_fn(logits, None, torch.tensor([0, 1]), votes=votes)
    # clip 1: p = (.5, .25, .25), q = (.25, .5, .25): .5 ln 2 + .25 ln .5 = .25 ln 2
    # clip 2: p = (0, 1, 0), q_1 = .6: ln(1/.6); 0·log 0 = 0
    expected = (0.25 * math.log(2) + math.log(1 / 0.6)) / 2
    assert total.item() == pytest.approx(expected, rel=1e-6)
    assert parts["kl"].item() == pytest.approx(expected, rel=1e-6)
    p = torch.distributions.Categorical(probs=votes / votes.sum(1, keepdim=True))
    q = torch.distributions.Categorical(logits=logits)
    assert total.item() == pytest.approx(torch.distributions.kl_divergence(p, q).mean().item(),
                                         rel=1e-6)


def test_ldl_needs_votes():
    loss_fn = create_loss("ldl", num_classes=7)
    with pytest.raises(ValueError, match="vote"):
        loss_fn(torch.zeros(2, 7), None, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="vote"):
        loss_fn(torch.zeros(2, 7), None, None, votes=torch.zeros(2, 7))
    with pytest.raises(ValueError, match="shape"):
        loss_fn(torch.zeros(2, 7), None, None, votes=torch.ones(2, 6))


# -- factory and plain cross-entropy -------------------------------------------------

def test_ce_is_cross_entropy():
    logits = torch.tensor([[2.0, 0.0], [0.0, 0.0]])
    total, parts = create_loss("ce", num_classes=2)(logits, None, torch.tensor([0, 1]))
    expected = (math.log(1 + math.exp(-2)) + math.log(2)) / 2
    assert total.item() == pytest.approx(expected, rel=1e-6)
    assert set(parts) == {"ce"}


def test_factory_rejects_bad_input():
    assert list_losses() == ["ce", "center", "ecstfl", "ecstfl_released", "ldl", "combo"]
    with pytest.raises(ValueError, match="known losses: ce, center, ecstfl, ecstfl_released, ldl"):
        create_loss("triplet", num_classes=7, feature_dim=8)
    with pytest.raises(ValueError, match="feature_dim"):
        create_loss("ecstfl", num_classes=7)
    with pytest.raises(ValueError, match="lambda"):
        create_loss("ce", num_classes=7, lambda_=1.0)
    with pytest.raises(ValueError, match="lambda"):
        create_loss("center", num_classes=7, feature_dim=8, lambda_=-1.0)
    loss_fn = create_loss("ecstfl", num_classes=7, feature_dim=8)
    with pytest.raises(ValueError, match="features"):
        loss_fn(torch.zeros(2, 7), torch.zeros(2, 9), torch.tensor([0, 1]))
