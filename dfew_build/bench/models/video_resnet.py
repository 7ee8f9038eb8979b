"""R3D-18, MC3-18 and R(2+1)D-18 (Tran et al., CVPR 2018, "A closer look at
spatiotemporal convolutions"): torchvision's VideoResNet family in plain PyTorch
(torchvision does not work with the CPU torch here). They differ only in their stem and
in how a block's 3×3×3 convolution is built, so they share one skeleton, as in
torchvision. DFEW's official code trains all three from torchvision with a new
``num_classes`` fc layer.

* ``r3d_18``: stem 3×7×7 convolution, stride (1, 2, 2), padding (1, 3, 3); full 3×3×3
  convolutions. 33,371,472 parameters for 400 classes (torchvision), 33,169,863 for 7.
* ``mc3_18`` (mixed convolutions): the R3D stem and full 3×3×3 convolutions in the
  first stage, then 1×3×3 convolutions (no temporal extent, stride (1, 2, 2), 1×1×1
  shortcuts with stride (1, 2, 2)) in stages 2-4, so time is never downsampled.
  11,695,440 parameters for 400 classes (torchvision), 11,493,831 for 7.
* ``r2plus1d_18``: (2+1)D stem (1×7×7 to 45 channels, then 3×1×1 to 64); each 3×3×3
  convolution factorised into 1×3×3 spatial + 3×1×1 temporal with the intermediate width
  ``Mi = (in·out·27) // (in·9 + 3·out)`` that keeps a full convolution's parameter count.
  31,505,325 parameters for 400 classes (torchvision), 31,303,716 for 7.

All: four stages of two BasicBlocks (64, 128, 256, 512 channels; stride 2 from the second
stage on, in time too except for MC3's 2D stages; 1×1×1 convolution + batch norm on
changing shortcuts),
global average pooling, one fully connected layer. Penultimate features: the 512-d pooled
vector. Initialisation as torchvision: Kaiming-normal (fan_out) convolutions, batch norm
1/0, linear N(0, 0.01) and bias 0.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from . import register_model

# (in_planes, out_planes, stride, block_inplanes): torchvision sizes both (2+1)D convs of a
# block from the block's input width, so the builder is told it.
ConvBuilder = Callable[[int, int, int, int], nn.Module]


def conv3x3x3(in_planes: int, out_planes: int, stride: int, block_inplanes: int) -> nn.Module:
    return nn.Conv3d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False)


def conv_no_temporal(in_planes: int, out_planes: int, stride: int,
                     block_inplanes: int) -> nn.Module:
    """torchvision's Conv3DNoTemporal: a 1×3×3 convolution, spatial stride only."""
    return nn.Conv3d(in_planes, out_planes, kernel_size=(1, 3, 3),
                     stride=(1, stride, stride), padding=(0, 1, 1), bias=False)


def downsample_stride(conv: ConvBuilder, stride: int):
    """The shortcut's stride for a block built by ``conv`` (torchvision's
    ``get_downsample_stride``): no temporal stride for the 2D-in-time convolution."""
    return (1, stride, stride) if conv is conv_no_temporal else stride


def conv2plus1d(in_planes: int, out_planes: int, stride: int, block_inplanes: int) -> nn.Module:
    midplanes = (block_inplanes * out_planes * 27) // (block_inplanes * 9 + 3 * out_planes)
    return nn.Sequential(
        nn.Conv3d(in_planes, midplanes, kernel_size=(1, 3, 3), stride=(1, stride, stride),
                  padding=(0, 1, 1), bias=False),
        nn.BatchNorm3d(midplanes),
        nn.ReLU(inplace=True),
        nn.Conv3d(midplanes, out_planes, kernel_size=(3, 1, 1), stride=(stride, 1, 1),
                  padding=(1, 0, 0), bias=False),
    )


class BasicBlock(nn.Module):
    def __init__(self, conv: ConvBuilder, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Sequential(conv(inplanes, planes, stride, inplanes),
                                   nn.BatchNorm3d(planes), nn.ReLU(inplace=True))
        self.conv2 = nn.Sequential(conv(planes, planes, 1, inplanes), nn.BatchNorm3d(planes))
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv2(self.conv1(x)) + residual)


def r3d_stem() -> nn.Module:
    return nn.Sequential(
        nn.Conv3d(3, 64, kernel_size=(3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3),
                  bias=False),
        nn.BatchNorm3d(64),
        nn.ReLU(inplace=True),
    )


def r2plus1d_stem() -> nn.Module:
    return nn.Sequential(
        nn.Conv3d(3, 45, kernel_size=(1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3),
                  bias=False),
        nn.BatchNorm3d(45),
        nn.ReLU(inplace=True),
        nn.Conv3d(45, 64, kernel_size=(3, 1, 1), stride=(1, 1, 1), padding=(1, 0, 0),
                  bias=False),
        nn.BatchNorm3d(64),
        nn.ReLU(inplace=True),
    )


class VideoResNet(nn.Module):
    def __init__(self, stem: nn.Module, conv, layers=(2, 2, 2, 2), num_classes: int = 7):
        """``conv``: one ConvBuilder for every stage, or a sequence of four (MC3)."""
        super().__init__()
        convs = tuple(conv) if isinstance(conv, (list, tuple)) else (conv,) * 4
        if len(convs) != 4:
            raise ValueError(f"give one convolution builder or four, got {len(convs)}")
        self.inplanes = 64
        self.stem = stem
        self.layer1 = self._make_layer(convs[0], 64, layers[0], stride=1)
        self.layer2 = self._make_layer(convs[1], 128, layers[1], stride=2)
        self.layer3 = self._make_layer(convs[2], 256, layers[2], stride=2)
        self.layer4 = self._make_layer(convs[3], 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.feature_dim = 512
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

    def _make_layer(self, conv: ConvBuilder, planes: int, blocks: int,
                    stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(
                nn.Conv3d(self.inplanes, planes, 1, stride=downsample_stride(conv, stride),
                          bias=False),
                nn.BatchNorm3d(planes),
            )
        layers = [BasicBlock(conv, self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [BasicBlock(conv, planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))


@register_model
def r3d_18(num_classes: int = 7, **kwargs) -> VideoResNet:
    """R3D-18 as torchvision's ``r3d_18``; 33,169,863 parameters for 7 classes."""
    return VideoResNet(r3d_stem(), conv3x3x3, (2, 2, 2, 2), num_classes, **kwargs)


@register_model
def mc3_18(num_classes: int = 7, **kwargs) -> VideoResNet:
    """MC3-18 as torchvision's ``mc3_18`` (3D first stage, 2D-in-time stages 2-4);
    11,493,831 parameters for 7 classes."""
    convs = (conv3x3x3, conv_no_temporal, conv_no_temporal, conv_no_temporal)
    return VideoResNet(r3d_stem(), convs, (2, 2, 2, 2), num_classes, **kwargs)


@register_model
def r2plus1d_18(num_classes: int = 7, **kwargs) -> VideoResNet:
    """R(2+1)D-18 as torchvision's ``r2plus1d_18``; 31,303,716 parameters for 7 classes."""
    return VideoResNet(r2plus1d_stem(), conv2plus1d, (2, 2, 2, 2), num_classes, **kwargs)
