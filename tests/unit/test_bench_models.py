"""The benchmark model registry: every model runs forward and backward on 16×112×112 clips,
has its exact parameter count where one is published, and records its reference input size.

Budget: the whole file runs in about a minute of CPU on 2 cores (batch 1 for the training
pass and the eval-mode checks; parameter counts and GMACs on PyTorch's meta device, which
computes shapes only).
"""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

import torch  # noqa: E402  (a core dependency: never skipped)

from dfew_build.bench.catalog import describe_models  # noqa: E402
from dfew_build.bench.models import create_model, list_models, model_input_size  # noqa: E402
from dfew_build.bench.models.profile import count_parameters, gmacs  # noqa: E402

EXPECTED_MODELS = {
    "c3d", "c3d_bn", "p3d", "r2plus1d_18", "r3d_18", "mc3_18", "resnet3d_18", "i3d",
    "vgg11_lstm", "resnet18_lstm", "resnet18_lstm_basic",
    "nr_dfernet", "former_dfer", "lfer_ldl",  # issue 19: the DFER models of the seed papers
}

# Exact parameter counts for 7 classes.
EXACT_PARAMETERS = {
    "resnet3d_18": 33_207_495,    # DESIGN.md §8 / issue 8 (Hara et al., shortcut B)
    "c3d": 78_024_455,            # DESIGN.md §8 / issue 8 (fc6 8192 -> 4096)
    "c3d_bn": 78_029_959,         # issue 16: DFEW's official C3D, BN after every conv
    "resnet18_lstm": 17_388_871,  # issue 16: DFEW's official ResNet18+LSTM
    "mc3_18": 11_493_831,         # issue 16 (torchvision: 11,695,440 for 400 classes)
    # torchvision's published counts for 400 classes minus 393 rows of the fc layer:
    "r3d_18": 33_371_472 - 393 * 513,       # 33,169,863
    "r2plus1d_18": 31_505_325 - 393 * 513,  # 31,303,716
    # ours, pinned so that a change shows (no published count):
    "resnet18_lstm_basic": 13_281_351,
    # issue 19 (see tests/unit/test_bench_dfer_models.py for the published figures):
    "nr_dfernet": 57_016_135, "former_dfer": 19_084_615, "lfer_ldl": 1_283_031,
}

# DFEW's official configurations: P3D at 160×160, I3D at 224×224, the rest at 112×112.
REFERENCE_SIZES = {"p3d": 160, "i3d": 224}


def meta_model(name: str, **kwargs):
    with torch.device("meta"):
        return create_model(name, num_classes=7, **kwargs)


def test_registry_lists_the_dfew_baselines():
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

    # training pass, batch 1 (batch norm still sees many values per channel)
    model.train()
    x = torch.randn(1, 3, 16, 112, 112)
    logits = model(x)
    assert logits.shape == (1, 7)
    assert torch.isfinite(logits).all()
    logits.logsumexp(dim=1).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"parameters without gradient: {missing[:5]}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    assert any(p.grad.abs().sum() > 0 for p in model.parameters())

    # eval: features, and forward == head(forward_features)
    model.eval()
    with torch.no_grad():
        features = model.forward_features(x)
        assert features.shape == (1, model.feature_dim)
        assert torch.allclose(model.head(features), model(x), atol=1e-5)


@pytest.mark.parametrize("name", sorted(EXACT_PARAMETERS))
def test_exact_parameter_counts(name):
    # Counting needs no forward pass: the meta device holds shapes only.
    assert count_parameters(meta_model(name)) == EXACT_PARAMETERS[name]


def test_resnet18_lstm_is_dfews_bottleneck_network():
    model = meta_model("resnet18_lstm")
    blocks = [m for m in model.cnn.modules() if type(m).__name__ == "Bottleneck2d"]
    assert len(blocks) == 8                                 # [2, 2, 2, 2] bottlenecks
    assert (model.lstm.input_size, model.lstm.hidden_size, model.lstm.num_layers) == \
        (2048, 256, 3)
    head = [m for m in model.head.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in head] == [(16 * 256, 7)]
    assert model.feature_dim == 4096
    # parameter budget, part by part: trunk + LSTM (input 2048, then 256) + Linear(4096, 7)
    lstm = 4 * 256 * (2048 + 256) + 8 * 256 + 2 * (4 * 256 * (256 + 256) + 8 * 256)
    assert count_parameters(model.lstm) == lstm == 3_414_016
    assert count_parameters(model.head) == 16 * 256 * 7 + 7
    assert count_parameters(model.cnn) == 13_946_176


def test_resnet18_lstm_needs_sixteen_frames():
    model = create_model("resnet18_lstm").eval()
    with torch.no_grad(), pytest.raises(ValueError) as excinfo:
        model(torch.zeros(1, 3, 8, 32, 32))
    assert str(excinfo.value) == ("resnet18_lstm classifies all 16 time steps: it needs clips "
                                  "of 16 frames, got 8")


def test_mc3_18_is_3d_then_2d_in_time():
    model = meta_model("mc3_18")
    assert model.stem[0].kernel_size == (3, 7, 7) and model.stem[0].stride == (1, 2, 2)
    assert model.layer1[0].conv1[0].kernel_size == (3, 3, 3)
    for layer in (model.layer2, model.layer3, model.layer4):
        assert layer[0].conv1[0].kernel_size == (1, 3, 3)
        assert layer[0].conv1[0].stride == (1, 2, 2)
        assert layer[0].downsample[0].stride == (1, 2, 2)   # time is never downsampled


def test_c3d_bn_has_batch_norm_after_every_convolution():
    layers = list(meta_model("c3d_bn").features)
    convs = [i for i, m in enumerate(layers) if isinstance(m, torch.nn.Conv3d)]
    assert len(convs) == 8
    assert all(isinstance(layers[i + 1], torch.nn.BatchNorm3d) for i in convs)
    assert not any(isinstance(m, torch.nn.BatchNorm3d) for m in meta_model("c3d").modules())


def test_reference_input_sizes():
    for name in list_models():
        assert model_input_size(name) == REFERENCE_SIZES.get(name, 112), name
        assert meta_model(name).input_size == model_input_size(name)
    with pytest.raises(ValueError, match="unknown model 'c4d'"):
        model_input_size("c4d")


def test_describe_models_gives_gmacs_at_the_reference_size():
    rows = {row["name"]: row for row in describe_models()}
    assert set(rows) == EXPECTED_MODELS
    for name, row in rows.items():
        size = REFERENCE_SIZES.get(name, 112)
        assert row["input_size"] == size and row["input"] == f"16x{size}x{size}"
        assert row["parameters"] == count_parameters(meta_model(name))
    # at the reference size (p3d 160, i3d 224) ...
    assert rows["p3d"]["gmacs"] == pytest.approx(8.441, abs=0.01)
    assert rows["i3d"]["gmacs"] == pytest.approx(27.79, abs=0.02)
    # ... which is not 112 (NR-DFERNet's Table 5 counts I3D at 112: 6.99 GFLOPs)
    assert gmacs(meta_model("i3d"), (1, 3, 16, 112, 112), device="meta") == \
        pytest.approx(6.983, abs=0.01)
    assert rows["mc3_18"]["gmacs"] == pytest.approx(43.34, abs=0.01)   # torchvision: 43.34
    assert rows["c3d_bn"]["gmacs"] == rows["c3d"]["gmacs"] == pytest.approx(38.55, abs=0.01)
    assert rows["resnet18_lstm"]["gmacs"] == pytest.approx(9.12, abs=0.01)
    assert rows["resnet18_lstm_basic"]["gmacs"] == pytest.approx(7.79, abs=0.01)
    assert rows["resnet18_lstm"]["dfew_parameters"] == 17_388_871
    assert rows["vgg11_lstm"]["dfew_parameters"] is None


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
