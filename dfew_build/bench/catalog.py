"""`dfew-build models`: every registered model with its parameters and GMACs per clip at its
reference input size."""

from __future__ import annotations

#: The parameter counts (7 classes) of the networks DFEW's official code trains, where they
#: are known exactly: DESIGN.md §8 and issue 16 (C3D with batch norm, MC3-18, the bottleneck
#: ResNet18+LSTM, Hara's 3D ResNet-18) and torchvision's definitions, which the official
#: code imports (R3D-18, R(2+1)D-18: the published 400-class counts minus 393 fc rows).
#: ``dfew-build models`` prints them beside ours.
DFEW_PARAMETERS = {
    "c3d_bn": 78_029_959, "mc3_18": 11_493_831, "resnet18_lstm": 17_388_871,
    "resnet3d_18": 33_207_495, "r3d_18": 33_371_472 - 393 * 513,
    "r2plus1d_18": 31_505_325 - 393 * 513,
}


def describe_models(frames: int = 16) -> list[dict]:
    """Name, paper name, reference input size, parameters, GMACs per clip at that size
    (``[1, 3, frames, S, S]``) and feature width of every model.

    The models are built on PyTorch's ``meta`` device: shapes without storage, so counting
    the baselines takes a second instead of a minute of real convolutions (the counts are
    the same as on the CPU, see ``models/profile.py``).
    """
    import torch

    from dfew_build.bench.models import create_model, list_models, model_input_size
    from dfew_build.bench.models.profile import count_parameters, gmacs
    from dfew_build.bench.runs import PAPER_NAMES

    rows = []
    for name in list_models():
        size = model_input_size(name)
        with torch.device("meta"):
            model = create_model(name, num_classes=7)
        rows.append({"name": name, "paper_name": PAPER_NAMES.get(name, name),
                     "input_size": size, "input": f"{frames}x{size}x{size}",
                     "parameters": count_parameters(model),
                     "gmacs": round(gmacs(model, (1, 3, frames, size, size), device="meta"), 3),
                     "feature_dim": model.feature_dim,
                     "dfew_parameters": DFEW_PARAMETERS.get(name)})
    return rows
