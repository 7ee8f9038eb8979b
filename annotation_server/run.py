"""Running the server with uvicorn (`dfew-build serve`)."""

from __future__ import annotations

import os
from pathlib import Path

WORKSPACE_ENV = "DFEW_SERVE_WORKSPACE"
SECURE_ENV = "DFEW_SERVE_SECURE_COOKIES"


def app_from_environment():
    """The uvicorn factory: each worker process builds its app from the workspace."""
    from annotation_server.app import create_app
    from annotation_server.settings import Settings
    from dfew_build.workspace import open_workspace

    workspace = open_workspace(os.environ[WORKSPACE_ENV])
    return create_app(Settings.from_workspace(
        workspace, secure_cookies=os.environ.get(SECURE_ENV) == "1"))


def run_server(root: Path, *, host: str, port: int, secure_cookies: bool = False,
               workers: int = 1, log_level: str = "info") -> None:
    import uvicorn

    from annotation_server.settings import load_secret

    os.environ[WORKSPACE_ENV] = str(root)
    os.environ[SECURE_ENV] = "1" if secure_cookies else "0"
    # Created once here, so every worker reads the same key.
    load_secret(Path(root))
    uvicorn.run("annotation_server.run:app_from_environment", factory=True, host=host,
                port=port, workers=workers, log_level=log_level, proxy_headers=True,
                server_header=False)
