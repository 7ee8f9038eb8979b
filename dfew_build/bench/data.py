"""Training data: labelled clips with their folds and votes, and the two clip datasets.

* :class:`TensorClipDataset` reads the packed tensor store
  ``WS/faces/tensors/{size}px_{T}f.npy`` (uint8 ``[N, T, H, W, 3]`` RGB, memory-mapped)
  through its index ``{size}px_{T}f_index.csv`` (``row,clip_id``; only listed rows are valid).
* :class:`FrameClipDataset` reads the aligned frames ``WS/faces/frames/{clip:05d}/…jpg`` with
  dynamic sampling: U segments × V consecutive frames (default 8 × 2 = 16), a random offset
  inside each segment in training, the segment's centre in evaluation.

Both return ``(clip [3, T, H, W] float32 normalised, label 0..6, votes [7] float32, clip_id)``.
Randomness (crop, flip, frame offsets) comes from a generator seeded by
``(seed, epoch, index)``: the same clip gets the same augmentation in the same epoch whatever
the number of loader workers, and a resumed run replays exactly what an uninterrupted one
would have seen. :class:`EpochSampler` does the same for the order (shuffled or
class-balanced oversampling) and shards it over DistributedDataParallel ranks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, Sampler

from dfew_build.emotions import NAMES, NUM_EMOTIONS
from dfew_build.errors import FacesError, SplitError, TrainingError

# ImageNet statistics: the convention of the 3D CNN ports; models train from scratch anyway.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
VOTE_COLUMNS = [f"votes_{name}" for name in NAMES]


# -- labelled clips -------------------------------------------------------------------------

def load_folds(session, scheme: str) -> pd.Series:
    """clip_id -> fold of a stored scheme; TrainingError naming the fix when there is none."""
    from dfew_build.splits import list_schemes, load_folds as stored_folds

    try:
        return stored_folds(session, scheme)
    except SplitError:
        known = list_schemes(session)
        hint = f" (stored schemes: {', '.join(known)})" if known else ""
        raise TrainingError(
            f"no folds for scheme {scheme!r} in this workspace{hint}: run `dfew-build folds` "
            "first (or `dfew-build import-dfew` for the official split, scheme "
            "'dfew-official')") from None


def load_labelled_clips(workspace, scheme: str | None, threshold: int = 6, *,
                        plurality: bool = False) -> pd.DataFrame:
    """The clips of a fold scheme: index clip_id, columns ``label`` (0..6), ``fold`` and the
    7 vote counts ``votes_happy`` … ``votes_fear`` (for ``ldl``).

    A clip's label is its single label (l_k > threshold); clips without one are left out,
    unless ``plurality`` (for schemes made with `folds --subset all`): then they take their
    plurality vote, the label those folds were stratified by. ``scheme=None``: every
    single-labelled clip, fold 0 (scoring a model on a new dataset)."""
    from dfew_build.labels.consensus import single_labels
    from dfew_build.labels.matrix import vote_matrix

    with workspace.session() as session:
        matrix = vote_matrix(session)
        if scheme is None:
            folds = pd.Series(0, index=matrix.index, dtype="int64")
        else:
            folds = load_folds(session, scheme)
            matrix = matrix[matrix.index.isin(folds.index)]
    from dfew_build.labels.views import raters_per_clip

    # The same n as `labels` and `folds` (l_k * n > r * n_i), not DFEW's fixed 10.
    labels = single_labels(matrix, threshold, raters=raters_per_clip(workspace.config))
    if scheme is not None and plurality:
        top_vote = pd.Series(matrix.to_numpy().argmax(axis=1) + 1, index=matrix.index)
        labels = labels.reindex(matrix.index).fillna(top_vote).astype("int64")
    table = pd.DataFrame({"label": labels - 1})
    table["fold"] = folds.reindex(table.index)
    table = table.dropna(subset=["fold"]).astype({"fold": "int64", "label": "int64"})
    votes = matrix.reindex(table.index).to_numpy(dtype=np.float32)
    for column, values in zip(VOTE_COLUMNS, votes.T):
        table[column] = values
    table.index.name = "clip_id"
    table = table.sort_index()
    if scheme is not None:
        # What the scheme holds beyond the labelled table, so a fold emptied by the label
        # rule is explained (use --plurality) instead of looking absent from the scheme.
        unlabelled = folds[~folds.index.isin(table.index)]
        table.attrs["scheme_folds"] = sorted(int(f) for f in folds.unique())
        table.attrs["unlabelled_by_fold"] = {int(f): int(n)
                                             for f, n in unlabelled.value_counts().items()}
    return table


def missing_folds_hint(table: pd.DataFrame, folds: list[int]) -> str | None:
    """Why scheme folds `folds` have no training clip, with the fix, or None when the
    scheme itself has no such fold."""
    unlabelled = table.attrs.get("unlabelled_by_fold", {})
    held = [f for f in folds if unlabelled.get(f)]
    if not held:
        return None
    clips = sum(unlabelled[f] for f in held)
    return (f"fold(s) {', '.join(map(str, held))} of this scheme hold {clips} clip(s), none "
            "single-labelled (more than the threshold of votes for one emotion); for folds "
            "made with `dfew-build folds --subset all`, train with --plurality (each clip "
            "takes its plurality vote, the label those folds were stratified by)")


def split_fold(table: pd.DataFrame, fold: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """DFEW's protocol: train on the folds ≠ k, test on fold k."""
    folds = sorted(table["fold"].unique())
    if fold not in folds:
        hint = missing_folds_hint(table, [fold])
        if hint:
            raise TrainingError(hint)
        raise TrainingError(f"fold {fold} has no clips in this scheme (folds: "
                            f"{', '.join(map(str, folds)) or 'none'})")
    train = table[table["fold"] != fold]
    if train.empty:
        raise TrainingError(f"empty training set: every single-labelled clip of this scheme "
                            f"is in fold {fold}; split them with `dfew-build folds --k 5`")
    return train, table[table["fold"] == fold]


# -- the tensor store -----------------------------------------------------------------------

def store_paths(tensors_dir: Path, size: int, frames: int) -> tuple[Path, Path]:
    stem = f"{size}px_{frames}f"
    return Path(tensors_dir) / f"{stem}.npy", Path(tensors_dir) / f"{stem}_index.csv"


class TensorStore:
    """The packed store, opened lazily (a memory map does not survive pickling to workers).

    Reading and validation are ``dfew_build.faces.store.open_tensor_store``'s (the writer's
    own reader: header, duplicates, torn last line, shape); its errors become
    TrainingErrors with the same text.
    """

    def __init__(self, tensors_dir: Path, size: int = 112, frames: int = 16):
        self.path, self.index_path = store_paths(tensors_dir, size, frames)
        self.size, self.frames = size, frames
        if not self.path.is_file() or not self.index_path.is_file():
            missing = self.path if not self.path.is_file() else self.index_path
            raise TrainingError(f"no tensor store for {size}px × {frames} frames ({missing} "
                                f"not found): run `dfew-build preprocess --size {size} "
                                f"--frames {frames}` first")
        _array, index = self._open()
        self.rows = dict(zip(index["clip_id"].astype(int), index["row"].astype(int)))
        self._array = None

    def _open(self):
        from dfew_build.faces.store import open_tensor_store as read_store

        try:
            return read_store(self.path.parent, self.size, self.frames)
        except FacesError as exc:
            raise TrainingError(str(exc)) from None

    def __contains__(self, clip_id) -> bool:
        return int(clip_id) in self.rows

    def clip(self, clip_id: int) -> np.ndarray:
        """uint8 ``[T, H, W, 3]`` RGB (a view into the memory map)."""
        if self._array is None:
            self._array = self._open()[0]
        return self._array[self.rows[int(clip_id)]]

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_array"] = None
        return state


def open_tensor_store(tensors_dir: Path, size: int = 112, frames: int = 16) -> TensorStore:
    return TensorStore(tensors_dir, size, frames)


# -- augmentation ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Augment:
    """Training augmentation, one draw per clip (the same for all its frames).

    ``crop_scale``: the crop's side is a uniform fraction in [crop_scale, 1] of the frame,
    at a uniform position, resized back (1 disables cropping). ``flip``: horizontal flip
    with probability ½.
    """

    crop_scale: float = 0.875
    flip: bool = True


def to_tensor(frames: np.ndarray, size: int, *, train: bool, augment: Augment,
              rng: np.random.Generator) -> torch.Tensor:
    """uint8 ``[T, H, W, 3]`` RGB -> float ``[3, T, size, size]``, normalised."""
    x = torch.from_numpy(np.array(frames)).permute(0, 3, 1, 2)  # a copy: [T, 3, H, W]
    height, width = x.shape[-2:]
    if train and augment.crop_scale < 1:
        scale = rng.uniform(augment.crop_scale, 1.0)
        ch, cw = max(1, round(height * scale)), max(1, round(width * scale))
        top, left = int(rng.integers(0, height - ch + 1)), int(rng.integers(0, width - cw + 1))
        x = x[:, :, top:top + ch, left:left + cw]
    if train and augment.flip and rng.random() < 0.5:
        x = x.flip(-1)
    x = x.float().div_(255)
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return ((x - mean) / std).permute(1, 0, 2, 3).contiguous()  # [3, T, H, W]


class ClipDataset(Dataset):
    """Shared part: labels, votes, per-(seed, epoch, index) randomness, the transform."""

    def __init__(self, table: pd.DataFrame, *, size: int, train: bool,
                 augment: Augment = Augment(), seed: int = 0):
        self.clip_ids = table.index.to_numpy(dtype=np.int64)
        self.labels = table["label"].to_numpy(dtype=np.int64)
        self.votes = table[VOTE_COLUMNS].to_numpy(dtype=np.float32)
        self.size, self.train, self.augment, self.seed = size, train, augment, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.clip_ids)

    def frames(self, index: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def __getitem__(self, index: int):
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        clip = to_tensor(self.frames(index, rng), self.size, train=self.train,
                         augment=self.augment, rng=rng)
        return (clip, int(self.labels[index]), torch.from_numpy(self.votes[index]),
                int(self.clip_ids[index]))


class TensorClipDataset(ClipDataset):
    """Clips from the packed tensor store (TIM-normalised T frames)."""

    def __init__(self, store: TensorStore, table: pd.DataFrame, **kwargs):
        super().__init__(table, **kwargs)
        self.store = store

    def frames(self, index, rng):
        return self.store.clip(self.clip_ids[index])


def sample_indices(n_frames: int, segments: int = 8, per_segment: int = 2, *, train: bool,
                   rng: np.random.Generator | None = None) -> np.ndarray:
    """Dynamic sampling: ``segments`` equal spans of the clip, ``per_segment`` consecutive
    frames from each (random start in training, centred in evaluation); 0-based indices.
    Clips shorter than segments × per_segment are stretched evenly over the output (frames
    repeat, time never runs backwards)."""
    if n_frames < 1:
        raise ValueError("a clip needs at least one frame")
    if n_frames < segments * per_segment:
        total = segments * per_segment
        return np.floor(np.arange(total) * n_frames / total).astype(np.int64)
    edges = np.linspace(0, n_frames, segments + 1)
    out = []
    for u in range(segments):
        first, span = int(edges[u]), edges[u + 1] - edges[u]
        slack = max(0, int(np.floor(span)) - per_segment)
        offset = int(rng.integers(0, slack + 1)) if train else slack // 2
        out.extend(min(first + offset + v, n_frames - 1) for v in range(per_segment))
    return np.asarray(out, dtype=np.int64)


class FrameClipDataset(ClipDataset):
    """Clips sampled U × V from the aligned frames of each clip (``{clip:05d}_{i:05d}.jpg``)."""

    def __init__(self, frames_dir: Path, table: pd.DataFrame, *, segments: int = 8,
                 per_segment: int = 2, **kwargs):
        self.frames_dir = Path(frames_dir)
        self.segments, self.per_segment = segments, per_segment
        self.files = {int(c): frame_files(self.frames_dir, int(c)) for c in table.index}
        super().__init__(table, **kwargs)

    def frames(self, index, rng):
        import cv2

        clip_id = int(self.clip_ids[index])
        files = self.files[clip_id]
        chosen = sample_indices(len(files), self.segments, self.per_segment,
                                train=self.train, rng=rng)
        images = []
        for i in chosen:
            image = cv2.imread(str(files[i]), cv2.IMREAD_COLOR)
            if image is None:
                raise TrainingError(f"cannot read the aligned frame {files[i]}; run "
                                    f"`dfew-build preprocess` again for clip {clip_id}")
            if image.shape[:2] != (self.size, self.size):
                image = cv2.resize(image, (self.size, self.size), interpolation=cv2.INTER_AREA)
            images.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        return np.stack(images)


def frame_files(frames_dir: Path, clip_id: int) -> list[Path]:
    folder = Path(frames_dir) / f"{clip_id:05d}"
    return sorted(folder.glob(f"{clip_id:05d}_*.jpg")) if folder.is_dir() else []


# -- sampling order -------------------------------------------------------------------------

class EpochSampler(Sampler):
    """The order of one epoch, from a generator seeded by ``(seed, epoch)``.

    ``balanced``: class-balanced oversampling — n draws with replacement, each class equally
    likely. Otherwise a permutation (``shuffle``) or the identity. With ``world_size`` > 1 the
    list is padded to a multiple of it and rank r takes every world_size-th item from r, as
    ``torch.utils.data.DistributedSampler`` does.
    """

    def __init__(self, labels: np.ndarray, *, shuffle: bool = True, balanced: bool = False,
                 seed: int = 0, rank: int = 0, world_size: int = 1):
        self.labels = np.asarray(labels)
        self.shuffle, self.balanced, self.seed = shuffle, balanced, seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def indices(self) -> np.ndarray:
        n = len(self.labels)
        rng = np.random.default_rng([self.seed, self.epoch, 7])
        if self.balanced and n:
            counts = np.bincount(self.labels, minlength=NUM_EMOTIONS).astype(float)
            weights = 1.0 / counts[self.labels]
            order = rng.choice(n, size=n, replace=True, p=weights / weights.sum())
        elif self.shuffle:
            order = rng.permutation(n)
        else:
            order = np.arange(n)
        if self.world_size > 1:
            padding = (-len(order)) % self.world_size
            order = np.concatenate([order, order[:padding]])[self.rank::self.world_size]
        return order

    def __iter__(self):
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return -(-len(self.labels) // self.world_size)
