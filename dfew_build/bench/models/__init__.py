"""Model registry of the DFEW baselines, à la timm (DESIGN.md §8, house rule 5).

Every registered model takes a clip tensor ``[B, 3, 16, 112, 112]`` (float, channels
first, then time, height, width) and returns logits ``[B, num_classes]``. Every model
also exposes

* ``forward_features(x) -> [B, feature_dim]``: the penultimate features, the ones the
  feature losses (center loss, EC-STFL) and the t-SNE plot use;
* ``head``: the classifier, so that ``forward(x) == head(forward_features(x))``;
* ``feature_dim``: the width of those features.

    >>> from dfew_build.bench.models import create_model, list_models
    >>> list_models()
    ['c3d', 'i3d', 'p3d', 'r2plus1d_18', 'r3d_18', 'resnet18_lstm', 'resnet3d_18', 'vgg11_lstm']
    >>> model = create_model("resnet3d_18", num_classes=7)

Importing this package imports torch (the families register themselves on import);
``dfew_build`` itself never imports it.
"""

from __future__ import annotations

from typing import Callable

_MODEL_ENTRYPOINTS: dict[str, Callable] = {}


def register_model(fn: Callable) -> Callable:
    """Register a model constructor under its function name.

    The constructor takes ``num_classes`` and keyword arguments and returns an
    ``nn.Module`` that follows the contract of this package's docstring.
    """
    name = fn.__name__
    if name in _MODEL_ENTRYPOINTS:
        raise ValueError(f"model {name!r} is registered twice")
    _MODEL_ENTRYPOINTS[name] = fn
    return fn


def list_models() -> list[str]:
    """Names of the registered models, sorted."""
    return sorted(_MODEL_ENTRYPOINTS)


def is_model(name: str) -> bool:
    """Whether ``name`` is a registered model."""
    return name in _MODEL_ENTRYPOINTS


def create_model(name: str, num_classes: int = 7, **kwargs):
    """Build the registered model ``name`` with a ``num_classes``-way head.

    Raises ``ValueError`` naming the known models when ``name`` is not registered.
    """
    try:
        entrypoint = _MODEL_ENTRYPOINTS[name]
    except KeyError:
        known = ", ".join(list_models())
        raise ValueError(f"unknown model {name!r}; known models: {known}") from None
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    return entrypoint(num_classes=num_classes, **kwargs)


# The families register themselves on import (after register_model exists).
from . import c3d, i3d, lstm, p3d, resnet3d, video_resnet  # noqa: E402,F401

__all__ = ["create_model", "is_model", "list_models", "register_model"]
