"""The bundled PyTorch benchmark (DESIGN.md §8).

``dfew_build.bench.models`` holds the model registry (``create_model``, ``list_models``)
with one file per baseline family; ``dfew_build.bench.losses`` the training losses
(``ce``, ``center``, ``ecstfl``, ``ecstfl_released``, ``ldl``).

This package file imports nothing: torch is imported only by the submodules, so that
``import dfew_build`` and the light CLI commands stay fast (house rule 8).
"""
