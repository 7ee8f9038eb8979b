"""`dfew-build models`: every registered model with its parameters and GMACs per clip."""

from __future__ import annotations


def describe_models(input_shape=(1, 3, 16, 112, 112)) -> list[dict]:
    """Name, parameters, GMACs and feature width of every model.

    The models are built on PyTorch's ``meta`` device: shapes without storage, so counting
    the eight baselines takes a second instead of a minute of real convolutions (the
    counts are the same as on the CPU, see ``models/profile.py``).
    """
    import torch

    from dfew_build.bench.models import create_model, list_models
    from dfew_build.bench.models.profile import count_parameters, gmacs
    from dfew_build.bench.runs import PAPER_NAMES

    rows = []
    for name in list_models():
        with torch.device("meta"):
            model = create_model(name, num_classes=7)
        rows.append({"name": name, "paper_name": PAPER_NAMES.get(name, name),
                     "parameters": count_parameters(model),
                     "gmacs": round(gmacs(model, input_shape, device="meta"), 3),
                     "feature_dim": model.feature_dim,
                     "input": "x".join(map(str, input_shape[2:]))})
    return rows
