"""Temporal normalisation to T frames: TIM (Zhou et al. 2011), linear, uniform, and DFEW's
test-time loader sampler (``dfew``)."""

from __future__ import annotations

import numpy as np
import pytest

from dfew_build.errors import FacesError
from dfew_build.faces.temporal import (METHODS, dfew_indices, normalise_frames, tim_embedding,
                                       tim_weights, uniform_indices)


def smooth_clip(positions: np.ndarray, size: int = 32) -> np.ndarray:
    """A bright blob gliding across a gradient, sampled at the given (continuous) times."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    frames = []
    for t in positions:
        cx, cy = 8 + 16 * t, 12 + 6 * np.sin(np.pi * t)
        blob = 150 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 5.0 ** 2))
        base = 40 + 60 * xx / size
        frame = np.stack([base + blob, base + 0.5 * blob, 100 + 0 * blob], -1)
        frames.append(frame)
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8)


def reference_tim(clip: np.ndarray, frames: int) -> np.ndarray:
    """TIM spelled out: PCA of the centred frames, the path-graph Laplacian's eigenvectors
    as the embedding, a least-squares linear map between them, resampled at new t."""
    n = len(clip)
    x = clip.reshape(n, -1).astype(np.float64).T             # d x n
    mean = x.mean(axis=1, keepdims=True)
    u, s, _ = np.linalg.svd(x - mean, full_matrices=False)
    u = u[:, s > 1e-9 * s.max()]                               # PCA basis, all components
    xp = u.T @ (x - mean)                                      # r x n
    laplacian = 2 * np.eye(n) - np.eye(n, k=1) - np.eye(n, k=-1)
    laplacian[0, 0] = laplacian[-1, -1] = 1
    _, vectors = np.linalg.eigh(laplacian)
    y = vectors[:, 1:].T                                       # (n-1) x n, constant dropped
    embedding = tim_embedding(n, np.arange(1, n + 1) / n)
    # The closed-form eigenvectors are the Laplacian's, up to sign and scale.
    for k in range(n - 1):
        row = y[k] / np.linalg.norm(y[k])
        ours = embedding[k] / np.linalg.norm(embedding[k])
        assert min(np.abs(row - ours).max(), np.abs(row + ours).max()) < 1e-8
    w = xp @ np.linalg.pinv(embedding)                         # r x (n-1)
    new = tim_embedding(n, np.linspace(1 / n, 1, frames))
    out = (u @ (w @ new) + mean).T
    return np.clip(np.rint(out), 0, 255).astype(np.uint8).reshape((frames,) + clip.shape[1:])


@pytest.mark.parametrize("method", ["tim", "linear", "uniform", "dfew"])
def test_exactly_t_frames_come_back_unchanged(method):
    clip = np.random.default_rng(0).integers(0, 256, (16, 8, 8, 3), dtype=np.uint8)
    out = normalise_frames(clip, 16, method)
    assert out.dtype == np.uint8 and out.shape == clip.shape
    assert np.abs(out.astype(int) - clip).max() <= (1 if method == "tim" else 0)


def test_tim_weights_reproduce_the_input_at_its_own_times():
    for n in (2, 5, 16, 40):
        assert np.allclose(tim_weights(n, n), np.eye(n), atol=1e-9)
        # Every output frame is an affine combination of the inputs.
        assert np.allclose(tim_weights(n, 16).sum(axis=0), 1.0)


def test_tim_equals_the_explicit_pca_formulation():
    rng = np.random.default_rng(3)
    for n, frames in ((24, 16), (7, 16), (16, 16), (40, 8)):
        clip = smooth_clip(np.linspace(0, 1, n)) // 2 + rng.integers(0, 60, (n, 32, 32, 3),
                                                                      dtype=np.uint8)
        ours = normalise_frames(clip, frames, "tim").astype(int)
        assert np.abs(ours - reference_tim(clip, frames)).max() <= 1


@pytest.mark.parametrize("n", [40, 23, 9, 5])
@pytest.mark.parametrize("method", ["tim", "linear"])
def test_smooth_motion_is_interpolated_close_to_the_truth(method, n):
    clip = smooth_clip(np.linspace(0, 1, n))
    truth = smooth_clip(np.linspace(0, 1, 16)).astype(int)
    out = normalise_frames(clip, 16, method).astype(int)
    error = np.abs(out - truth).mean()
    # Coarse sampling (5 frames of a 16 px glide) blurs any interpolator; dense is near exact.
    # (Nearest-frame picking, for comparison: 0.21 at n=40, 2.1 at n=5.)
    assert error < (0.3 if n >= 20 else 1.2), error
    # Much closer than ignoring time (the mean frame everywhere).
    assert error < 0.5 * np.abs(truth - clip.mean(axis=0)).mean()


def test_clips_shorter_than_t_are_upsampled():
    clip = smooth_clip(np.linspace(0, 1, 5))
    for method in ("tim", "linear", "uniform"):
        out = normalise_frames(clip, 16, method)
        assert out.shape == (16, 32, 32, 3)
        assert np.abs(out[0].astype(int) - clip[0]).max() <= 1
        assert np.abs(out[-1].astype(int) - clip[-1]).max() <= 1
    single = normalise_frames(clip[:1], 16, "tim")
    assert (single == clip[0]).all()


def test_uniform_picks_evenly_spaced_frames():
    assert uniform_indices(31, 16).tolist() == list(range(0, 31, 2))
    assert uniform_indices(4, 8).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]


def test_bad_input_is_an_error():
    with pytest.raises(FacesError) as exc:
        normalise_frames(np.zeros((4, 8, 8, 3), np.uint8), 16, "cubic")
    assert str(exc.value) == ("unknown temporal method 'cubic'; choose one of tim, linear, "
                              "uniform, dfew")
    with pytest.raises(FacesError) as exc:
        normalise_frames(np.zeros((0, 8, 8, 3), np.uint8), 16)
    assert str(exc.value) == ("temporal normalisation needs frames as [n, H, W, C] with "
                              "n >= 1, got shape (0, 8, 8, 3)")


# -- DFEW's official test-time sampler ------------------------------------------------

def reference_dfew_sampler(n, frames=16):
    """DFEW_Dataset.generate_index (test phase, non-consecutive) as a plain loop: a clip
    shorter than T is looped by appending whole copies until it has at least T indices;
    then T indices are picked at np.linspace positions, truncated by astype(int)."""
    indices = list(range(n))
    if n < frames:
        looped = []
        while len(looped) < frames:
            looped += indices
        indices = looped
    picks = np.linspace(0, len(indices) - 1, frames).astype(int)
    return [indices[p] for p in picks]


def test_dfew_sampler_loops_a_ten_frame_clip_as_dfews_loader():
    # issue 16: 10 frames -> two copies (20 indices), linspace(0, 19, 16) = 0, 1.27, 2.53,
    # 3.8, 5.07, 6.33, 7.6, 8.87, 10.13, … truncated -> 0, 1, 2, 3, 5, 6, 7, 8, 10, …
    assert dfew_indices(10).tolist() == [0, 1, 2, 3, 5, 6, 7, 8, 0, 1, 2, 3, 5, 6, 7, 9]


@pytest.mark.parametrize("n, expected", [
    (16, list(range(16))),
    (31, list(range(0, 31, 2))),                                 # exact even steps
    (40, [0, 2, 5, 7, 10, 13, 15, 18, 20, 23, 26, 28, 31, 33, 36, 39]),  # truncated, not rounded
    (17, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16]),
    (5, [0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 4]),          # four copies (20)
    (3, [0, 1, 2, 0, 1, 2, 0, 1, 0, 1, 2, 0, 1, 2, 0, 2]),          # six copies (18)
    (1, [0] * 16),
])
def test_dfew_sampler_other_lengths(n, expected):
    assert dfew_indices(n).tolist() == expected == reference_dfew_sampler(n)


def test_dfew_sampler_agrees_with_the_loop_for_every_length():
    for n in range(1, 120):
        for frames in (8, 16):
            assert dfew_indices(n, frames).tolist() == reference_dfew_sampler(n, frames), n
    # and differs from the rounded `uniform` picks (40 frames: 2.6 -> 2, not 3)
    assert dfew_indices(40).tolist() != uniform_indices(40, 16).tolist()


def test_dfew_method_picks_those_frames():
    assert "dfew" in METHODS
    clip = np.arange(10, dtype=np.uint8).reshape(10, 1, 1, 1) * np.ones((1, 2, 2, 3), np.uint8)
    out = normalise_frames(clip, 16, "dfew")
    assert out.shape == (16, 2, 2, 3) and out.dtype == np.uint8
    assert out[:, 0, 0, 0].tolist() == [0, 1, 2, 3, 5, 6, 7, 8, 0, 1, 2, 3, 5, 6, 7, 9]


def test_preprocess_offers_the_dfew_sampler(cli):
    result = cli("preprocess", "--help")
    assert result.exit_code == 0
    assert "tim|linear|uniform|dfew" in result.output
