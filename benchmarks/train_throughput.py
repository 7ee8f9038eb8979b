"""Training and evaluation throughput (clips/s) per benchmark model, and the data-loader
stall ratio. Prints JSON. Not a test: numbers depend on the machine.

    python benchmarks/train_throughput.py [--models resnet3d_18,c3d] [--steps 3]
    python benchmarks/train_throughput.py --device cuda          # batch 24, AMP

* ``models.NAME.train_clips_per_s``: optimizer steps (forward, cross-entropy, backward,
  SGD step) on an in-memory batch, after ``--warmup`` untimed steps;
  ``eval_clips_per_s``: forward passes without gradients — the decision pass for a model
  that has one (NR-DFERNet: the sequence and its 7 snippets, as `evaluate` runs it).
* ``loader.stall_ratio``: the mean step time of training fed by the real DataLoader
  (``--workers`` processes reading a memory-mapped ``112px_16f.npy`` store through
  ``TensorClipDataset`` with augmentation) divided by the mean step time on a batch that
  is already in memory, same model, same run. 1.0 means the loader never makes the model
  wait; the target is ≤ 1.1.

Each model runs at its reference input size (DFEW's configurations: P3D 160, I3D 224,
the others 112; ``--size N`` for all). CPU defaults: batch 8. ``--device cuda``: batch 24
with float16 autocast + GradScaler, pinned memory, timings synchronised with the GPU.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from dfew_build.bench.config import default_workers
from dfew_build.bench.data import VOTE_COLUMNS, TensorClipDataset, open_tensor_store
from dfew_build.bench.models import create_model, list_models, model_input_size
from dfew_build.bench.motion import motion_dataset, write_tensor_store


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _step(model, optimizer, scaler, x, y, device, amp):
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast("cuda", dtype=torch.float16) if amp else nullcontext():
        loss = F.cross_entropy(model(x).float(), y)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()


def measure_model(name, batch, steps, warmup, device, amp, size=None) -> dict:
    size = size or model_input_size(name)  # DFEW's configuration: p3d 160, i3d 224, else 112
    torch.manual_seed(0)
    model = create_model(name).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    x = torch.randn(batch, 3, 16, size, size, device=device)
    y = torch.randint(0, 7, (batch,), device=device)
    model.train()
    for _ in range(warmup):
        _step(model, optimizer, scaler, x, y, device, amp)
    _sync(device)
    started = time.perf_counter()
    for _ in range(steps):
        _step(model, optimizer, scaler, x, y, device, amp)
    _sync(device)
    train_s = (time.perf_counter() - started) / steps
    model.eval()
    scored = getattr(model, "forward_decision", model)
    with torch.no_grad(), (torch.autocast("cuda", dtype=torch.float16) if amp else nullcontext()):
        for _ in range(warmup):
            scored(x)
        _sync(device)
        started = time.perf_counter()
        for _ in range(steps):
            scored(x)
        _sync(device)
    eval_s = (time.perf_counter() - started) / steps
    return {"input": f"16x{size}x{size}",
            "train_step_s": round(train_s, 4), "train_clips_per_s": round(batch / train_s, 2),
            "eval_step_s": round(eval_s, 4), "eval_clips_per_s": round(batch / eval_s, 2)}


def measure_loader(name, batch, steps, warmup, workers, device, amp, folder: Path) -> dict:
    """Step time fed by the real loader from a memory-mapped store vs an in-memory batch."""
    n = batch * (steps + warmup)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (224, 224, 3), dtype=np.uint8) for _ in range(4)]
    clips, labels = motion_dataset(images, per_class=-(-n // 7), size=112, seed=0)
    ids = list(range(1, len(labels) + 1))
    write_tensor_store(folder, ids, clips)
    table = pd.DataFrame({"label": labels, "fold": 1}, index=pd.Index(ids, name="clip_id"))
    for column in VOTE_COLUMNS:
        table[column] = 1.0
    dataset = TensorClipDataset(open_tensor_store(folder, 112, 16), table, size=112, train=True)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=True,
                                         num_workers=workers, drop_last=True,
                                         pin_memory=device.type == "cuda",
                                         persistent_workers=workers > 0)
    torch.manual_seed(0)
    model = create_model(name).to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)

    def fed_by_loader() -> float:
        times, last = [], None
        for i, (x, y, _v, _ids) in enumerate(loader):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            _step(model, optimizer, scaler, x, y, device, amp)
            _sync(device)
            now = time.perf_counter()
            if last is not None and i >= warmup:
                times.append(now - last)  # includes the wait for this batch
            last = now
        return float(np.mean(times))

    fed_by_loader()  # start the workers and fill the page cache once
    loader_s = fed_by_loader()
    x, y, _v, _ids = next(iter(loader))
    x, y = x.to(device), y.to(device)
    for _ in range(warmup):
        _step(model, optimizer, scaler, x, y, device, amp)
    _sync(device)
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        _step(model, optimizer, scaler, x, y, device, amp)
        _sync(device)
        times.append(time.perf_counter() - started)
    memory_s = float(np.mean(times))
    return {"model": name, "workers": workers, "clips": len(ids),
            "step_s_loader": round(loader_s, 4), "step_s_memory": round(memory_s, 4),
            "stall_ratio": round(loader_s / memory_s, 3), "target": 1.1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--models", default=",".join(list_models()),
                        help="comma-separated model names (default: all)")
    parser.add_argument("--batch-size", type=int, help="default: 8 on CPU, 24 on CUDA")
    parser.add_argument("--size", type=int,
                        help="frame side for every model (default: each model's reference "
                             "input size, see `dfew-build models`)")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--workers", type=int, default=default_workers(),
                        help="loader processes (default: the trainer's, half the cores)")
    parser.add_argument("--loader-model", default="resnet3d_18")
    parser.add_argument("--no-loader", action="store_true", help="skip the stall ratio")
    args = parser.parse_args()
    device = torch.device(args.device)
    amp = device.type == "cuda"
    batch = args.batch_size or (24 if amp else 8)
    report = {"device": torch.cuda.get_device_name() if amp else "cpu",
              "threads": torch.get_num_threads(), "batch_size": batch, "amp": amp,
              "steps": args.steps, "models": {}}
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        report["models"][name] = measure_model(name, batch, args.steps, args.warmup, device, amp,
                                               args.size)
    if not args.no_loader:
        with tempfile.TemporaryDirectory() as folder:
            report["loader"] = measure_loader(args.loader_model, batch, args.steps, args.warmup,
                                              args.workers, device, amp, Path(folder))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
