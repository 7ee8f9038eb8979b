"""LFER-LDL (Liu, Luo & Xu, Application Research of Computers 39(8), 2022): ``lfer_ldl``.

A lightweight *image* network for facial expressions — ShuffleNet-V2 1.0× with a new
output module and a parallel depthwise-convolution residual module — trained with
label-distribution learning. Here it is applied to every frame of a clip and the frame
logits are averaged (a frame model inside the same training loop); :class:`LFERNet2d`
(``lfer_ldl_2d()``) is the 2D network on its own, for static images.

The 2D network, for a 224 × 224 image (the paper's §1 and Fig. 1):

* **Conv1**: 3×3 convolution, stride 2, 29 channels, batch norm, ReLU, 3×3 max-pool with
  stride 2 → F_1 of 29 × 56 × 56. The paper gives the output channels of Conv1…Conv5 as
  29/116/232/464/1024 (ShuffleNet-V2 1.0× has 24 in Conv1); 29 = 116 / 4 is what lets
  PDWRes reach Stage 2's width with depthwise convolutions alone (below).
* **Stage 2, 3, 4**: 4, 8 and 4 ShuffleNet-V2 units (Ma et al., ECCV 2018), 116, 232 and
  464 channels, the first unit of each with stride 2 (both branches), the others splitting
  the channels in half; channel shuffle with 2 groups after each unit.
* **PDWRes** (§1.2, Fig. 4), after Stage 2: F_1 is cut into four quadrants (29 × 28 × 28);
  each goes through two 3×3 depthwise convolutions, each followed by batch norm and ReLU6
  — the first with stride 2 and a channel multiplier of 4 (29 → 116), the second 116 → 116
  — giving 116 × 14 × 14; the four are stitched back (116 × 28 × 28) and added to the
  Stage-2 output: F = F_Stage2 + F_PDWRes (eq. 3). Each quadrant has its own weights
  (four parallel branches: +10,208 parameters, which is the paper's +0.01 M).
* **Conv5**: 1×1 convolution to 1024 channels, batch norm, ReLU; global average pooling.
* **Improved output module** (§1.1, Fig. 2) instead of the fully connected layer: a
  depthwise-separable convolution with Mish — a 3×3 depthwise convolution (padding 1) on
  the pooled 1024 × 1 × 1 map, batch norm, Mish (the penultimate features,
  ``forward_features``, 1024-d), then the pointwise 1×1 convolution to the classes, which on
  a 1 × 1 map is exactly a linear layer (``head``). On the pooled map only the depthwise
  kernel's centre tap meets data; the module is placed after the pooling because that is
  what the paper's cost says: +0.02 M parameters and +0.03 MFLOPs over the FC layer (on the
  7 × 7 Conv5 map the same convolution would cost +0.9 MFLOPs).

**Cost.** 1,283,031 parameters for 7 classes (the paper: 1.26 M) and 148.40 M
multiply-accumulates per 224 × 224 image = 296.8 MFLOPs (the paper: 294.60 MFLOPs). The
paper's FLOPs are **2 × MACs**: its ShuffleNet-V2 baseline is 291.48 MFLOPs, twice the 146 M
multiply-adds of ShuffleNet-V2 1.0× (Ma et al.; ours: 143.9 M with a 7-class FC layer,
146.8 M with the 29-channel Conv1), and its PDWRes adds 3.09 MFLOPs where the two
depthwise convolutions do 1.64 M multiply-accumulates. What the paper does not say, and
was chosen: where the output module's depthwise convolution sits (after the pooling, see
above), and that the quadrants do not share weights.

**For clips** (``lfer_ldl``): the 2D network runs on each of the T frames;
``forward_features`` is the mean of the frames' 1024-d features and ``head`` the shared
pointwise layer, so ``head(forward_features(x))`` *is* the mean of the frame logits (the
layer is linear). The reference input size is DFEW's 112 × 112 (at 112, F_1 is 28 × 28 and
the quadrants 14 × 14; any side divisible by 16 works exactly, others are padded and
pooled to Stage 2's size); the paper's count is for one 224 × 224 image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import register_model

#: Output channels of Conv1, Stage 2, 3, 4 and Conv5 (the paper's §1) and units per stage.
CHANNELS = (29, 116, 232, 464, 1024)
REPEATS = (4, 8, 4)


def channel_shuffle(x: torch.Tensor, groups: int = 2) -> torch.Tensor:
    b, c, h, w = x.shape
    return x.reshape(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class ShuffleUnit(nn.Module):
    """ShuffleNet-V2 unit: stride 1 (split, one branch, concat) or 2 (two branches)."""

    def __init__(self, inp: int, out: int, stride: int):
        super().__init__()
        self.stride = stride
        half = out // 2
        if stride > 1:
            self.branch1 = nn.Sequential(
                nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False), nn.BatchNorm2d(inp),
                nn.Conv2d(inp, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU(inplace=True))
            into = inp
        else:
            self.branch1 = None
            into = half
        self.branch2 = nn.Sequential(
            nn.Conv2d(into, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU(inplace=True),
            nn.Conv2d(half, half, 3, stride, 1, groups=half, bias=False), nn.BatchNorm2d(half),
            nn.Conv2d(half, half, 1, bias=False), nn.BatchNorm2d(half), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.branch1 is None:
            keep, work = x.chunk(2, dim=1)
            out = torch.cat([keep, self.branch2(work)], dim=1)
        else:
            out = torch.cat([self.branch1(x), self.branch2(x)], dim=1)
        return channel_shuffle(out)


class PDWRes(nn.Module):
    """Parallel depthwise-convolution residual module: F_1 (C1 × H × W) → four quadrants,
    two 3×3 depthwise convolutions each (stride 2 and ×``out // C1`` channels, then out → out;
    batch norm + ReLU6 after each, separate weights per quadrant), stitched back:
    ``out × H/2 × W/2``. The four quadrants are stacked on the channel axis so that grouped
    convolutions run them as one (the same arithmetic and parameters as four branches)."""

    def __init__(self, inp: int, out: int):
        super().__init__()
        if out % inp:
            raise ValueError(f"PDWRes needs Stage 2's width ({out}) to be a multiple of "
                             f"Conv1's ({inp})")
        self.out = out
        self.body = nn.Sequential(
            nn.Conv2d(4 * inp, 4 * out, 3, stride=2, padding=1, groups=4 * inp, bias=False),
            nn.BatchNorm2d(4 * out), nn.ReLU6(inplace=True),
            nn.Conv2d(4 * out, 4 * out, 3, padding=1, groups=4 * out, bias=False),
            nn.BatchNorm2d(4 * out), nn.ReLU6(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h % 2 or w % 2:
            x = F.pad(x, (0, w % 2, 0, h % 2))
            h, w = x.shape[-2:]
        h2, w2 = h // 2, w // 2
        quadrants = [x[..., :h2, :w2], x[..., :h2, w2:], x[..., h2:, :w2], x[..., h2:, w2:]]
        y = self.body(torch.cat(quadrants, dim=1))
        tl, tr, bl, br = y.split(self.out, dim=1)
        return torch.cat([torch.cat([tl, tr], dim=3), torch.cat([bl, br], dim=3)], dim=2)


class LFERNet2d(nn.Module):
    """The LFER-LDL image network: ``[N, 3, H, W]`` → logits ``[N, num_classes]``."""

    def __init__(self, num_classes: int = 7, channels=CHANNELS, repeats=REPEATS,
                 pdwres: bool = True, output_module: bool = True):
        super().__init__()
        c1, c2, c3, c4, c5 = channels
        self.conv1 = nn.Sequential(nn.Conv2d(3, c1, 3, 2, 1, bias=False), nn.BatchNorm2d(c1),
                                   nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
        stages, inp = [], c1
        for out, n in zip((c2, c3, c4), repeats):
            stages.append(nn.Sequential(ShuffleUnit(inp, out, 2),
                                        *[ShuffleUnit(out, out, 1) for _ in range(n - 1)]))
            inp = out
        self.stage2, self.stage3, self.stage4 = stages
        self.pdwres = PDWRes(c1, c2) if pdwres else None
        self.conv5 = nn.Sequential(nn.Conv2d(c4, c5, 1, bias=False), nn.BatchNorm2d(c5),
                                   nn.ReLU(inplace=True))
        # improved output module: depthwise 3×3 + BN + Mish; its pointwise part is `head`
        self.output = nn.Sequential(nn.Conv2d(c5, c5, 3, padding=1, groups=c5, bias=False),
                                    nn.BatchNorm2d(c5), nn.Mish()) if output_module else None
        self.feature_dim = c5
        self.head = nn.Linear(c5, num_classes)
        self.num_classes = num_classes
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.01)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        f1 = self.conv1(x)
        x = self.stage2(f1)
        if self.pdwres is not None:
            local = self.pdwres(f1)
            if local.shape[-2:] != x.shape[-2:]:
                local = F.adaptive_avg_pool2d(local, x.shape[-2:])
            x = x + local
        x = self.conv5(self.stage4(self.stage3(x)))
        x = x.mean(dim=(2, 3), keepdim=True)
        if self.output is not None:
            x = self.output(x)
        return x.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))


class LFERLDLVideo(nn.Module):
    """:class:`LFERNet2d` on every frame; the frame logits are averaged."""

    def __init__(self, num_classes: int = 7, **kwargs):
        super().__init__()
        self.net = LFERNet2d(num_classes=num_classes, **kwargs)
        self.feature_dim = self.net.feature_dim
        self.num_classes = num_classes

    @property
    def head(self) -> nn.Module:
        """The 2D network's pointwise classifier (linear: the mean of the frame logits is
        the logits of the mean frame feature)."""
        return self.net.head

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 3, T, H, W]`` → the mean over frames of the 2D features ``[B, 1024]``."""
        b, c, t, h, w = x.shape
        frames = self.net.forward_features(x.transpose(1, 2).reshape(b * t, c, h, w))
        return frames.reshape(b, t, -1).mean(dim=1)

    def frame_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The logits of every frame ``[B, T, num_classes]``."""
        b, c, t, h, w = x.shape
        return self.net(x.transpose(1, 2).reshape(b * t, c, h, w)).reshape(b, t, -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))


def lfer_ldl_2d(num_classes: int = 7, **kwargs) -> LFERNet2d:
    """The LFER-LDL image network on its own (images ``[N, 3, 224, 224]`` in the paper);
    not in the clip registry."""
    return LFERNet2d(num_classes=num_classes, **kwargs)


@register_model
def lfer_ldl(num_classes: int = 7, **kwargs) -> LFERLDLVideo:
    """LFER-LDL (ShuffleNet-V2 + PDWRes + depthwise-separable Mish output module) per
    frame, frame logits averaged; 1,283,031 parameters for 7 classes."""
    return LFERLDLVideo(num_classes=num_classes, **kwargs)
