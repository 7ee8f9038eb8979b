"""LFER-LDL's combo loss and label-distribution learning as a modifier of any loss (issue 19)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from dfew_build.bench.config import TrainConfig, validate
from dfew_build.bench.losses import WithLDL, combo_term, create_loss
from dfew_build.errors import TrainingError


def test_combo_hand_computed():
    # p = (.5, .25, .25), true class 0, α = .5, β = .2, ε = 1
    logits = torch.log(torch.tensor([[0.5, 0.25, 0.25]]))
    total, parts = create_loss("combo", num_classes=3)(logits, None, torch.tensor([0]))
    wbce = -(0.2 * math.log(0.5) + 0.8 * math.log(0.75) * 2) / 3
    dice = (2 * 0.5 + 1) / (1 + 1 + 1)
    assert parts["wbce"].item() == pytest.approx(wbce, rel=1e-6)
    assert parts["dice"].item() == pytest.approx(dice, rel=1e-6)
    assert total.item() == pytest.approx(0.5 * wbce - 0.5 * dice, rel=1e-6)


def test_combo_matches_its_formula_on_random_batches_and_is_finite():
    torch.manual_seed(0)
    for alpha, beta in ((0.5, 0.2), (0.3, 0.6), (1.0, 0.5), (0.0, 0.5)):
        z = torch.randn(16, 7) * 3
        t = F.one_hot(torch.randint(0, 7, (16,)), 7).float()
        p = z.softmax(1)
        wbce = -(beta * t * p.log() + (1 - beta) * (1 - t) * (1 - p).log()).mean()
        dice = (2 * (t * p).sum() + 1) / (t.sum() + p.sum() + 1)
        total, _, _ = combo_term(z, t, alpha=alpha, beta=beta)
        assert total.item() == pytest.approx((alpha * wbce - (1 - alpha) * dice).item(),
                                             rel=1e-5, abs=1e-6)
    huge = torch.tensor([[200.0, -200.0, 0.0]])          # p(1 − p) underflows in float32
    total, wbce, _ = combo_term(huge, torch.tensor([[0.0, 1.0, 0.0]]))
    assert math.isfinite(total.item()) and wbce.item() > 10
    z = torch.zeros(2, 7, requires_grad=True)
    create_loss("combo", 7)(z, None, torch.tensor([1, 2]))[0].backward()
    assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0


def test_ldl_modifier_adds_the_kl_to_the_votes():
    votes = torch.tensor([[2.0, 1.0, 1.0], [0.0, 10.0, 0.0]])
    logits = torch.log(torch.tensor([[0.25, 0.5, 0.25], [0.2, 0.6, 0.2]]))
    labels = torch.tensor([0, 1])
    kl = (0.25 * math.log(2) + math.log(1 / 0.6)) / 2    # as test_bench_losses' ldl test
    ce = create_loss("ce", 3)(logits, None, labels)[0].item()
    loss = create_loss("ce", 3, ldl=True)
    assert isinstance(loss, WithLDL) and loss.needs_votes and loss.weight == 1.0
    total, parts = loss(logits, None, labels, votes)
    assert set(parts) == {"ce", "kl"}
    assert parts["kl"].item() == pytest.approx(kl, rel=1e-6)
    assert total.item() == pytest.approx(ce + kl, rel=1e-6)
    # with combo the KL is per sample and class, as LFER-LDL's eq. 5: weight 1/C
    combo = create_loss("combo", 3, ldl=True)
    assert combo.weight == pytest.approx(1 / 3) and combo.name == "combo+ldl"
    base = create_loss("combo", 3)(logits, None, labels)[0].item()
    assert combo(logits, None, labels, votes)[0].item() == pytest.approx(base + kl / 3, rel=1e-6)
    heavy = create_loss("combo", 3, ldl=True, ldl_weight=2.0)
    assert heavy(logits, None, labels, votes)[0].item() == pytest.approx(base + 2 * kl, rel=1e-6)


def test_ldl_modifier_keeps_the_base_losses_feature_terms():
    torch.manual_seed(0)
    loss = create_loss("center", 7, feature_dim=4, ldl=True)
    assert [n for n, _ in loss.named_parameters()] == ["base.centers"]
    logits, feats = torch.randn(3, 7), torch.randn(3, 4)
    labels, votes = torch.tensor([0, 1, 1]), torch.rand(3, 7) + 0.1
    total, parts = loss(logits, feats, labels, votes)
    assert set(parts) == {"ce", "center", "kl"}
    base, _ = loss.base(logits, feats, labels)
    assert total.item() == pytest.approx(base.item() + parts["kl"].item(), rel=1e-6)
    assert set(create_loss("ecstfl", 7, 4, ldl=True)(logits, feats, labels, votes)[1]) == \
        {"ce", "ecstfl", "kl"}


def test_ldl_modifier_needs_votes_and_refuses_nonsense():
    loss = create_loss("combo", 7, ldl=True)
    with pytest.raises(ValueError, match="vote vectors"):
        loss(torch.zeros(2, 7), None, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="at least one vote"):
        loss(torch.zeros(2, 7), None, torch.tensor([0, 1]), torch.zeros(2, 7))
    with pytest.raises(ValueError, match="already is the KL"):
        create_loss("ldl", 7, ldl=True)
    with pytest.raises(ValueError, match="with ldl=True"):
        create_loss("ce", 7, ldl_weight=0.5)
    with pytest.raises(ValueError, match="no trade-off coefficient"):
        create_loss("combo", 7, lambda_=1.0)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        create_loss("combo", 7, beta=1.5)


@pytest.mark.parametrize("changes, message", [
    ({"loss": "ldl", "ldl": True}, "--loss ldl already is the KL divergence to the vote "
                                   "distribution; --ldl adds it to another loss (e.g. --loss "
                                   "combo --ldl)"),
    ({"ldl_weight": 0.5}, "--ldl-weight applies with --ldl only"),
    ({"combo_beta": 2.0}, "--combo-beta must be in [0, 1], got 2.0"),
    ({"scheduler": "cosine"}, "--scheduler must be one of plateau, exponential, step, got "
                              "'cosine'"),
    ({"lr_gamma": 0.0}, "--lr-gamma must be in (0, 1], got 0.0"),
])
def test_config_refuses_bad_loss_and_schedule_settings(changes, message):
    with pytest.raises(TrainingError) as excinfo:
        validate(TrainConfig(model="resnet3d_18", **changes))
    assert str(excinfo.value) == message


def test_model_defaults_follow_the_papers():
    nr = TrainConfig.for_model("nr_dfernet")
    assert (nr.optimizer, nr.learning_rate, nr.batch_size, nr.epochs, nr.scheduler, nr.gamma,
            nr.input, nr.segments, nr.per_segment) == \
        ("sgd", 1e-3, 32, 70, "exponential", 0.9, "frames", 8, 2)
    fd = TrainConfig.for_model("former_dfer")
    assert (fd.learning_rate, fd.batch_size, fd.epochs, fd.scheduler, fd.lr_step, fd.gamma,
            fd.weight_decay, fd.input) == (0.01, 32, 100, "step", 40, 0.1, 1e-4, "frames")
    lf = TrainConfig.for_model("lfer_ldl")
    assert (lf.learning_rate, lf.batch_size, lf.epochs, lf.lr_step, lf.input) == \
        (0.01, 32, 120, 30, "tensors")
    # the baselines keep DFEW's defaults; what is given wins, None is not given
    assert TrainConfig.for_model("resnet3d_18") == TrainConfig(model="resnet3d_18")
    given = TrainConfig.for_model("nr_dfernet", batch_size=8, input="tensors", epochs=None)
    assert (given.batch_size, given.input, given.epochs) == (8, "tensors", 70)
    # another schedule or optimizer drops the paper's γ and lr with it
    other = TrainConfig.for_model("nr_dfernet", scheduler="plateau", optimizer="adam")
    assert (other.gamma, other.learning_rate) == (0.1, 1e-4)
    assert TrainConfig(model="c3d", loss="combo", ldl=True).loss_name == "combo+ldl"
