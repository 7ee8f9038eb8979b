"""Former-DFER (Zhao & Liu, ACM MM 2021): ``former_dfer``.

The dynamic facial expression recognition transformer, the strongest baseline of
NR-DFERNet's Table 5 (DFEW, dynamic sampling: UAR 53.69, WAR 65.70, 9.11 GFLOPs):

* **CS-Former** (convolutional spatial transformer), per frame: a ResNet-18 (7×7 stem with
  stride 2, batch norm, ReLU, 3×3 max-pool; four stages of two basic blocks, 64/128/256/512
  channels) with **spatial encoders** after the fourth convolution block (conv4_x): its
  256 × 7 × 7 map (at 112 × 112) becomes 49 tokens of width 256, a learnable position
  embedding is added, the encoders (pre-norm, 8 heads of 32, MLP 512, GELU) run over
  them, and the tokens are folded back into the map that conv5_x continues from; global
  average pooling gives a 512-d vector per frame.
* **T-Former** (temporal transformer): a learnable class token before the 16 frame
  vectors, a learnable position embedding over the 17, M = 3 temporal encoders (8 heads
  of 64, MLP 1024); the class token's output is the penultimate feature
  (``forward_features``, 512-d) and ``head`` the FC layer.

**What is unknown, and what was chosen.** The number N of spatial encoders: the authors'
released code stacks one (N = 1: 18,031,943 parameters, 8.30 GMACs at 16 × 112 × 112, 9 %
below the published 9.11). The published cost is reproduced by N = 3 encoders at the same
place (9.16 GMACs counting every multiply-accumulate; 9.10 G counting only the layers
``thop`` counts, which leaves out the attention products — the counter NR-DFERNet's code
uses), so ``former_dfer`` uses N = 3 (19,084,615 parameters); ``spatial_depth=1`` gives the
released network. Position embeddings and the class token are initialised N(0, 1) as in
the released code (``embedding_std``; N(0, 0.02²) learns the motion-only test classes
far slower). At other frame sizes the spatial position embedding is resized to the map
(bilinear), so any size works; the T-Former takes up to ``frames`` (16) frames.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import register_model
from .blocks import BasicBlock, Encoder


def _stage(inplanes: int, planes: int, stride: int) -> nn.Sequential:
    return nn.Sequential(BasicBlock(inplanes, planes, stride), BasicBlock(planes, planes))


class FormerDFER(nn.Module):
    """CS-Former (ResNet-18 + spatial encoders after conv4_x) and T-Former."""

    def __init__(self, num_classes: int = 7, frames: int = 16, widths=(64, 128, 256, 512),
                 spatial_depth: int = 3, spatial_heads: int = 8, spatial_dim_head: int = 32,
                 spatial_mlp: int = 512, temporal_depth: int = 3, temporal_heads: int = 8,
                 temporal_dim_head: int = 64, temporal_mlp: int = 1024, grid: int = 7,
                 embedding_std: float = 1.0, dropout: float = 0.0):
        super().__init__()
        w1, w2, w3, w4 = widths
        self.frames, self.grid, self.num_classes = frames, grid, num_classes
        self.stem = nn.Sequential(
            nn.Conv2d(3, w1, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(w1),
            nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2, padding=1))
        self.layer1 = _stage(w1, w1, 1)
        self.layer2 = _stage(w1, w2, 2)
        self.layer3 = _stage(w2, w3, 2)
        self.layer4 = _stage(w3, w4, 2)
        self.spatial_pos = nn.Parameter(torch.zeros(1, grid * grid, w3))
        self.spatial = nn.Sequential(*[
            Encoder(w3, spatial_heads, spatial_dim_head, spatial_mlp, dropout)
            for _ in range(spatial_depth)])
        self.cls_token = nn.Parameter(torch.zeros(1, 1, w4))
        self.temporal_pos = nn.Parameter(torch.zeros(1, frames + 1, w4))
        self.temporal = nn.Sequential(*[
            Encoder(w4, temporal_heads, temporal_dim_head, temporal_mlp, dropout)
            for _ in range(temporal_depth)])
        self.feature_dim = w4
        self.head = nn.Linear(w4, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.LayerNorm)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        for p in (self.spatial_pos, self.cls_token, self.temporal_pos):
            nn.init.normal_(p, std=embedding_std)

    def _spatial_pos(self, h: int, w: int) -> torch.Tensor:
        if (h, w) == (self.grid, self.grid):
            return self.spatial_pos
        grid = self.spatial_pos.reshape(1, self.grid, self.grid, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(h, w), mode="bilinear", align_corners=False)
        return grid.flatten(2).transpose(1, 2)

    def frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        """CS-Former: ``[N, 3, H, W]`` frames → ``[N, 512]``."""
        x = self.layer3(self.layer2(self.layer1(self.stem(frames))))
        n, c, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2) + self._spatial_pos(h, w)
        x = self.spatial(tokens).transpose(1, 2).reshape(n, c, h, w)
        return self.layer4(x).mean(dim=(2, 3))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 3, T, H, W]`` → the class token's output of the T-Former ``[B, 512]``."""
        b, c, t, h, w = x.shape
        if t > self.frames:
            raise ValueError(f"former_dfer's temporal position embedding covers {self.frames} "
                             f"frames, got {t}")
        frames = self.frame_features(x.transpose(1, 2).reshape(b * t, c, h, w)).reshape(b, t, -1)
        seq = torch.cat([self.cls_token.expand(b, -1, -1), frames], dim=1)
        seq = seq + self.temporal_pos[:, :t + 1]
        return self.temporal(seq)[:, 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))


@register_model
def former_dfer(num_classes: int = 7, **kwargs) -> FormerDFER:
    """Former-DFER: CS-Former (ResNet-18, 3 spatial encoders after conv4_x) + T-Former
    (3 temporal encoders, class token); 9.16 GMACs at 16 × 112 × 112 (published 9.11)."""
    return FormerDFER(num_classes=num_classes, **kwargs)
