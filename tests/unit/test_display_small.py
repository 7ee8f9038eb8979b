"""to_display_small: the shot detector's small frame, cheaper but the same picture as
to_display (issue 18: proposals in one decode pass within 1.3x of PySceneDetect)."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from dfew_build.media.decode import Display, to_display, to_display_small


def _frame(width: int, height: int, fmt: str = "yuv420p") -> "av.VideoFrame":
    rng = np.random.default_rng(width * height)
    # smooth colour gradients plus a little noise: what a film frame looks like to an
    # area filter (pure noise would make any two filters disagree)
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height)], -1)
    rgb = np.clip(rgb + rng.normal(0, 4, rgb.shape), 0, 255).astype(np.uint8)
    return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=fmt)


@pytest.mark.parametrize("width,height,display", [
    (1280, 720, Display()),
    (1920, 1080, Display(rotation=90)),
    (1280, 720, Display(rotation=270)),
    (1280, 720, Display(rotation=180)),
    (720, 576, Display(sar=Fraction(64, 45))),        # anamorphic PAL DVD
    (1282, 722, Display()),                            # sizes not multiples of 16
])
def test_same_size_orientation_and_colours_as_to_display(width, height, display):
    frame = _frame(width, height)
    reference = to_display(frame, display, max_side=256)
    small = to_display_small(frame, display, 256)
    assert small.dtype == np.uint8 and small.flags.c_contiguous
    assert abs(small.shape[0] - reference.shape[0]) <= 1
    assert abs(small.shape[1] - reference.shape[1]) <= 1
    h, w = min(small.shape[0], reference.shape[0]), min(small.shape[1], reference.shape[1])
    diff = np.abs(small[:h, :w].astype(int) - reference[:h, :w].astype(int))
    assert diff.mean() < 2.0, diff.mean()


def test_rotation_puts_the_top_of_the_picture_where_to_display_does():
    frame = _frame(1280, 720)
    for rotation in (90, 180, 270):
        display = Display(rotation=rotation)
        small = to_display_small(frame, display, 256).astype(int)
        reference = to_display(frame, display, max_side=256).astype(int)
        # the gradient's direction survives: correlate the two pictures
        h, w = min(small.shape[0], reference.shape[0]), min(small.shape[1], reference.shape[1])
        corr = np.corrcoef(small[:h, :w].ravel(), reference[:h, :w].ravel())[0, 1]
        assert corr > 0.99, (rotation, corr)


@pytest.mark.parametrize("fmt", ["yuv444p", "yuvj420p", "gray"])
def test_other_pixel_formats_take_the_exact_path(fmt):
    frame = _frame(640, 360, fmt)
    assert np.array_equal(to_display_small(frame, Display(), 128),
                          to_display(frame, Display(), max_side=128))


def test_a_small_shrink_takes_the_exact_path():
    frame = _frame(320, 240)
    assert np.array_equal(to_display_small(frame, Display(), 256),
                          to_display(frame, Display(), max_side=256))
