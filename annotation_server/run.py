"""Running the server with uvicorn (`dfew-build serve`): the listening socket, the addresses
people open, and whether the login links reach them."""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from dfew_build.errors import ServeError  # noqa: F401 (tests import it from here)

WORKSPACE_ENV = "DFEW_SERVE_WORKSPACE"
SECURE_ENV = "DFEW_SERVE_SECURE_COOKIES"
BACKLOG = 2048  # uvicorn's default
ALL_INTERFACES = ("0.0.0.0", "::", "")
LINK_FIX = "then reissue the links with `dfew-build people link --all`"


def app_from_environment():
    """The uvicorn factory: each worker process builds its app from the workspace."""
    from annotation_server.app import create_app
    from annotation_server.settings import Settings
    from dfew_build.workspace import open_workspace

    workspace = open_workspace(os.environ[WORKSPACE_ENV])
    return create_app(Settings.from_workspace(
        workspace, secure_cookies=os.environ.get(SECURE_ENV) == "1"))


# --- the listening socket ----------------------------------------------------------------

def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # As uvicorn does: a restart right after a stop is not refused for TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


def _free_port_after(host: str, port: int, tries: int = 50) -> int | None:
    for candidate in range(port + 1, min(port + tries, 65535) + 1):
        try:
            _bind(host, candidate).close()
        except OSError:
            continue
        return candidate
    return None


def listen_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port) and listening, for uvicorn to serve on.

    Raises ServeError with the fix when the port is taken, needs privileges, or the host is
    not an address of this machine.
    """
    try:
        return _bind(host, port)
    except socket.gaierror:
        raise ServeError(f"cannot listen on {host!r}: not a known host name or address; use "
                         "127.0.0.1 (this machine only), 0.0.0.0 (every interface) or one "
                         "of this machine's addresses") from None
    except OSError as exc:
        raise ServeError(_bind_failure(host, port, exc)) from None


def _bind_failure(host: str, port: int, exc: OSError) -> str:
    free = _free_port_after(host, port) if exc.errno in (errno.EADDRINUSE, errno.EACCES) else None
    other = f"--port {free}" if free else "--port PORT"
    if exc.errno == errno.EADDRINUSE:
        return (f"port {port} on {host} is in use (another dfew-build serve?); choose another "
                f"with {other}")
    if exc.errno == errno.EACCES:
        return (f"cannot listen on port {port} on {host}: permission denied (ports below 1024 "
                f"need administrator rights); choose another with {other}")
    if exc.errno == errno.EADDRNOTAVAIL:
        _, addresses = this_machine()
        known = ", ".join(["127.0.0.1", "0.0.0.0", *addresses])
        return (f"cannot listen on {host}: not an address of this machine; use one of "
                f"{known} with --host")
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}"


def run_server(root: Path, *, host: str, port: int, secure_cookies: bool = False,
               workers: int = 1, log_level: str = "info",
               sock: socket.socket | None = None) -> None:
    """Serve the workspace until Ctrl-C. With one worker uvicorn serves on `sock` (bound
    by listen_socket, here if not given), so nothing can take the port in between; several
    workers bind it themselves. Raises ServeError when the server stops during start-up."""
    import uvicorn

    from annotation_server.settings import load_secret

    os.environ[WORKSPACE_ENV] = str(root)
    os.environ[SECURE_ENV] = "1" if secure_cookies else "0"
    # Created once here, so every worker reads the same key.
    load_secret(Path(root))
    options = dict(factory=True, host=host, port=port, workers=workers, log_level=log_level,
                   proxy_headers=True, server_header=False)
    app = "annotation_server.run:app_from_environment"
    started = True
    try:
        if workers == 1:
            sock = sock or listen_socket(host, port)
            server = uvicorn.Server(uvicorn.Config(app, **options))
            server.run(sockets=[sock])
            started = server.started
        else:
            if sock is not None:
                sock.close()  # the workers bind the port themselves
            uvicorn.run(app, **options)
    except SystemExit as exc:  # uvicorn exits when start-up fails, after logging why
        if exc.code in (0, None):
            return
        started = False
    finally:
        if sock is not None:
            sock.close()
    if not started:
        try:
            _bind(host, port).close()
        except OSError as exc:
            raise ServeError(_bind_failure(host, port, exc)) from None
        raise ServeError("the server stopped during start-up; see the messages above")


# --- addresses ---------------------------------------------------------------------------

def this_machine() -> tuple[str, list[str]]:
    """(host name, IPv4 addresses other than loopback) of this machine, found without
    sending anything: the host name's addresses, and the source address of the default
    route (a UDP socket 'connected' to a documentation address)."""
    name = socket.gethostname()
    found: list[str] = []
    try:
        found += [info[4][0] for info in socket.getaddrinfo(name, None, socket.AF_INET)]
    except OSError:
        pass
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))
            found.append(probe.getsockname()[0])
    except OSError:  # no route: an offline machine
        pass
    addresses = []
    for address in found:
        if not _is_loopback(address) and address not in ALL_INTERFACES \
                and address not in addresses:
            addresses.append(address)
    return name, addresses


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain") \
            or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _url(host: str, port: int, scheme: str = "http") -> str:
    shown = f"[{host}]" if ":" in host else host
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{shown}" + ("" if port == default else f":{port}")


def open_addresses(host: str, port: int) -> list[tuple[str, str]]:
    """(URL, note) of each address where people reach a server listening on host:port."""
    if host in ALL_INTERFACES:
        name, addresses = this_machine()
        found = []
        if not _is_loopback(name):
            known = _resolves_beyond_loopback(name)
            found.append((_url(name, port), "" if known else "if the network knows this name"))
        found += [(_url(address, port), "") for address in addresses]
        return found + [(_url("127.0.0.1", port), "this machine only")]
    return [(_url(host, port), "this machine only" if _is_loopback(host) else "")]


def suggested_base_url(host: str, port: int) -> str:
    """The base URL to put in dfew.toml for a server listening on host:port."""
    if host in ALL_INTERFACES:
        name, addresses = this_machine()
        reachable = not _is_loopback(name) and _resolves_beyond_loopback(name)
        return _url(name if reachable or not addresses else addresses[0], port)
    return _url(host, port)


def _resolves_beyond_loopback(name: str) -> bool:
    try:
        infos = socket.getaddrinfo(name, None, socket.AF_INET)
    except OSError:
        return False
    return any(not _is_loopback(info[4][0]) for info in infos)


@dataclass
class LinkCheck:
    base_url: str      # what `people add` / `people link` put in login links
    from_base_url: bool  # [server] base_url is set (else the links come from host and port)
    config_path: Path


def link_warnings(check: LinkCheck, host: str, port: int) -> list[str]:
    """Why the login links would not reach a server listening on host:port, with the fix;
    empty when they do (or when they point at another host: a proxy, whose forwarding this
    machine cannot check)."""
    url = check.base_url
    source = "[server] base_url" if check.from_base_url else "[server] host and port"
    where = f"under [server] in {check.config_path}"
    start = (f"warning: the login links that `people add` and `people link` print point at "
             f"{url} ({source} in dfew.toml)")
    parts = urlsplit(url)
    link_host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not link_host:
        return [f"{start}, which is not a web address. Fix: set base_url = "
                f"\"{suggested_base_url(host, port)}\" {where}, {LINK_FIX}."]
    try:
        link_port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        link_port = -1
    name, addresses = this_machine()
    local = (link_host in ALL_INTERFACES or _is_loopback(link_host)
             or link_host.lower() == name.lower() or link_host in addresses)
    if not local:
        return []  # e.g. https://annotate.example.org behind a proxy
    suggestion = suggested_base_url(host, port)
    if link_host in ALL_INTERFACES:
        return [f"{start}, which no browser can open (0.0.0.0 tells a server to listen on "
                f"every interface; it is not an address). Fix: set base_url = "
                f"\"{suggestion}\" {where}, {LINK_FIX}."]
    if host in ALL_INTERFACES:
        if _is_loopback(link_host):
            return [f"{start}, which opens on this machine only, while the server listens "
                    f"on every interface for other machines. Fix: set base_url = "
                    f"\"{suggestion}\" {where}, {LINK_FIX}."]
    elif _is_loopback(host):
        if not _is_loopback(link_host):
            return [f"{start}, but the server listens on {host} only, which other machines "
                    f"cannot reach. Fix: serve with --host 0.0.0.0, or set base_url = "
                    f"\"{suggestion}\" {where} if only this machine annotates, {LINK_FIX}."]
    elif link_host not in (host, name):
        return [f"{start}, but the server listens on {host} only. Fix: set base_url = "
                f"\"{suggestion}\" {where}, {LINK_FIX}."]
    if link_port != port:
        if check.from_base_url:
            fix = f"set base_url = \"{_url(link_host, port, parts.scheme)}\" {where}"
        else:
            fix = f"set port = {port} {where}"
        return [f"{start}, but the server listens on port {port}, so they will not open. "
                f"Fix: serve with --port {link_port} (the links' port), or {fix} and "
                f"reissue the links with `dfew-build people link --all`."]
    if parts.scheme == "https":
        return [f"{start}, but this server speaks plain HTTP. Fix: put an HTTPS proxy in "
                f"front and set base_url to its address {where}, or set base_url = "
                f"\"{_url(link_host, port)}\", {LINK_FIX}."]
    return []
