"""Alignment onto the ArcFace template: agrees with insightface's norm_crop algorithm
(skimage SimilarityTransform + cv2.warpAffine), with insightface itself when installed, and
the batched torch path agrees with the cv2 path."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dfew_build.errors import FacesError
from dfew_build.faces.align import (ARCFACE_TEMPLATE, align_face, align_faces_torch,
                                    estimate_norm, similarity_transform, template,
                                    transform_points)

# skimage 0.26 deprecates SimilarityTransform.estimate, which insightface still calls.
pytestmark = pytest.mark.filterwarnings("ignore:`estimate` is deprecated:FutureWarning")


@pytest.fixture(scope="module")
def real_face(sample_media):
    """A real photo and MTCNN's 5 points on it."""
    from dfew_build.faces.detectors import create_detector

    image = cv2.imread(str(sample_media / "single_face.jpg"))
    faces = create_detector("mtcnn", threads=1).detect([image])[0]
    assert len(faces) >= 1
    return image, faces.landmarks[0]


def random_similarity(rng) -> np.ndarray:
    angle, scale = rng.uniform(-0.6, 0.6), rng.uniform(0.3, 3.0)
    c, s = scale * np.cos(angle), scale * np.sin(angle)
    return np.array([[c, -s, rng.uniform(-200, 200)], [s, c, rng.uniform(-200, 200)]])


def reference_norm_crop(image, landmarks, size):
    """insightface.utils.face_align.norm_crop, as its source does it."""
    from skimage import transform as trans

    ratio = size / 112.0
    dst = ARCFACE_TEMPLATE * ratio
    tform = trans.SimilarityTransform()
    tform.estimate(landmarks, dst)
    matrix = tform.params[0:2, :]
    return cv2.warpAffine(image, matrix, (size, size), borderValue=0.0), matrix


def test_template_is_arcface_and_scales_for_224():
    assert np.allclose(template(112), [[38.2946, 51.6963], [73.5318, 51.5014],
                                       [56.0252, 71.7366], [41.5493, 92.3655],
                                       [70.7299, 92.2041]])
    assert np.allclose(template(224), 2 * template(112))
    assert np.allclose(template(128)[:, 0], template(112)[:, 0] + 8.0)


def test_exact_similarity_is_recovered():
    rng = np.random.default_rng(0)
    for _ in range(20):
        truth = random_similarity(rng)
        src = rng.uniform(0, 500, (5, 2))
        dst = transform_points(src, truth)
        assert np.allclose(similarity_transform(src, dst), truth, atol=1e-8)


def test_estimate_matches_skimage_on_noisy_points():
    from skimage import transform as trans

    rng = np.random.default_rng(1)
    for _ in range(50):
        src = rng.uniform(0, 800, (5, 2))
        dst = transform_points(src, random_similarity(rng)) + rng.normal(0, 5, (5, 2))
        tform = trans.SimilarityTransform()
        tform.estimate(src, dst)
        assert np.allclose(similarity_transform(src, dst), tform.params[:2], atol=1e-6)


@pytest.mark.parametrize("size", [112, 224])
def test_crop_agrees_with_norm_crop_reference(real_face, size):
    image, landmarks = real_face
    ours = align_face(image, landmarks, size)
    reference, matrix = reference_norm_crop(image, landmarks, size)
    assert ours.shape == (size, size, 3) and ours.dtype == np.uint8
    assert np.allclose(estimate_norm(landmarks, size), matrix, atol=1e-6)
    assert np.abs(ours.astype(int) - reference.astype(int)).mean() < 0.05
    moved = transform_points(landmarks, estimate_norm(landmarks, size))
    assert np.abs(moved - transform_points(landmarks, matrix)).max() < 1.0
    # A least-squares fit of a real face: near the template, not on it.
    assert np.abs(moved - template(size)).max() < size / 112 * 10


@pytest.mark.parametrize("size", [112, 224])
def test_crop_agrees_with_installed_insightface(real_face, size):
    from insightface.utils import face_align  # the [test] extra installs it

    image, landmarks = real_face
    theirs = face_align.norm_crop(image, landmarks, image_size=size)
    ours = align_face(image, landmarks, size)
    assert np.abs(ours.astype(int) - theirs.astype(int)).mean() < 0.05
    moved_ours = transform_points(landmarks, estimate_norm(landmarks, size))
    moved_theirs = transform_points(landmarks, face_align.estimate_norm(landmarks, size))
    assert np.abs(moved_ours - moved_theirs).max() < 1.0


@pytest.mark.parametrize("size", [112, 224])
def test_torch_batch_agrees_with_cv2(real_face, size):
    image, landmarks = real_face
    rng = np.random.default_rng(2)
    # Several faces from two frames of different content: the batch indexes frames.
    frames = np.stack([image, np.ascontiguousarray(image[:, ::-1])])
    mirrored = landmarks.copy()
    mirrored[:, 0] = image.shape[1] - 1 - mirrored[:, 0]
    mirrored = mirrored[[1, 0, 2, 4, 3]]  # left/right swap under mirroring
    marks = np.stack([landmarks, mirrored, landmarks + rng.normal(0, 2, (5, 2))])
    index = [0, 1, 0]
    batch = align_faces_torch(frames, index, marks, size).numpy()
    assert batch.shape == (3, size, size, 3) and batch.dtype == np.uint8
    for k in range(3):
        single = align_face(frames[index[k]], marks[k], size)
        assert np.abs(batch[k].astype(int) - single.astype(int)).mean() < 0.1


def test_torch_batch_of_no_faces_is_empty():
    out = align_faces_torch(np.zeros((1, 50, 60, 3), np.uint8), [], np.zeros((0, 5, 2)))
    assert tuple(out.shape) == (0, 112, 112, 3)


def test_unsupported_size_and_bad_landmarks_are_errors():
    with pytest.raises(FacesError) as exc:
        template(100)
    assert str(exc.value) == ("face size 100 is not supported: use a multiple of 112 "
                              "(112, 224, ...) or of 128, as the ArcFace template is defined")
    with pytest.raises(FacesError) as exc:
        estimate_norm(np.zeros((4, 2)))
    assert str(exc.value) == "alignment needs 5 landmarks as a [5, 2] array, got shape (4, 2)"
