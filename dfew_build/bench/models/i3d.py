"""I3D, RGB stream (Carreira & Zisserman, CVPR 2017), "I3D-RGB" in DFEW.

Inception-v1 (GoogLeNet with batch norm) inflated to 3D, as in DeepMind's kinetics-i3d
and its PyTorch port (piergiaj/pytorch-i3d): Conv3d_1a 7×7×7 stride 2 → MaxPool 1×3×3
stride (1, 2, 2) → Conv3d_2b 1×1×1 (64) → Conv3d_2c 3×3×3 (192) → MaxPool 1×3×3
stride (1, 2, 2) → Mixed_3b, 3c → MaxPool 3×3×3 stride 2 → Mixed_4b … 4f → MaxPool
2×2×2 stride 2 → Mixed_5b, 5c (1024 channels). Every unit is convolution (no bias),
batch norm (eps 1e-3, momentum 0.01) and ReLU, with TensorFlow "SAME" padding.

Input: 16×224×224 is the reference size (``model_input_size("i3d")``), the original's
and DFEW's official I3D configuration: the last feature map is 1024×2×7×7 and the
original's fixed 2×7×7 average pool is exactly the global average pooling used here,
giving the 1024-d penultimate features. The global pool also lets I3D run on 16×112×112
clips (last map 1024×2×4×4), where the fixed pool fails. Head: dropout 0.5 and a linear
layer (the original's 1×1×1 "logits" convolution, which on a pooled vector is the same
map with the same parameters).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from . import register_model


def _same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "SAME" padding (front, back) for one axis."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pad_same(x: torch.Tensor, kernel, stride) -> torch.Tensor:
    t, h, w = x.shape[2:]
    pt = _same_pad(t, kernel[0], stride[0])
    ph = _same_pad(h, kernel[1], stride[1])
    pw = _same_pad(w, kernel[2], stride[2])
    return F.pad(x, (pw[0], pw[1], ph[0], ph[1], pt[0], pt[1]))


class MaxPool3dSame(nn.Module):
    def __init__(self, kernel, stride):
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)
        self.pool = nn.MaxPool3d(self.kernel, self.stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # zero padding as in the reference port; inputs are post-ReLU (>= 0)
        return self.pool(_pad_same(x, self.kernel, self.stride))


class Unit3D(nn.Module):
    """Conv3d (SAME padding, no bias) + BatchNorm3d + ReLU."""

    def __init__(self, cin: int, cout: int, kernel=(1, 1, 1), stride=(1, 1, 1)):
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)
        self.conv = nn.Conv3d(cin, cout, self.kernel, self.stride, padding=0, bias=False)
        self.bn = nn.BatchNorm3d(cout, eps=1e-3, momentum=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(_pad_same(x, self.kernel, self.stride))
        return F.relu(self.bn(x), inplace=True)


class InceptionModule(nn.Module):
    def __init__(self, cin: int, c: tuple[int, int, int, int, int, int]):
        super().__init__()
        self.b0 = Unit3D(cin, c[0])
        self.b1 = nn.Sequential(Unit3D(cin, c[1]), Unit3D(c[1], c[2], (3, 3, 3)))
        self.b2 = nn.Sequential(Unit3D(cin, c[3]), Unit3D(c[3], c[4], (3, 3, 3)))
        self.b3 = nn.Sequential(MaxPool3dSame((3, 3, 3), (1, 1, 1)), Unit3D(cin, c[5]))
        self.out_channels = c[0] + c[2] + c[4] + c[5]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1(x), self.b2(x), self.b3(x)], dim=1)


class I3D(nn.Module):
    """Inflated Inception-v1, RGB input."""

    def __init__(self, num_classes: int = 7, dropout: float = 0.5, in_channels: int = 3):
        super().__init__()
        self.features = nn.Sequential(
            Unit3D(in_channels, 64, (7, 7, 7), (2, 2, 2)),       # Conv3d_1a_7x7
            MaxPool3dSame((1, 3, 3), (1, 2, 2)),                 # MaxPool3d_2a_3x3
            Unit3D(64, 64),                                      # Conv3d_2b_1x1
            Unit3D(64, 192, (3, 3, 3)),                          # Conv3d_2c_3x3
            MaxPool3dSame((1, 3, 3), (1, 2, 2)),                 # MaxPool3d_3a_3x3
            InceptionModule(192, (64, 96, 128, 16, 32, 32)),     # Mixed_3b -> 256
            InceptionModule(256, (128, 128, 192, 32, 96, 64)),   # Mixed_3c -> 480
            MaxPool3dSame((3, 3, 3), (2, 2, 2)),                 # MaxPool3d_4a_3x3
            InceptionModule(480, (192, 96, 208, 16, 48, 64)),    # Mixed_4b -> 512
            InceptionModule(512, (160, 112, 224, 24, 64, 64)),   # Mixed_4c -> 512
            InceptionModule(512, (128, 128, 256, 24, 64, 64)),   # Mixed_4d -> 512
            InceptionModule(512, (112, 144, 288, 32, 64, 64)),   # Mixed_4e -> 528
            InceptionModule(528, (256, 160, 320, 32, 128, 128)),  # Mixed_4f -> 832
            MaxPool3dSame((2, 2, 2), (2, 2, 2)),                 # MaxPool3d_5a_2x2
            InceptionModule(832, (256, 160, 320, 32, 128, 128)),  # Mixed_5b -> 832
            InceptionModule(832, (384, 192, 384, 48, 128, 128)),  # Mixed_5c -> 1024
        )
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.feature_dim = 1024
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(1024, num_classes))
        self.num_classes = num_classes
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.avgpool(self.features(x)), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))


@register_model(input_size=224)
def i3d(num_classes: int = 7, **kwargs) -> I3D:
    """I3D-RGB: inflated Inception-v1 with batch norm; 1024-d features."""
    return I3D(num_classes=num_classes, **kwargs)
