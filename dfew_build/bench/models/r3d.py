"""R3D-18 (Tran et al., CVPR 2018, "A closer look at spatiotemporal convolutions"), "R3D18" in DFEW.

The torchvision ``r3d_18`` architecture, rewritten in plain PyTorch (torchvision does
not work with the CPU torch here): a stem of one 3×7×7 convolution, stride (1, 2, 2),
padding (1, 3, 3), batch norm and ReLU (no max-pool); four stages of two BasicBlocks of
full 3×3×3 convolutions (64, 128, 256, 512 channels; stride 2 in time and space from
the second stage on; 1×1×1 convolution + batch norm on the changing shortcuts); global
average pooling; one fully connected layer. Same parameter count as torchvision's:
33,371,472 for 400 classes, 33,169,863 for 7.

Penultimate features: the 512-d average-pooled vector. Initialisation as torchvision:
Kaiming-normal (fan_out) convolutions, batch norm 1/0, linear N(0, 0.01) and bias 0.
"""

from __future__ import annotations

import torch
from torch import nn

from . import register_model


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv3d(inplanes, planes, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm3d(planes),
            nn.ReLU(inplace=True),
        )
        self.conv2 = nn.Sequential(
            nn.Conv3d(planes, planes, 3, stride=1, padding=1, bias=False),
            nn.BatchNorm3d(planes),
        )
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv2(self.conv1(x)) + residual)


class R3D(nn.Module):
    """torchvision-style VideoResNet with 3×3×3 convolutions (R3D)."""

    def __init__(self, layers=(2, 2, 2, 2), num_classes: int = 7):
        super().__init__()
        self.inplanes = 64
        self.stem = nn.Sequential(
            nn.Conv3d(3, 64, kernel_size=(3, 7, 7), stride=(1, 2, 2),
                      padding=(1, 3, 3), bias=False),
            nn.BatchNorm3d(64),
            nn.ReLU(inplace=True),
        )
        self.layer1 = self._make_layer(64, layers[0], stride=1)
        self.layer2 = self._make_layer(128, layers[1], stride=2)
        self.layer3 = self._make_layer(256, layers[2], stride=2)
        self.layer4 = self._make_layer(512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.feature_dim = 512 * BasicBlock.expansion
        self.head = nn.Linear(self.feature_dim, num_classes)
        self.num_classes = num_classes
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * BasicBlock.expansion:
            downsample = nn.Sequential(
                nn.Conv3d(self.inplanes, planes * BasicBlock.expansion, 1,
                          stride=stride, bias=False),
                nn.BatchNorm3d(planes * BasicBlock.expansion),
            )
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * BasicBlock.expansion
        layers += [BasicBlock(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))


@register_model
def r3d_18(num_classes: int = 7, **kwargs) -> R3D:
    """R3D-18 as torchvision's ``r3d_18``; 33,169,863 parameters for 7 classes."""
    return R3D(layers=(2, 2, 2, 2), num_classes=num_classes, **kwargs)
