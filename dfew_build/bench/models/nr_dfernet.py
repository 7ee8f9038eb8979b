"""NR-DFERNet (Li, Sui, Zhu & Zhao, ACM MM 2022): ``nr_dfernet``.

A noise-robust network for dynamic facial expressions, in three stages (the paper's §3):

1. **Spatial stage.** Every frame of the clip ``[B, 3, T, 112, 112]`` (T = 16, U = 8 × V = 2
   dynamic sampling, DESIGN.md §8) goes through "three convolutional layers" that give a
   primary feature map F_i of C × H × W. The **dynamic–static fusion module** (DSF, §3.3)
   then works on the first T − 1 frames:

   * dynamic branch: F_i^D = F_{i+1} − F_i (eq. 1), three 3×3 convolutional blocks, the
     first with stride 2 → F_i^D' of C × H/2 × W/2;
   * static branch: F_i^S = Conv-D(F_i) (eq. 2, a 3×3 convolution with stride 2), flattened
     into HW/4 tokens of width C, a learnable position embedding added (eq. 3), M = 2
     transformer encoders, reshaped back → F_i^S';
   * fusion: F_i^DS = F_i^D' + F_i^S' (eq. 4).

2. **Temporal stage (§3.4).** Each F_i^DS is flattened to a C·HW/4 vector P_i; the
   **dynamic class token** is their mean T_d = Σ P_i / (T − 1) (eq. 5), a learnable
   position embedding E_p^T ∈ R^{T × C·HW/4} is added to [T_d, P_1 … P_{T−1}], and N = 4
   transformer encoders with 4 attention heads run over them. The output at T_d is the
   penultimate feature (``forward_features``, 4096-d at 112 × 112); ``head`` is the FC layer
   giving logits^seq.

3. **Decision stage (§3.5).** The **snippet-based filter**: a window of L = 3 frames slid with
   stride S = 2 over the T − 1 fused frame vectors gives N_s = ⌊(T − 1 − L)/S⌋ + 1 = 7
   snippets (eq. 6 gives the same 7 for the T = 16 sampled frames); each snippet, with its
   own dynamic class token (the mean of its frames) and its frames' position embeddings,
   goes through the same temporal transformer and FC layer. If some snippet i is
   confidently non-neutral — P_MAX^i > μ1 = 0.7 and P_NU^i < μ2 = 0.05 — the sequence's
   neutral probability is set to zero (eq. 7). :meth:`NRDFERNet.forward_decision` returns
   logits^seq and the snippet logits, :func:`snippet_filter` applies eq. 7; ``forward`` is
   logits^seq, so ``forward(x) == head(forward_features(x))`` like every model here. The
   trainer applies the filter at evaluation (``--snippet-filter``, on by default for this
   model) and reports its effect.

**What the paper leaves open, and what was chosen.** The paper gives neither C, H, W nor
the layers' widths. The choices below reproduce its cost, 6.33 GFLOPs at 16 × 112 × 112
(Table 3/5; its FLOPs are multiply-accumulates, as for the baselines of Table 5 that match
ours), and all six rows of its Table 3 (M = 1..3 spatial × N = 4, 6 temporal encoders)
within 0.3 %:

* "three convolutional layers": a ResNet-18 stem (7×7 convolution, stride 2, batch norm,
  ReLU, 3×3 max-pool, stride 2) and three stages of one basic residual block each, 64,
  128 (stride 2) and 256 (stride 2) channels → C × H × W = 256 × 7 × 7 (stride 16);
* dynamic branch: three basic residual blocks of 256 channels (the first with stride 2 and
  a 1×1 projection shortcut) → 256 × 4 × 4; static Conv-D: 3×3 convolution, stride 2,
  batch norm, ReLU → 256 × 4 × 4, i.e. HW/4 = 16 tokens, and 4096-d frame vectors;
* encoders: pre-norm (LayerNorm, multi-head self-attention, residual; LayerNorm, MLP
  with GELU, residual), 4 heads of 64 (inner width 256) in both transformers; MLP width
  512 in the spatial one (dim 256) and 1024 in the temporal one (dim 4096). These are the
  widths that make one more encoder cost what Table 3 says: +0.13 G per spatial encoder
  (15 frames × 16 tokens) and +0.555 G per temporal encoder (16 sequence + 7 × 4 snippet
  tokens);
* the snippets reuse the spatial stage's fused frame vectors (no second spatial pass);
  counting their temporal pass is what Table 3's increments require.

The count: 6.31 GMACs for the decision pass (sequence + 7 snippets; ``gmacs`` counts it
through :meth:`NRDFERNet.forward_decision`), 4.90 G for ``forward`` alone. Other frame sizes
work: both DSF branches are average-pooled to the 4 × 4 grid of the 112 × 112 input
(an identity there), so the temporal width stays 4096.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import register_model
from .blocks import BasicBlock, Encoder

#: Snippet-based filter defaults (NR-DFERNet §4.2 and Table 2): window L, stride S, μ1, μ2.
SNIPPET_WINDOW, SNIPPET_STRIDE, MU1, MU2 = 3, 2, 0.7, 0.05
#: 0-based index of neutral in DFEW's order (happy, sad, neutral, angry, surprise, disgust,
#: fear), the class the filter zeroes.
NEUTRAL = 2


def snippet_windows(steps: int, window: int = SNIPPET_WINDOW,
                    stride: int = SNIPPET_STRIDE) -> list[range]:
    """The frame indices of each snippet: windows of ``window`` over ``steps`` positions,
    ``stride`` apart, ⌊(steps − window)/stride⌋ + 1 of them (NR-DFERNet eq. 6)."""
    if steps < window:
        raise ValueError(f"a snippet of {window} frames needs at least {window} frames, "
                         f"got {steps}")
    return [range(s, s + window) for s in range(0, steps - window + 1, stride)]


def snippet_filter(seq_probs: torch.Tensor, snippet_probs: torch.Tensor, *, mu1: float = MU1,
                   mu2: float = MU2, neutral: int = NEUTRAL):
    """NR-DFERNet's snippet-based filter (eq. 7) on softmax probabilities.

    ``seq_probs`` ``[B, C]``: the sequences' probabilities; ``snippet_probs`` ``[B, N_s, C]``:
    their snippets'. A sequence is *filtered* when some snippet i has
    P_MAX^i > μ1 and P_NU^i < μ2 (a confidently non-neutral snippet): its neutral
    probability is set to zero and the others renormalised to sum to 1 (the arg-max, the
    decision, is the one of logits^seq' in the paper; the renormalisation only keeps the
    reported probabilities a distribution). Other sequences keep logits^seq.

    Returns ``(probs [B, C], filtered [B] bool)``.
    """
    if snippet_probs.dim() != 3 or snippet_probs.shape[0] != seq_probs.shape[0]:
        raise ValueError(f"snippet probabilities must be [B, N_s, C] for B = "
                         f"{seq_probs.shape[0]}, got {list(snippet_probs.shape)}")
    top = snippet_probs.max(dim=2).values
    confident = (top > mu1) & (snippet_probs[..., neutral] < mu2)
    filtered = confident.any(dim=1)
    out = seq_probs.clone()
    out[filtered, neutral] = 0
    out = out / out.sum(dim=1, keepdim=True).clamp_min(torch.finfo(out.dtype).tiny)
    return out, filtered


class NRDFERNet(nn.Module):
    """NR-DFERNet; see the module docstring for the architecture and the chosen widths."""

    snippet_filter_default = True

    def __init__(self, num_classes: int = 7, frames: int = 16, widths=(64, 128, 256),
                 grid: int = 4, spatial_depth: int = 2, temporal_depth: int = 4,
                 heads: int = 4, dim_head: int = 64, spatial_mlp: int = 512,
                 temporal_mlp: int = 1024, snippet_window: int = SNIPPET_WINDOW,
                 snippet_stride: int = SNIPPET_STRIDE, mu1: float = MU1, mu2: float = MU2,
                 neutral: int = NEUTRAL, dropout: float = 0.0):
        super().__init__()
        self.mu1, self.mu2, self.neutral = float(mu1), float(mu2), int(neutral)
        self.snippet_window, self.snippet_stride = snippet_window, snippet_stride
        if frames < 2:
            raise ValueError(f"NR-DFERNet needs at least 2 frames (it uses their differences), "
                             f"got {frames}")
        self.frames, self.grid, self.num_classes = frames, grid, num_classes
        self.windows = snippet_windows(frames - 1, snippet_window, snippet_stride)
        w0, w1, channels = widths
        self.stem = nn.Sequential(
            nn.Conv2d(3, w0, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(w0),
            nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2, padding=1),
            BasicBlock(w0, w0), BasicBlock(w0, w1, 2), BasicBlock(w1, channels, 2))
        self.dynamic = nn.Sequential(BasicBlock(channels, channels, 2),
                                     BasicBlock(channels, channels), BasicBlock(channels, channels))
        self.conv_d = nn.Sequential(
            nn.Conv2d(channels, channels, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
        self.spatial_pos = nn.Parameter(torch.zeros(1, grid * grid, channels))
        self.spatial = nn.Sequential(*[Encoder(channels, heads, dim_head, spatial_mlp, dropout)
                                       for _ in range(spatial_depth)])
        self.feature_dim = dim = channels * grid * grid
        self.temporal_pos = nn.Parameter(torch.zeros(1, frames, dim))
        self.temporal = nn.Sequential(*[Encoder(dim, heads, dim_head, temporal_mlp, dropout)
                                        for _ in range(temporal_depth)])
        self.head = nn.Linear(dim, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
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
        nn.init.trunc_normal_(self.spatial_pos, std=0.02)
        nn.init.trunc_normal_(self.temporal_pos, std=0.02)

    # -- the spatial stage ----------------------------------------------------------------

    def fused_frames(self, x: torch.Tensor) -> torch.Tensor:
        """The DSF output of every frame but the last, flattened: ``[B, T − 1, C·g·g]``."""
        b, c, t, h, w = x.shape
        if t != self.frames:
            raise ValueError(f"nr_dfernet was built for clips of {self.frames} frames "
                             f"(U × V dynamic sampling), got {t}")
        maps = self.stem(x.transpose(1, 2).reshape(b * t, c, h, w))
        _, ch, fh, fw = maps.shape
        maps = maps.reshape(b, t, ch, fh, fw)
        diff = (maps[:, 1:] - maps[:, :-1]).reshape(b * (t - 1), ch, fh, fw)     # eq. 1
        dynamic = self._to_grid(self.dynamic(diff))
        static = self._to_grid(self.conv_d(maps[:, :-1].reshape(b * (t - 1), ch, fh, fw)))
        tokens = static.flatten(2).transpose(1, 2) + self.spatial_pos               # eq. 3
        static = self.spatial(tokens).transpose(1, 2).reshape_as(dynamic)
        return (dynamic + static).reshape(b, t - 1, -1)                            # eq. 4

    def _to_grid(self, maps: torch.Tensor) -> torch.Tensor:
        if maps.shape[-2:] == (self.grid, self.grid):
            return maps
        return F.adaptive_avg_pool2d(maps, self.grid)

    # -- the temporal stage ---------------------------------------------------------------

    def _temporal(self, frames: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Dynamic class token (eq. 5) + frame vectors ``[..., n, D]``, position embeddings,
        N encoders; returns the output at the class token ``[..., D]``. ``positions``
        ``[..., n]``: the frames' 0-based indices among the T − 1; the token takes
        position 0, frame i position i + 1."""
        token = frames.mean(dim=-2, keepdim=True)
        index = torch.cat([torch.zeros_like(positions[..., :1]), positions + 1], dim=-1)
        seq = torch.cat([token, frames], dim=-2) + self.temporal_pos[0, index]
        lead = seq.shape[:-2]
        out = self.temporal(seq.reshape(-1, *seq.shape[-2:]))[:, 0]
        return out.reshape(*lead, -1)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 3, T, H, W]`` → the dynamic class token's output ``[B, feature_dim]``."""
        frames = self.fused_frames(x)
        return self._temporal(frames, torch.arange(frames.shape[1], device=frames.device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))

    # -- the decision stage ---------------------------------------------------------------

    def forward_decision(self, x: torch.Tensor, with_features: bool = False):
        """logits^seq ``[B, C]`` and the snippets' logits ``[B, N_s, C]`` from one spatial
        pass (the input of :meth:`decide`), and the features ``[B, D]`` too when
        ``with_features``. The snippets share the temporal transformer and the FC layer
        with the sequence."""
        frames = self.fused_frames(x)
        steps = torch.arange(frames.shape[1], device=frames.device)
        features = self._temporal(frames, steps)
        windows = torch.tensor([list(w) for w in self.windows], device=frames.device)
        snippets = frames[:, windows]                                  # [B, N_s, L, D]
        snippet_logits = self.head(self._temporal(snippets, windows.expand(len(frames), -1, -1)))
        out = (self.head(features), snippet_logits)
        return (*out, features) if with_features else out

    def decide(self, logits: torch.Tensor, snippet_logits: torch.Tensor):
        """The decision stage: :func:`snippet_filter` with this model's μ1, μ2 and neutral
        class on the softmax of ``forward_decision``'s logits. ``(probs [B, C], filtered [B])``."""
        return snippet_filter(logits.float().softmax(dim=1),
                              snippet_logits.float().softmax(dim=2), mu1=self.mu1, mu2=self.mu2,
                              neutral=self.neutral)

    def filter_settings(self) -> dict:
        """L, S, μ1, μ2 and the neutral class, for reports."""
        return {"window": self.snippet_window, "stride": self.snippet_stride,
                "snippets": len(self.windows), "mu1": self.mu1, "mu2": self.mu2,
                "neutral": self.neutral}


@register_model
def nr_dfernet(num_classes: int = 7, **kwargs) -> NRDFERNet:
    """NR-DFERNet: DSF (M = 2 spatial encoders), dynamic class token (N = 4 temporal
    encoders, 4 heads), snippet-based filter (L = 3, S = 2, μ1 = 0.7, μ2 = 0.05)."""
    return NRDFERNet(num_classes=num_classes, **kwargs)
