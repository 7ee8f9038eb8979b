"""`dfew-build models`: every registered model with its parameters and GMACs per clip at its
reference input size, beside the published figures (cost and DFEW results)."""

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

_TABLE5 = "NR-DFERNet (ACM MM 2022) Table 5"
_TIM = "TIM, 16x112x112"
_DS = "dynamic sampling U=8 x V=2, 16x112x112"

#: Published DFEW results (5-fold, UAR/WAR in %): DFEW (ACM MM 2020) Table 4 for the
#: baselines (TIM-normalised clips); NR-DFERNet's Table 5 for the transformer models
#: (dynamic sampling; Former-DFER's row is its own paper's result). LFER-LDL was evaluated on
#: RAF-DB and AffectNet only.
PUBLISHED_DFEW = {
    "c3d": {"uar": 42.74, "war": 53.54, "sampling": _TIM, "source": "DFEW Table 4 (C3D)"},
    "c3d_bn": {"uar": 42.74, "war": 53.54, "sampling": _TIM, "source": "DFEW Table 4 (C3D)"},
    "p3d": {"uar": 43.97, "war": 54.47, "sampling": _TIM, "source": "DFEW Table 4 (P3D)"},
    "r3d_18": {"uar": 42.79, "war": 53.22, "sampling": _TIM, "source": "DFEW Table 4 (R3D18)"},
    "r2plus1d_18": {"uar": 42.79, "war": 53.22, "sampling": _TIM,
                    "source": f"{_TABLE5} (R(2+1)D18; DFEW Table 4 gives these for R3D18)"},
    "resnet3d_18": {"uar": 44.73, "war": 54.98, "sampling": _TIM,
                    "source": "DFEW Table 4 (3D Resnet18)"},
    "i3d": {"uar": 43.40, "war": 54.27, "sampling": _TIM, "source": "DFEW Table 4 (I3D-RGB)"},
    "vgg11_lstm": {"uar": 42.39, "war": 53.70, "sampling": _TIM,
                   "source": "DFEW Table 4 (VGG11+LSTM)"},
    "resnet18_lstm": {"uar": 42.86, "war": 53.08, "sampling": _TIM,
                      "source": "DFEW Table 4 (Resnet18+LSTM)"},
    "former_dfer": {"uar": 53.69, "war": 65.70, "sampling": _DS, "source": _TABLE5},
    "nr_dfernet": {"uar": 54.21, "war": 68.19, "sampling": _DS,
                   "source": f"{_TABLE5}; with oversampling (--balanced) 55.77 / 68.01"},
}

#: Published costs. NR-DFERNet's Table 5 GFLOPs are multiply-accumulates at 16x112x112
#: (they match our GMACs of the same networks); LFER-LDL's MFLOPs are 2 x MACs per
#: 224x224 image (see models/lfer_ldl.py). ``input`` is where the figure was counted;
#: ``dfew-build models`` gives ours at that input too.
PUBLISHED_COST = {
    "c3d": {"gmacs": 38.57, "input": "16x112x112", "source": _TABLE5},
    "c3d_bn": {"gmacs": 38.57, "input": "16x112x112", "source": f"{_TABLE5} (C3D)"},
    "r2plus1d_18": {"gmacs": 42.36, "input": "16x112x112", "source": _TABLE5},
    "resnet3d_18": {"gmacs": 8.32, "input": "16x112x112", "source": _TABLE5},
    "i3d": {"gmacs": 6.99, "input": "16x112x112", "source": _TABLE5},
    "vgg11_lstm": {"gmacs": 31.65, "input": "16x112x112", "source": _TABLE5},
    "resnet18_lstm_basic": {"gmacs": 7.78, "input": "16x112x112",
                            "source": f"{_TABLE5} (ResNet18+LSTM)"},
    "former_dfer": {"gmacs": 9.11, "input": "16x112x112", "source": _TABLE5},
    "nr_dfernet": {"gmacs": 6.33, "input": "16x112x112", "source": f"{_TABLE5}, Table 3"},
    # 294.60 MFLOPs = 147.3 M multiply-accumulates
    "lfer_ldl": {"gmacs": 0.1473, "mflops": 294.60, "parameters": 1_260_000,
                 "input": "1x224x224", "counted": "FLOPs = 2 x MACs, one image",
                 "source": "LFER-LDL Tables 1 and 4"},
}


def _shape(text: str) -> tuple[int, ...]:
    frames, height, width = (int(v) for v in text.split("x"))
    return (1, 3, frames, height, width)


def describe_models(frames: int = 16) -> list[dict]:
    """Name, paper name, reference input size, parameters, GMACs per clip at that size
    (``[1, 3, frames, S, S]``), feature width, and the published figures of every model:
    ``published_cost`` (``gmacs`` and the ``input`` it was counted at, with ``ours`` at that
    input) and ``published_dfew`` (``uar``, ``war`` in %, ``sampling``, ``source``), None
    where a paper gives none.

    The models are built on PyTorch's ``meta`` device: shapes without storage, so counting
    the baselines takes a second instead of a minute of real convolutions (the counts are
    the same as on the CPU, see ``models/profile.py``).
    """
    import torch

    from dfew_build.bench.models import create_model, list_models, model_input_size
    from dfew_build.bench.models.lfer_ldl import lfer_ldl_2d
    from dfew_build.bench.models.profile import count_parameters, gmacs
    from dfew_build.bench.runs import PAPER_NAMES

    rows = []
    for name in list_models():
        size = model_input_size(name)
        with torch.device("meta"):
            model = create_model(name, num_classes=7)
        ours = round(gmacs(model, (1, 3, frames, size, size), device="meta"), 3)
        cost = PUBLISHED_COST.get(name)
        if cost is not None:
            cost = dict(cost)
            if name == "lfer_ldl":  # the paper counts the image network at 224 x 224
                with torch.device("meta"):
                    image_net = lfer_ldl_2d(num_classes=7)
                cost["ours"] = round(gmacs(image_net, (1, 3, 224, 224), device="meta"), 4)
            elif cost["input"] == f"{frames}x{size}x{size}":
                cost["ours"] = ours
            else:
                cost["ours"] = round(gmacs(model, _shape(cost["input"]), device="meta"), 3)
        dfew = PUBLISHED_DFEW.get(name)
        rows.append({"name": name, "paper_name": PAPER_NAMES.get(name, name),
                     "input_size": size, "input": f"{frames}x{size}x{size}",
                     "parameters": count_parameters(model), "gmacs": ours,
                     "feature_dim": model.feature_dim,
                     "dfew_parameters": DFEW_PARAMETERS.get(name),
                     "published_cost": cost,
                     "published_dfew": dict(dfew) if dfew else None})
    return rows
