"""Disk taken by a finished run's checkpoints under each `train --keep`: a 1-epoch run of
a model (default resnet3d_18, full width) on 14 noise clips of 16 x 16 px (the input size
does not change the weights' size), SGD with momentum. Prints JSON: bytes per file and MB
per run for --keep both|last|best. Not a test.

    python benchmarks/checkpoint_sizes.py [--model resnet3d_18]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dfew_build.bench.config import TrainConfig  # noqa: E402
from dfew_build.bench.motion import fill_workspace  # noqa: E402
from dfew_build.bench.protocol import train  # noqa: E402
from dfew_build.workspace import init_workspace  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet3d_18")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="dfew-ckpt-sizes-"))
    try:
        workspace, _ = init_workspace(root / "ws")
        fill_workspace(workspace, None, per_class=2, size=16, k=2)
        out = {"model": args.model}
        for keep in ("both", "last", "best"):
            result = train(workspace, TrainConfig(
                model=args.model, size=16, epochs=1, workers=0, batch_size=8, keep=keep,
                tsne=False))
            files = {p.name: p.stat().st_size for p in sorted(result["run_dir"].glob("*.pt"))}
            out[keep] = {"files": files, "MB": round(sum(files.values()) / 1e6, 1)}
        workspace.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
