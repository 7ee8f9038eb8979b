"""Record the queue order chosen at `assign --order` in dfew.toml, keeping the file's comments.

The order is not stored per assignment: the annotator page sorts each person's clips by
`[annotation] order` / `order_seed` (dfew_build.annotation.assign.QueueOrder) on every
request, so the setting has to live where the server reads it. tomlkit edits the one key
in place; the rest of the researcher's file (comments, layout) stays as written.
"""

from __future__ import annotations

import os
from pathlib import Path

from dfew_build.annotation.assign import QUEUE_ORDERS, QueueOrder
from dfew_build.errors import ConfigError


def record_queue_order(config_path: Path, kind: str | None, seed: int | None,
                       current: QueueOrder) -> tuple[QueueOrder, bool]:
    """Write `[annotation] order` / `order_seed` into config_path where they change.

    Returns (the order now in force, whether the file changed). None keeps a value as it is.
    Raises ConfigError (naming the file) for an unknown kind or a file that cannot be read
    as TOML or written; the file is replaced atomically, so a failure leaves it intact.
    """
    import tomlkit

    wanted = QueueOrder(current.kind if kind is None else kind,
                        current.seed if seed is None else int(seed))
    if wanted.kind not in QUEUE_ORDERS:
        raise ConfigError(f"--order {wanted.kind!r} should be one of "
                          f"{', '.join(QUEUE_ORDERS)}")
    if wanted == current:
        return current, False
    try:
        document = tomlkit.parse(config_path.read_text(encoding="utf-8"))
    except (OSError, tomlkit.exceptions.ParseError) as exc:
        raise ConfigError(f"{config_path}: cannot update the queue order ({exc}); set "
                          f"[annotation] order = {wanted.kind!r} by hand") from None
    section = document.get("annotation")
    if section is None:
        section = tomlkit.table()
        document["annotation"] = section
    section["order"] = wanted.kind
    section["order_seed"] = wanted.seed
    from dfew_build.tempfiles import remove_stale, temp_path

    remove_stale(config_path.parent, name=config_path.name)  # a killed writer's copies
    temporary = temp_path(config_path)
    try:
        temporary.write_text(tomlkit.dumps(document), encoding="utf-8")
        os.chmod(temporary, config_path.stat().st_mode & 0o7777)  # keep e.g. a 0600 file 0600
        os.replace(temporary, config_path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise ConfigError(f"{config_path}: cannot write the queue order ({exc.strerror}); "
                          f"set [annotation] order = {wanted.kind!r} by hand") from None
    return wanted, True
