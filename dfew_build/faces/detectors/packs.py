"""Finding the SCRFD/RetinaFace detection model of an insightface model pack on disk.

A pack is a folder such as buffalo_l/ holding det_10g.onnx next to the recognition
models. Accepted ``model_dir`` values: the .onnx file itself, a pack folder, or a folder
of packs (insightface's root ~/.insightface/models). Nothing is ever downloaded.
"""

from __future__ import annotations

import os
from pathlib import Path

from dfew_build.errors import DetectorError

PATTERNS = ("det_*.onnx", "scrfd*.onnx")
# When a folder holds several packs: insightface's default pack first.
PREFERRED_PACKS = ("buffalo_l", "antelopev2", "buffalo_m", "buffalo_s", "buffalo_sc")
PACK_URL = "https://github.com/deepinsight/insightface/releases/download/v0.7/buffalo_l.zip"


def default_model_root() -> Path:
    """insightface's own model folder: $INSIGHTFACE_HOME/models or ~/.insightface/models."""
    home = os.environ.get("INSIGHTFACE_HOME")
    return Path(home).expanduser() / "models" if home else Path.home() / ".insightface/models"


def _models_in(folder: Path) -> list[Path]:
    found = {p for pattern in PATTERNS for p in folder.glob(pattern) if p.is_file()}
    return sorted(found)


def _search(folder: Path) -> Path | None:
    direct = _models_in(folder)
    if direct:
        return direct[0]
    packs = sorted((p for p in folder.iterdir() if p.is_dir()),
                   key=lambda p: (p.name not in PREFERRED_PACKS,
                                  PREFERRED_PACKS.index(p.name) if p.name in PREFERRED_PACKS
                                  else 0, p.name))
    for pack in packs:
        models = _models_in(pack)
        if models:
            return models[0]
    return None


def find_detection_model(model_dir: str | os.PathLike | None, required: bool) -> Path | None:
    """The detection .onnx to use, or None (``required=False``) when there is none.

    With ``required`` a missing model raises DetectorError naming the fix.
    """
    folder = Path(model_dir).expanduser() if model_dir is not None else default_model_root()
    if model_dir is not None and not folder.exists():
        raise DetectorError(f"model directory {folder} does not exist; pass the folder "
                            "of an insightface model pack (e.g. buffalo_l) to --model-dir")
    if folder.is_file():
        if folder.suffix.lower() != ".onnx":
            raise DetectorError(f"{folder} is not an .onnx model; pass the folder of an "
                                "insightface model pack (e.g. buffalo_l) to --model-dir")
        return folder
    model = _search(folder) if folder.is_dir() else None
    if model is None and required:
        raise DetectorError(
            f"no insightface model pack found in {folder} (looked for "
            f"{' / '.join(PATTERNS)} there and in its subfolders); download buffalo_l from "
            f"{PACK_URL}, unzip it and pass its folder with --model-dir, "
            "or use --detector mtcnn")
    return model
