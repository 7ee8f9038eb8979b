"""R(2+1)D-18 (Tran et al., CVPR 2018), "R(2+1)D-18" of the DFEW anchors.

The torchvision ``r2plus1d_18`` architecture in plain PyTorch: a (2+1)D stem
(1×7×7 convolution to 45 channels, stride (1, 2, 2); batch norm, ReLU; 3×1×1
convolution to 64; batch norm, ReLU); four stages of two BasicBlocks whose
convolutions are factorised into a 1×3×3 spatial convolution, batch norm, ReLU and a
3×1×1 temporal convolution, with the intermediate width
``Mi = (in·out·27) // (in·9 + 3·out)`` that keeps the parameter count of a full 3×3×3
convolution; stride 2 in time and space from the second stage on; 1×1×1 shortcut
convolutions; global average pooling; one fully connected layer. Same parameter count
as torchvision's: 31,505,325 for 400 classes, 31,303,716 for 7.

Penultimate features: the 512-d average-pooled vector. Initialisation as torchvision.
"""

from __future__ import annotations

import torch
from torch import nn

from . import register_model


class Conv2Plus1D(nn.Sequential):
    def __init__(self, in_planes: int, out_planes: int, midplanes: int, stride: int = 1):
        super().__init__(
            nn.Conv3d(in_planes, midplanes, kernel_size=(1, 3, 3), stride=(1, stride, stride),
                      padding=(0, 1, 1), bias=False),
            nn.BatchNorm3d(midplanes),
            nn.ReLU(inplace=True),
            nn.Conv3d(midplanes, out_planes, kernel_size=(3, 1, 1), stride=(stride, 1, 1),
                      padding=(1, 0, 0), bias=False),
        )


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None):
        super().__init__()
        midplanes = (inplanes * planes * 3 * 3 * 3) // (inplanes * 3 * 3 + 3 * planes)
        self.conv1 = nn.Sequential(
            Conv2Plus1D(inplanes, planes, midplanes, stride),
            nn.BatchNorm3d(planes),
            nn.ReLU(inplace=True),
        )
        self.conv2 = nn.Sequential(
            Conv2Plus1D(planes, planes, midplanes),
            nn.BatchNorm3d(planes),
        )
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv2(self.conv1(x)) + residual)


class R2Plus1D(nn.Module):
    """torchvision-style VideoResNet with (2+1)D convolutions."""

    def __init__(self, layers=(2, 2, 2, 2), num_classes: int = 7):
        super().__init__()
        self.inplanes = 64
        self.stem = nn.Sequential(
            nn.Conv3d(3, 45, kernel_size=(1, 7, 7), stride=(1, 2, 2),
                      padding=(0, 3, 3), bias=False),
            nn.BatchNorm3d(45),
            nn.ReLU(inplace=True),
            nn.Conv3d(45, 64, kernel_size=(3, 1, 1), stride=(1, 1, 1),
                      padding=(1, 0, 0), bias=False),
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
def r2plus1d_18(num_classes: int = 7, **kwargs) -> R2Plus1D:
    """R(2+1)D-18 as torchvision's ``r2plus1d_18``; 31,303,716 parameters for 7 classes."""
    return R2Plus1D(layers=(2, 2, 2, 2), num_classes=num_classes, **kwargs)
