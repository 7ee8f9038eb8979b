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

    Prints the addresses people open, and warns when the login links of `people add` /
    `people link` ([server] base_url, else [server] host and port) would not reach this
    server. People log in with those links. Stop with Ctrl-C.
    """
    from annotation_server.run import (LinkCheck, link_warnings, listen_socket,
                                       open_addresses, run_server)
    from dfew_build.people import configured_base_url

    workspace = state.workspace()
    server = workspace.config["server"]
    host = host or server["host"]
    port = port or server["port"]
    sock = listen_socket(host, port)  # a port in use is a one-line error, before anything
    try:
        everywhere = host in ("0.0.0.0", "::", "")
        click.echo(f"Listening on {'every interface' if everywhere else host}, port {port}. "
                   "People open:")
        for url, note in open_addresses(host, port):
            click.echo(f"  {url}" + (f"  ({note})" if note else ""))
        base_url = configured_base_url(workspace.config)
        click.echo(f"Login links (`people add`, `people link`) point at {base_url}. "
                   "Stop with Ctrl-C.")
        check = LinkCheck(base_url, bool(server.get("base_url")), workspace.config_path)
        for warning in link_warnings(check, host, port):
            click.echo(warning, err=True)
    except BaseException:
        sock.close()
        raise
    run_server(workspace.root, host=host, port=port, secure_cookies=secure_cookies,
               workers=workers, sock=sock)
