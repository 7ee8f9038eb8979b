"""The benchmark model registry: every model runs forward and backward on 16×112×112 clips.

Budget: the whole file runs in well under 90 s on a 2-core CPU (batch 2 for the
training pass, batch 1 for the eval-mode checks).
"""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

import torch  # noqa: E402  (a core dependency: never skipped)

from dfew_build.bench.models import create_model, list_models  # noqa: E402
from dfew_build.bench.models.profile import count_parameters, gmacs  # noqa: E402

EXPECTED_MODELS = {
    "c3d", "p3d", "r2plus1d_18", "r3d_18", "resnet3d_18", "i3d", "vgg11_lstm", "resnet18_lstm",
}

# Exact parameter counts for 7 classes.
EXACT_PARAMETERS = {
    "resnet3d_18": 33_207_495,  # DESIGN.md §8 / issue 8 (Hara et al., shortcut B)
    "c3d": 78_024_455,          # DESIGN.md §8 / issue 8 (fc6 8192 -> 4096)
    # torchvision's published counts for 400 classes minus 393 rows of the fc layer:
    "r3d_18": 33_371_472 - 393 * 513,       # 33,169,863
    "r2plus1d_18": 31_505_325 - 393 * 513,  # 31,303,716
}


def test_registry_lists_the_eight_dfew_baselines():
    assert set(list_models()) == EXPECTED_MODELS
    assert list_models() == sorted(list_models())


def test_unknown_model_names_the_known_ones():
    with pytest.raises(ValueError) as excinfo:
        create_model("c4d")
    message = str(excinfo.value)
    assert "'c4d'" in message
    for name in EXPECTED_MODELS:
        assert name in message


def test_bad_num_classes_is_refused():
    with pytest.raises(ValueError, match="num_classes"):
        create_model("c3d", num_classes=0)


@pytest.mark.parametrize("name", list_models())
def test_model_forward_backward_and_features(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=7)
    assert isinstance(model.feature_dim, int) and model.feature_dim > 0

    # training pass, batch 2
    model.train()
    x = torch.randn(2, 3, 16, 112, 112)
    logits = model(x)
    assert logits.shape == (2, 7)
    assert torch.isfinite(logits).all()
    logits.logsumexp(dim=1).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"parameters without gradient: {missing[:5]}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    assert any(p.grad.abs().sum() > 0 for p in model.parameters())

    # eval: features, and forward == head(forward_features)
    model.eval()
    with torch.no_grad():
        features = model.forward_features(x[:1])
        assert features.shape == (1, model.feature_dim)
        assert torch.allclose(model.head(features), model(x[:1]), atol=1e-5)


@pytest.mark.parametrize("name", sorted(EXACT_PARAMETERS))
def test_exact_parameter_counts(name):
    assert count_parameters(create_model(name, num_classes=7)) == EXACT_PARAMETERS[name]


def test_head_width_follows_num_classes():
    model = create_model("resnet3d_18", num_classes=3)
    assert count_parameters(model) == EXACT_PARAMETERS["resnet3d_18"] - 4 * 513
    model.eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 16, 112, 112)).shape == (1, 3)


def test_gmacs_of_resnet3d_18_by_hand():
    # conv1 alone: 64 output channels x (8, 56, 56) positions x 3*7*7*7 MACs per output
    conv1 = 64 * 16 * 56 * 56 * 3 * 343
    value = gmacs(create_model("resnet3d_18"))
    assert value * 1e9 > conv1
    assert value == pytest.approx(8.308, abs=0.01)


def test_gmacs_counts_lstm_gates():
    lstm = torch.nn.LSTM(8, 4, batch_first=True)

    class Wrap(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm, self.fc = lstm, torch.nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(self.lstm(x)[0][:, -1])

    # 5 time steps, 4 gates x hidden 4 x (input 8 + hidden 4), then fc 4 -> 2
    expected = 5 * 4 * 4 * (8 + 4) + 4 * 2
    assert math.isclose(gmacs(Wrap(), (1, 5, 8)) * 1e9, expected, rel_tol=1e-9)


def test_dfew_build_import_stays_light():
    code = ("import sys, dfew_build, dfew_build.bench; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
