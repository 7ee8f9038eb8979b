"""`dfew-build serve`."""

from __future__ import annotations

import click

from dfew_build.cli.base import pass_state


@click.command()
@click.option("--host", metavar="HOST",
              help="Interface to listen on (default: [server] host, 127.0.0.1). Use 0.0.0.0 "
                   "to accept other machines, behind HTTPS.")
@click.option("--port", type=click.IntRange(1, 65535),
              help="Port (default: [server] port, 8000).")
@click.option("--secure-cookies", is_flag=True,
              help="Send the session cookie over HTTPS only (use behind an HTTPS proxy).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes (PostgreSQL deployments; SQLite is best with 1).")
@pass_state
def serve(state, host, port, secure_cookies, workers) -> None:
    """Start the annotation web server (annotators, extractors, admins).

    People log in with the link from `dfew-build people add` / `people link`. Stop with
    Ctrl-C.
    """
    from annotation_server.run import run_server

    workspace = state.workspace()
    server = workspace.config["server"]
    run_server(workspace.root, host=host or server["host"], port=port or server["port"],
               secure_cookies=secure_cookies, workers=workers)
