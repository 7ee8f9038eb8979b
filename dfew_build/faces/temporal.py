"""Temporal normalisation of a clip's aligned faces to T frames (DESIGN.md §7).

``tim`` — the temporal interpolation model of Zhou et al. 2011 ("Towards a practical
lipreading system"), as DFEW used it. The n frames are the vertices of a path graph; the
non-trivial eigenvectors of its Laplacian are y_k(t) = sin(pi k t + pi (n - k) / (2n)),
k = 1..n-1, sampled at t = 1/n, 2/n, ..., 1, which embeds the clip as a curve. A linear
map W takes the embedding to the (centred, PCA'd) frames; new frames are W y(t) plus the
mean at T uniformly spaced t in [1/n, 1].

With every PCA component kept (n frames span at most n - 1 centred dimensions), the map
is exact and the whole model collapses to a fixed n x T weight matrix: each output frame
is a weighted sum of the input frames. ``tim_weights`` builds it; the result is the same
as running the PCA and least-squares fit explicitly (tests check this), at a fraction of
the cost. Output frames at the input t are the input frames, so a clip of exactly T
frames comes back unchanged.

``linear`` interpolates between the two nearest frames, ``uniform`` picks the nearest
frame at T evenly spaced positions (frames repeat when the clip is shorter than T).

``dfew`` picks frames as the test-time loader of DFEW's official code does
(``DFEW_Dataset.generate_index``, non-consecutive test sampling), so that a model trained
or scored on our store sees the frames theirs would: a clip of n >= T frames takes
``np.linspace(0, n - 1, T).astype(int)`` (truncated, not rounded, so the picks lean to the
earlier frame); a shorter clip is first looped — whole copies of 0..n-1 appended one
after another until there are at least T (ceil(T / n) copies) — and the same truncated
linspace picks T of those. n = 10: 0, 1, 2, 3, 5, 6, 7, 8, 0, 1, 2, 3, 5, 6, 7, 9 (time
jumps back to the start in the middle of the clip).
"""

from __future__ import annotations

import numpy as np

from dfew_build.errors import FacesError

METHODS = ("tim", "linear", "uniform", "dfew")


def tim_embedding(n: int, t: np.ndarray) -> np.ndarray:
    """[n - 1, len(t)]: the path-graph Laplacian eigenvectors y_k(t), k = 1..n-1."""
    k = np.arange(1, n, dtype=np.float64)[:, None]
    return np.sin(np.pi * k * np.asarray(t, np.float64)[None, :] + np.pi * (n - k) / (2 * n))


def tim_weights(n: int, frames: int) -> np.ndarray:
    """[n, frames]: output frame j = sum_i weights[i, j] * input frame i."""
    if n < 1 or frames < 1:
        raise FacesError(f"TIM needs at least one input and one output frame "
                         f"(got {n} -> {frames})")
    if n == 1:
        return np.ones((1, frames))
    t_in = np.arange(1, n + 1) / n
    t_out = np.linspace(1 / n, 1.0, frames)
    y_in = tim_embedding(n, t_in)     # [n-1, n], orthogonal rows, orthogonal to constants
    y_out = tim_embedding(n, t_out)   # [n-1, T]
    # Centred frames X0 = X (I - 11'/n); the exact map is W = X0 y_in^+ and
    # y_in^+ = y_in' (y_in y_in')^-1 with y_in y_in' diagonal.
    norms = np.sum(y_in * y_in, axis=1, keepdims=True)
    return np.full((n, frames), 1.0 / n) + y_in.T @ (y_out / norms)


def sample_positions(n: int, frames: int) -> np.ndarray:
    """T evenly spaced positions over frame indices 0..n-1."""
    return np.linspace(0.0, n - 1, frames) if frames > 1 else np.zeros(1)


def linear_weights(n: int, frames: int) -> np.ndarray:
    weights = np.zeros((n, frames))
    for j, pos in enumerate(sample_positions(n, frames)):
        lo = int(np.floor(pos))
        hi = min(lo + 1, n - 1)
        frac = pos - lo
        weights[lo, j] += 1.0 - frac
        weights[hi, j] += frac
    return weights


def uniform_indices(n: int, frames: int) -> np.ndarray:
    # floor(x + 0.5), not np.round: banker's rounding would skew the picks to even frames.
    return np.floor(sample_positions(n, frames) + 0.5).astype(np.int64)


def dfew_indices(n: int, frames: int = 16) -> np.ndarray:
    """[frames] int64 indices into 0..n-1: DFEW's official test-time sampler (see above)."""
    if n < 1 or frames < 1:
        raise FacesError(f"frame sampling needs at least one input and one output frame "
                         f"(got {n} -> {frames})")
    copies = -(-frames // n)                              # loop short clips: ceil(T / n)
    looped = np.tile(np.arange(n, dtype=np.int64), copies)
    picks = np.linspace(0, len(looped) - 1, frames).astype(int)   # truncation, as theirs
    return looped[picks]


def check_method(method: str) -> str:
    if method not in METHODS:
        raise FacesError(f"unknown temporal method {method!r}; choose one of "
                         f"{', '.join(METHODS)}")
    return method


def normalise_frames(clip: np.ndarray, frames: int = 16, method: str = "tim") -> np.ndarray:
    """[n, H, W, C] uint8 (any n >= 1) -> [frames, H, W, C] uint8."""
    check_method(method)
    clip = np.asarray(clip)
    if clip.ndim != 4 or len(clip) == 0:
        raise FacesError(f"temporal normalisation needs frames as [n, H, W, C] with n >= 1, "
                         f"got shape {clip.shape}")
    if frames < 1:
        raise FacesError(f"the number of output frames must be at least 1, got {frames}")
    n = len(clip)
    if method == "uniform":
        return clip[uniform_indices(n, frames)].copy()
    if method == "dfew":
        return clip[dfew_indices(n, frames)].copy()
    weights = tim_weights(n, frames) if method == "tim" else linear_weights(n, frames)
    flat = clip.reshape(n, -1).astype(np.float32)
    out = weights.T.astype(np.float32) @ flat
    # TIM's trigonometric curve can overshoot at abrupt changes: clip to the pixel range.
    np.clip(np.rint(out, out=out), 0, 255, out=out)
    return out.astype(np.uint8).reshape((frames,) + clip.shape[1:])
