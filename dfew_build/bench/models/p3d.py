"""Pseudo-3D ResNet (Qiu et al., ICCV 2017), "P3D" in DFEW.

The paper does not say which depth DFEW used; ``p3d`` is **P3D-63** (bottleneck stages
of 3, 4, 6, 3 blocks, the ResNet-50 layout), following the reference PyTorch port of
the authors' network (qijiezhao/pseudo-3d-pytorch): ``depth=131`` (3, 4, 23, 3) and
``depth=199`` (3, 8, 36, 3) are available as keyword arguments.

Layout, as in that port:

* stem: 1×7×7 convolution (64, stride (1, 2, 2)), batch norm, ReLU, max-pool
  2×3×3 stride 2 (16×112×112 → 8×28×28);
* stages 1-3: P3D bottlenecks — 1×1×1 reduction, then the pseudo-3D pair of a 1×3×3
  spatial convolution S and a 3×1×1 temporal convolution T combined as P3D-A
  (S then T), P3D-B (S and T in parallel, summed) or P3D-C (S, then S + T(S)), cycling
  A, B, C over the blocks; then a 1×1×1 expansion (×4), batch norm, residual sum, ReLU.
  Spatial stride 2 at the start of stages 2 and 3 (1×1×1 shortcut convolutions), and
  a 2×1×1 temporal max-pool after each of the three stages (8 → 4 → 2 → 1 frames);
* stage 4: ordinary 2D bottlenecks (1×1, 3×3, 1×1; stride 2) on the now single
  frame — the port's design (it reshapes to 2D; here the time axis is averaged, which
  is the same thing for 16-frame clips and still works for other lengths);
* global average pooling → 2048-d penultimate features; head = dropout 0.5 + fc.

Input: 16×160×160 is the reference size (``model_input_size("p3d")``), as in that port
and in DFEW's official P3D configuration (``size_Resize_te: 160``): there the last map is
5×5 and the port's fixed 5×5 average pool is exactly the adaptive pool used here, which
also lets P3D run on 16×112×112 clips (last map 4×4, where the fixed pool fails).
"""

from __future__ import annotations

import torch
from torch import nn

from . import register_model

_DEPTHS = {63: (3, 4, 6, 3), 131: (3, 4, 23, 3), 199: (3, 8, 36, 3)}


class P3DBlock(nn.Module):
    """A P3D bottleneck (3D) or, past the 3D stages, a plain 2D bottleneck."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, block_id: int, depth_3d: int,
                 downsample: nn.Module | None = None, first_of_stage: bool = False,
                 st_struc: tuple[str, ...] = ("A", "B", "C")):
        super().__init__()
        self.is_3d = block_id < depth_3d
        self.st = st_struc[block_id % len(st_struc)]
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        if self.is_3d:
            stride = (1, 2, 2) if (first_of_stage and block_id > 0) else 1
            self.conv1 = nn.Conv3d(inplanes, planes, 1, stride=stride, bias=False)
            self.bn1 = nn.BatchNorm3d(planes)
            self.conv2 = nn.Conv3d(planes, planes, (1, 3, 3), padding=(0, 1, 1), bias=False)
            self.bn2 = nn.BatchNorm3d(planes)
            self.conv3 = nn.Conv3d(planes, planes, (3, 1, 1), padding=(1, 0, 0), bias=False)
            self.bn3 = nn.BatchNorm3d(planes)
            self.conv4 = nn.Conv3d(planes, planes * 4, 1, bias=False)
            self.bn4 = nn.BatchNorm3d(planes * 4)
        else:
            stride = 2 if block_id == depth_3d else 1
            self.conv1 = nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv_normal = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
            self.bn_normal = nn.BatchNorm2d(planes)
            self.conv4 = nn.Conv2d(planes, planes * 4, 1, bias=False)
            self.bn4 = nn.BatchNorm2d(planes * 4)

    def _spatial(self, x):
        return self.relu(self.bn2(self.conv2(x)))

    def _temporal(self, x):
        return self.relu(self.bn3(self.conv3(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        if self.is_3d:
            if self.st == "A":
                out = self._temporal(self._spatial(out))
            elif self.st == "B":
                out = self._spatial(out) + self._temporal(out)
            else:  # "C"
                s = self._spatial(out)
                out = s + self._temporal(s)
        else:
            out = self.relu(self.bn_normal(self.conv_normal(out)))
        out = self.bn4(self.conv4(out))
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(out + residual)


class P3D(nn.Module):
    """Pseudo-3D ResNet for 16-frame clips (reference 160×160; any size ≥ 32 runs)."""

    def __init__(self, layers=(3, 4, 6, 3), num_classes: int = 7, dropout: float = 0.5,
                 st_struc: tuple[str, ...] = ("A", "B", "C")):
        super().__init__()
        self.inplanes = 64
        self.depth_3d = sum(layers[:3])
        self.st_struc = tuple(st_struc)
        self._count = 0
        self.conv1 = nn.Conv3d(3, 64, (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3),
                               bias=False)
        self.bn1 = nn.BatchNorm3d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool3d(kernel_size=(2, 3, 3), stride=2, padding=(0, 1, 1))
        self.maxpool_t = nn.MaxPool3d(kernel_size=(2, 1, 1), stride=(2, 1, 1))
        self.layer1 = self._make_layer(64, layers[0], stride=1)
        self.layer2 = self._make_layer(128, layers[1], stride=2)
        self.layer3 = self._make_layer(256, layers[2], stride=2)
        self.layer4 = self._make_layer(512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.feature_dim = 512 * P3DBlock.expansion
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.feature_dim, num_classes))
        self.num_classes = num_classes
        for m in self.modules():
            if isinstance(m, (nn.Conv3d, nn.Conv2d)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm3d, nn.BatchNorm2d)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        out_planes = planes * P3DBlock.expansion
        if stride != 1 or self.inplanes != out_planes:
            if self._count < self.depth_3d:
                ds_stride = 1 if self._count == 0 else (1, 2, 2)
                downsample = nn.Sequential(
                    nn.Conv3d(self.inplanes, out_planes, 1, stride=ds_stride, bias=False),
                    nn.BatchNorm3d(out_planes))
            else:
                downsample = nn.Sequential(
                    nn.Conv2d(self.inplanes, out_planes, 1, stride=2, bias=False),
                    nn.BatchNorm2d(out_planes))
        layers = []
        for i in range(blocks):
            layers.append(P3DBlock(self.inplanes, planes, self._count, self.depth_3d,
                                   downsample if i == 0 else None, first_of_stage=i == 0,
                                   st_struc=self.st_struc))
            self._count += 1
            self.inplanes = out_planes
        return nn.Sequential(*layers)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.maxpool_t(self.layer1(x))
        x = self.maxpool_t(self.layer2(x))
        x = self.maxpool_t(self.layer3(x))
        x = x.mean(dim=2)  # [B, C, 1, H, W] -> [B, C, H, W] for 16-frame clips
        x = self.layer4(x)
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))


@register_model(input_size=160)
def p3d(num_classes: int = 7, depth: int = 63, **kwargs) -> P3D:
    """Pseudo-3D ResNet, P3D-63 by default (``depth`` 63, 131 or 199)."""
    if depth not in _DEPTHS:
        raise ValueError(f"P3D depth must be one of {sorted(_DEPTHS)}, got {depth!r}")
    return P3D(layers=_DEPTHS[depth], num_classes=num_classes, **kwargs)
