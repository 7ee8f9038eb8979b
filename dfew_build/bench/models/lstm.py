"""CNN-RNN baselines of DFEW: ``vgg11_lstm``, ``resnet18_lstm`` (DFEW's official one) and
``resnet18_lstm_basic``.

Each of the 16 frames goes through the same 2D CNN (weights shared over time), which
DFEW "slightly modified to fit the input size of 112 × 112".

``resnet18_lstm`` — the "Resnet18+LSTM" of DFEW's official code (its ``resnet18_LSTM``),
17,388,871 parameters for 7 classes:

* the trunk is a ResNet with **bottleneck** blocks, two per stage ([2, 2, 2, 2], widths
  64/128/256/512 × 4): 7×7 stride-2 stem, batch norm, ReLU, 3×3 stride-2 max-pool
  without padding in ceil mode (56 → 28 at 112×112), the stage's stride on the first
  1×1 convolution of its first block (the original ResNet v1 placement, not
  torchvision's 3×3), 1×1 projection shortcuts; a 112×112 frame ends at 2048×4×4,
  average-pooled to a 2048-d vector (the official fixed 4×4 pool; adaptive here, the
  same at 112 and usable at other sizes);
* a 3-layer LSTM of 256 units (batch first) over the 16 frame vectors;
* the classifier reads **all 16 outputs**: they are flattened to 16 × 256 = 4096 values
  (the penultimate features, ``forward_features``), head = Linear(4096, num_classes)
  (no dropout, as the official head). The clip must have exactly 16 frames.

Count: trunk 13,946,176 + LSTM 2,361,344 + 2 × 526,336 + head 28,679 = 17,388,871.

The other two end each CNN with global average pooling, so that a 112×112 frame gives a
512-d vector whatever the final map size (VGG11: 3×3, ResNet-18: 4×4):

* ``vgg11_lstm``: the convolutional part of VGG11 (configuration "A":
  64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M) **with batch norm** after
  every convolution (torchvision's ``vgg11_bn`` layout) — the models are trained from
  scratch, where VGG without batch norm is slow and fragile to train. VGG's three
  fully connected layers (sized for 224×224) are dropped. ``batch_norm=False`` gives
  the plain VGG11 convolutions.
* ``resnet18_lstm_basic``: the torchvision-style ResNet-18 trunk (7×7 stride-2 stem,
  max-pool, four stages of two BasicBlocks, 1×1 projection shortcuts), its fc layer
  dropped — this package's ``resnet18_lstm`` before it became DFEW's official one;
  13,281,351 parameters, 7.79 GMACs at 112×112 (NR-DFERNet's Table 5 lists 7.78 GFLOPs
  for "ResNet18+LSTM", which matches this one, not DFEW's official network).

For these two the 16 frame vectors feed a one-layer LSTM (hidden size 512, batch first);
the penultimate features (``forward_features``) are the LSTM's last hidden state h_16
(512-d); the head is dropout 0.5 + a linear layer.
"""

from __future__ import annotations

import torch
from torch import nn

from . import register_model
from .blocks import BasicBlock as BasicBlock2d

_VGG11 = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


def _vgg11_trunk(batch_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    cin = 3
    for v in _VGG11:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        layers.append(nn.Conv2d(cin, v, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(v))
        layers.append(nn.ReLU(inplace=True))
        cin = v
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(1)]
    return nn.Sequential(*layers)


def _resnet18_trunk() -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
    ]
    inplanes = 64
    for planes, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [BasicBlock2d(inplanes, planes, stride), BasicBlock2d(planes, planes)]
        inplanes = planes
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(1)]
    return nn.Sequential(*layers)


class Bottleneck2d(nn.Module):
    """ResNet v1 bottleneck: 1×1 (stride here) → 3×3 → 1×1 (×4), batch norm, residual."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != out:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + residual)


def _bottleneck_trunk(layers=(2, 2, 2, 2)) -> nn.Sequential:
    modules: list[nn.Module] = [
        nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=0, ceil_mode=True),
    ]
    inplanes = 64
    for planes, blocks, stride in zip((64, 128, 256, 512), layers, (1, 2, 2, 2)):
        modules.append(Bottleneck2d(inplanes, planes, stride))
        inplanes = planes * Bottleneck2d.expansion
        modules += [Bottleneck2d(inplanes, planes) for _ in range(1, blocks)]
    modules += [nn.AdaptiveAvgPool2d(1), nn.Flatten(1)]
    return nn.Sequential(*modules)


class ResNetLSTM(nn.Module):
    """DFEW's official ResNet+LSTM: bottleneck trunk per frame, a multi-layer LSTM, and a
    linear classifier over the outputs of every time step (flattened)."""

    def __init__(self, num_classes: int = 7, layers=(2, 2, 2, 2), frames: int = 16,
                 hidden_size: int = 256, num_layers: int = 3, dropout: float = 0.0):
        super().__init__()
        self.frames = frames
        self.cnn = _bottleneck_trunk(layers)
        self.lstm = nn.LSTM(512 * Bottleneck2d.expansion, hidden_size, num_layers=num_layers,
                            batch_first=True)
        self.feature_dim = frames * hidden_size
        head: list[nn.Module] = [nn.Dropout(dropout)] if dropout > 0 else []
        self.head = nn.Sequential(*head, nn.Linear(self.feature_dim, num_classes))
        self.num_classes = num_classes
        for m in self.cnn.modules():  # the official init: N(0, sqrt(2 / (k·k·out)))
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        if t != self.frames:
            raise ValueError(f"resnet18_lstm classifies all {self.frames} time steps: it needs "
                             f"clips of {self.frames} frames, got {t}")
        frames = x.transpose(1, 2).reshape(b * t, c, h, w)
        per_frame = self.cnn(frames).reshape(b, t, -1)
        outputs, _ = self.lstm(per_frame)          # [B, T, hidden]
        return outputs.reshape(b, -1)              # [B, T · hidden]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))


class CNNLSTM(nn.Module):
    """A 2D CNN per frame, an LSTM over the frame vectors, a linear head."""

    def __init__(self, cnn: nn.Module, cnn_dim: int, num_classes: int = 7,
                 hidden_size: int = 512, num_layers: int = 1, dropout: float = 0.5):
        super().__init__()
        self.cnn = cnn
        self.lstm = nn.LSTM(cnn_dim, hidden_size, num_layers=num_layers, batch_first=True)
        self.feature_dim = hidden_size
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden_size, num_classes))
        self.num_classes = num_classes
        for m in self.cnn.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        frames = x.transpose(1, 2).reshape(b * t, c, h, w)
        per_frame = self.cnn(frames).reshape(b, t, -1)
        _, (h_n, _) = self.lstm(per_frame)
        return h_n[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))


@register_model
def vgg11_lstm(num_classes: int = 7, batch_norm: bool = True, **kwargs) -> CNNLSTM:
    """VGG11 (with batch norm by default) per frame + LSTM(512) over 16 frames."""
    return CNNLSTM(_vgg11_trunk(batch_norm), 512, num_classes=num_classes, **kwargs)


@register_model
def resnet18_lstm(num_classes: int = 7, **kwargs) -> ResNetLSTM:
    """DFEW's official ResNet18+LSTM: bottleneck ResNet [2, 2, 2, 2] per frame, 3-layer
    LSTM(256), Linear(16 × 256 → num_classes); 17,388,871 parameters for 7 classes."""
    return ResNetLSTM(num_classes=num_classes, **kwargs)


@register_model
def resnet18_lstm_basic(num_classes: int = 7, **kwargs) -> CNNLSTM:
    """Basic-block ResNet-18 per frame + LSTM(512), last hidden state; 13,281,351
    parameters for 7 classes (not DFEW's network; see the module docstring)."""
    return CNNLSTM(_resnet18_trunk(), 512, num_classes=num_classes, **kwargs)
