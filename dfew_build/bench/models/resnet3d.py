"""3D ResNet-18 of Hara et al. (CVPR 2018, kenshohara/3D-ResNets-PyTorch), "3D Resnet18" in DFEW.

As in that repository's ``resnet.generate_model(18)`` with its defaults: conv1 7×7×7,
stride (1, 2, 2), padding 3, no bias; batch norm, ReLU; max-pool 3×3×3 stride 2
padding 1; four stages of two BasicBlocks (3×3×3 convolutions; 64, 128, 256, 512
channels; stride 2 from the second stage on, in time too); shortcut type B (a 1×1×1
convolution + batch norm where the shape changes, identity elsewhere); global average
pooling; one fully connected layer. 33,207,495 parameters for 7 classes.

Penultimate features (``forward_features``): the 512-d average-pooled vector.
Initialisation as in the repository: Kaiming-normal (fan_out) convolutions, batch norm
weight 1 and bias 0, the default PyTorch init for the linear layer.
"""

from __future__ import annotations

import torch
from torch import nn

from . import register_model


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv3d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm3d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv3d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm3d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + residual)


class ResNet3D(nn.Module):
    """Hara et al.'s 3D ResNet with BasicBlocks and shortcut type B."""

    def __init__(self, layers=(2, 2, 2, 2), block_inplanes=(64, 128, 256, 512),
                 num_classes: int = 7, in_channels: int = 3, conv1_t_size: int = 7,
                 conv1_t_stride: int = 1, no_max_pool: bool = False):
        super().__init__()
        self.in_planes = block_inplanes[0]
        self.conv1 = nn.Conv3d(in_channels, self.in_planes,
                               kernel_size=(conv1_t_size, 7, 7),
                               stride=(conv1_t_stride, 2, 2),
                               padding=(conv1_t_size // 2, 3, 3), bias=False)
        self.bn1 = nn.BatchNorm3d(self.in_planes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = (nn.Identity() if no_max_pool
                        else nn.MaxPool3d(kernel_size=3, stride=2, padding=1))
        self.layer1 = self._make_layer(block_inplanes[0], layers[0], stride=1)
        self.layer2 = self._make_layer(block_inplanes[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block_inplanes[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block_inplanes[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.feature_dim = block_inplanes[3] * BasicBlock.expansion
        self.head = nn.Linear(self.feature_dim, num_classes)
        self.num_classes = num_classes
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.in_planes != planes * BasicBlock.expansion:
            downsample = nn.Sequential(  # shortcut type B
                nn.Conv3d(self.in_planes, planes * BasicBlock.expansion, 1,
                          stride=stride, bias=False),
                nn.BatchNorm3d(planes * BasicBlock.expansion),
            )
        layers = [BasicBlock(self.in_planes, planes, stride, downsample)]
        self.in_planes = planes * BasicBlock.expansion
        layers += [BasicBlock(self.in_planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))


@register_model
def resnet3d_18(num_classes: int = 7, **kwargs) -> ResNet3D:
    """Hara et al.'s 3D ResNet-18 (shortcut B); 33,207,495 parameters for 7 classes."""
    return ResNet3D(layers=(2, 2, 2, 2), num_classes=num_classes, **kwargs)
