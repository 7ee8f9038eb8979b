"""C3D (Tran et al., ICCV 2015), the network of the DFEW benchmark's Table 4.

Eight 3×3×3 convolutions (64, 128, 256×2, 512×2, 512×2 channels), five max-pools
(the first spatial only, the last padded (0, 1, 1) so that a 16×112×112 clip ends at
512×1×4×4 = 8192), fc6 8192→4096, fc7 4096→4096 and fc8 4096→num_classes, with ReLU
and dropout 0.5 after fc6 and fc7.

* ``c3d``: no batch norm (Tran et al.'s network); 78,024,455 parameters for 7 classes.
* ``c3d_bn``: the C3D of DFEW's official code, a BatchNorm3d between every convolution
  and its ReLU (convolutions keep their bias); 78,029,959 parameters for 7 classes
  (+2 × 2,752 batch-norm weights and biases).

Both run at 112×112 only (fc6 expects the 8192 features of a 16×112×112 clip), DFEW's
reference input size for them.

Penultimate features (``forward_features``): the ReLU output of fc7, 4096-d. The head
is dropout + fc8. Convolutions are initialised with Kaiming-normal (the usual PyTorch
C3D ports do the same); the linear layers keep PyTorch's default.
"""

from __future__ import annotations

import torch
from torch import nn

from . import register_model


def _conv(cin: int, cout: int) -> nn.Conv3d:
    return nn.Conv3d(cin, cout, kernel_size=3, padding=1)


class C3D(nn.Module):
    """C3D for 16×112×112 clips; ``batch_norm=True`` puts a BatchNorm3d after every
    convolution (DFEW's official variant, ``c3d_bn``)."""

    def __init__(self, num_classes: int = 7, dropout: float = 0.5, batch_norm: bool = False):
        super().__init__()

        def unit(cin: int, cout: int) -> list[nn.Module]:
            norm = [nn.BatchNorm3d(cout)] if batch_norm else []
            return [_conv(cin, cout), *norm, nn.ReLU(inplace=True)]

        self.features = nn.Sequential(
            *unit(3, 64),
            nn.MaxPool3d(kernel_size=(1, 2, 2), stride=(1, 2, 2)),
            *unit(64, 128),
            nn.MaxPool3d(kernel_size=2, stride=2),
            *unit(128, 256), *unit(256, 256),
            nn.MaxPool3d(kernel_size=2, stride=2),
            *unit(256, 512), *unit(512, 512),
            nn.MaxPool3d(kernel_size=2, stride=2),
            *unit(512, 512), *unit(512, 512),
            nn.MaxPool3d(kernel_size=2, stride=2, padding=(0, 1, 1)),
        )
        self.fc6 = nn.Linear(8192, 4096)
        self.fc7 = nn.Linear(4096, 4096)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(4096, num_classes))
        self.feature_dim = 4096
        self.num_classes = num_classes
        for m in self.features.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = torch.flatten(x, 1)
        if x.shape[1] != self.fc6.in_features:
            raise ValueError(
                f"C3D expects 16x112x112 clips (8192 features after pool5), "
                f"got {x.shape[1]} features"
            )
        x = self.dropout(torch.relu(self.fc6(x)))
        return torch.relu(self.fc7(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))


@register_model
def c3d(num_classes: int = 7, **kwargs) -> C3D:
    """C3D (Tran et al. 2015), fc6 8192→4096; 78,024,455 parameters for 7 classes."""
    return C3D(num_classes=num_classes, **kwargs)


@register_model
def c3d_bn(num_classes: int = 7, **kwargs) -> C3D:
    """DFEW's official C3D: batch norm after every convolution; 78,029,959 parameters for
    7 classes."""
    return C3D(num_classes=num_classes, batch_norm=True, **kwargs)
