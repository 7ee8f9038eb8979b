"""Model registry of the DFEW baselines, à la timm (DESIGN.md §8, house rule 5).

Every registered model takes a clip tensor ``[B, 3, 16, S, S]`` (float, channels first,
then time, height, width) and returns logits ``[B, num_classes]``. ``S`` is the model's
*reference input size* (:func:`model_input_size`), the frame side of DFEW's official
configuration: 160 for ``p3d``, 224 for ``i3d``, 112 for the others (the DFER models of
NR-DFERNet's comparison, ``nr_dfernet``, ``former_dfer`` and ``lfer_ldl``, too); most models also
run at other sizes (adaptive pooling), ``c3d``/``c3d_bn`` only at 112. Every model also
exposes

* ``forward_features(x) -> [B, feature_dim]``: the penultimate features, the ones the
  feature losses (center loss, EC-STFL) and the t-SNE plot use;
* ``head``: the classifier, so that ``forward(x) == head(forward_features(x))``;
* ``feature_dim``: the width of those features;
* ``input_size``: the reference frame side (set by :func:`create_model`).

    >>> from dfew_build.bench.models import create_model, list_models, model_input_size
    >>> list_models()[:4]
    ['c3d', 'c3d_bn', 'former_dfer', 'i3d']
    >>> model_input_size("p3d")
    160
    >>> model = create_model("resnet3d_18", num_classes=7)

Importing this package imports torch (the families register themselves on import);
``dfew_build`` itself never imports it.
"""

from __future__ import annotations

from typing import Callable

_MODEL_ENTRYPOINTS: dict[str, Callable] = {}
_INPUT_SIZES: dict[str, int] = {}

#: The frame side of DFEW's configurations for the models that do not say otherwise.
DEFAULT_INPUT_SIZE = 112


def register_model(fn: Callable | None = None, *, input_size: int = DEFAULT_INPUT_SIZE):
    """Register a model constructor under its function name.

    The constructor takes ``num_classes`` and keyword arguments and returns an
    ``nn.Module`` that follows the contract of this package's docstring. ``input_size``
    is the model's reference frame side in pixels (DFEW's configuration for it): used as
    ``@register_model`` (112) or ``@register_model(input_size=160)``.
    """
    def register(fn: Callable) -> Callable:
        name = fn.__name__
        if name in _MODEL_ENTRYPOINTS:
            raise ValueError(f"model {name!r} is registered twice")
        _MODEL_ENTRYPOINTS[name] = fn
        _INPUT_SIZES[name] = int(input_size)
        return fn

    return register if fn is None else register(fn)


def model_input_size(name: str) -> int:
    """The reference input frame side (pixels) of model ``name``: 160 for ``p3d``, 224 for
    ``i3d``, 112 for the others (DFEW's official configurations). ValueError when unknown."""
    if name not in _INPUT_SIZES:
        known = ", ".join(list_models())
        raise ValueError(f"unknown model {name!r}; known models: {known}")
    return _INPUT_SIZES[name]


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
    model = entrypoint(num_classes=num_classes, **kwargs)
    if not hasattr(model, "input_size"):
        model.input_size = _INPUT_SIZES[name]
    return model


# The families register themselves on import (after register_model exists).
from . import (c3d, former_dfer, i3d, lfer_ldl, lstm, nr_dfernet, p3d, resnet3d,  # noqa: E402,F401
               video_resnet)

__all__ = ["create_model", "is_model", "list_models", "model_input_size", "register_model"]
