"""Face alignment: a similarity transform of the 5 landmarks onto the ArcFace template.

This is insightface's ``face_align.norm_crop`` (skimage's SimilarityTransform, i.e. the
Umeyama least-squares estimate, then ``cv2.warpAffine`` with a black border), written
without scikit-image. ``align_faces_torch`` does the same warp for a batch of faces with
``affine_grid``/``grid_sample``, on the GPU when asked.
"""

from __future__ import annotations

import numpy as np

from dfew_build.errors import FacesError

# insightface's arcface_dst: where the 5 points land in a 112x112 crop.
ARCFACE_TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                             [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float32)


def check_size(size: int) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size <= 0 or (
            size % 112 and size % 128):
        raise FacesError(f"face size {size!r} is not supported: use a multiple of 112 "
                         "(112, 224, ...) or of 128, as the ArcFace template is defined")
    return int(size)


def template(size: int = 112) -> np.ndarray:
    """The template for a size x size crop, scaled as insightface's estimate_norm does."""
    size = check_size(size)
    if size % 112 == 0:
        return ARCFACE_TEMPLATE * np.float32(size / 112.0)
    ratio = size / 128.0
    dst = ARCFACE_TEMPLATE * np.float32(ratio)
    dst[:, 0] += np.float32(8.0 * ratio)
    return dst


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 similarity (rotation, uniform scale, translation) mapping src onto dst in
    the least-squares sense (Umeyama 1991), as skimage.transform.SimilarityTransform."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / len(src)
    d = np.ones(2)
    if np.linalg.det(cov) < 0:
        d[1] = -1
    u, s, vt = np.linalg.svd(cov)
    rank = np.linalg.matrix_rank(cov)
    if rank == 0:  # all points coincide: no transform is defined
        return np.full((2, 3), np.nan)
    if rank == 1:
        if np.linalg.det(u) * np.linalg.det(vt) > 0:
            rot = u @ vt
        else:
            last = d[1]
            d[1] = -1
            rot = u @ np.diag(d) @ vt
            d[1] = last
    else:
        rot = u @ np.diag(d) @ vt
    var = src_c.var(0).sum()
    scale = (s @ d) / var if var > 0 else np.nan
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rot
    matrix[:, 2] = dst_mean - matrix[:, :2] @ src_mean
    return matrix


def estimate_norm(landmarks: np.ndarray, size: int = 112) -> np.ndarray:
    """The 2x3 matrix taking image coordinates to crop coordinates."""
    landmarks = np.asarray(landmarks, np.float32)
    if landmarks.shape != (5, 2):
        raise FacesError(f"alignment needs 5 landmarks as a [5, 2] array, got shape "
                         f"{landmarks.shape}")
    return similarity_transform(landmarks, template(size))


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    points = np.asarray(points, np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int = 112) -> np.ndarray:
    """The size x size aligned crop of one face (same channel order as image)."""
    import cv2

    matrix = estimate_norm(landmarks, size)
    return cv2.warpAffine(image, matrix, (size, size), borderValue=0.0)


def align_faces_torch(frames: np.ndarray, frame_index: np.ndarray, landmarks: np.ndarray,
                      size: int = 112, device: str = "cpu"):
    """Aligned crops of many faces at once: uint8 torch tensor [K, size, size, C].

    frames: uint8 [N, H, W, C] (all one size, e.g. a clip's decoded frames) or a torch
    tensor already on the device; frame_index[k] is the frame of face k, landmarks[k] its
    5 points. Bilinear sampling with zero padding, as cv2.warpAffine's default.
    """
    import torch
    import torch.nn.functional as F

    size = check_size(size)
    landmarks = np.asarray(landmarks, np.float32).reshape(-1, 5, 2)
    frame_index = np.asarray(frame_index, np.int64).reshape(-1)
    if len(frame_index) != len(landmarks):
        raise FacesError(f"{len(frame_index)} frame indices for {len(landmarks)} faces")
    images = frames if isinstance(frames, torch.Tensor) else torch.from_numpy(
        np.ascontiguousarray(frames))
    images = images.to(device, non_blocking=True)
    n, height, width, channels = images.shape
    if len(landmarks) == 0:
        return torch.zeros((0, size, size, channels), dtype=torch.uint8, device=device)
    # grid_sample wants, for each output pixel, the input position: the inverse warp,
    # expressed in normalised [-1, 1] coordinates (align_corners=False: pixel centres at
    # (i + 0.5) / W * 2 - 1), so pixel (x, y) in the crop samples M^-1 (x, y) in the frame.
    inverse = np.empty((len(landmarks), 3, 3))
    for k, points in enumerate(landmarks):
        full = np.vstack([estimate_norm(points, size), [0.0, 0.0, 1.0]])
        inverse[k] = np.linalg.inv(full)
    to_pixel = np.array([[size / 2, 0, size / 2 - 0.5], [0, size / 2, size / 2 - 0.5],
                         [0, 0, 1.0]])
    to_norm = np.array([[2 / width, 0, 1 / width - 1], [0, 2 / height, 1 / height - 1],
                        [0, 0, 1.0]])
    theta = (to_norm @ inverse @ to_pixel)[:, :2, :]
    theta = torch.as_tensor(theta, dtype=torch.float32, device=device)
    grid = F.affine_grid(theta, [len(landmarks), channels, size, size], align_corners=False)
    chosen = images[torch.as_tensor(frame_index, device=device)]
    source = chosen.permute(0, 3, 1, 2).float()
    out = F.grid_sample(source, grid, mode="bilinear", padding_mode="zeros",
                        align_corners=False)
    return out.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()
