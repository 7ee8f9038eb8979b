"""`dfew-build serve` says where people connect, warns when the login links would not reach
the server, and refuses a busy port in one line (issue 13 item 4)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys

import pytest

import annotation_server.run as run_module
from annotation_server.run import ServeError, run_server


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _next_free_port(port: int, host: str = "127.0.0.1") -> int:
    for candidate in range(port + 1, port + 51):
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, candidate))
            except OSError:
                continue
            return candidate
    raise AssertionError("no free port")


@pytest.fixture
def busy_port():
    """A port another program listens on."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def ws(cli, tmp_path):
    root = tmp_path / "ws"
    assert cli("init", root).exit_code == 0
    return root


def _configure(root, **server):
    """Set [server] keys in dfew.toml (host, port, base_url)."""
    path = root / "dfew.toml"
    text = path.read_text(encoding="utf-8")
    for key, value in server.items():
        line = f"{key} = {value}" if isinstance(value, int) else f'{key} = "{value}"'
        text, count = re.subn(rf"^{key} = .*$", line, text, count=1, flags=re.M)
        assert count == 1, key
    path.write_text(text, encoding="utf-8")


def _env():
    return {k: v for k, v in os.environ.items()
            if k not in ("DFEW_DATABASE_URL", "DFEW_WORKSPACE")}


def test_a_busy_port_is_one_line_with_a_free_port_to_use(ws, busy_port):
    result = subprocess.run(
        [sys.executable, "-c", "from dfew_build.cli import main; main()", "-w", str(ws),
         "serve", "--port", str(busy_port)], capture_output=True, text=True, env=_env(),
        timeout=60)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (f"Error: port {busy_port} on 127.0.0.1 is in use (another "
                             f"dfew-build serve?); choose another with --port "
                             f"{_next_free_port(busy_port)}\n")


def test_a_busy_port_on_every_interface(cli, ws, busy_port):
    result = cli("-w", ws, "serve", "--host", "0.0.0.0", "--port", busy_port)
    assert result.exit_code == 1
    assert result.stderr == (f"Error: port {busy_port} on 0.0.0.0 is in use (another "
                             f"dfew-build serve?); choose another with --port "
                             f"{_next_free_port(busy_port, '0.0.0.0')}\n")


def test_uvicorn_failing_to_bind_is_caught(ws, busy_port, monkeypatch):
    """Several workers bind the port in uvicorn itself; its failure becomes the same
    one-line error instead of uvicorn's "[Errno 98]" and exit status 3."""
    monkeypatch.setenv(run_module.WORKSPACE_ENV, "")  # run_server sets both; undone after
    monkeypatch.setenv(run_module.SECURE_ENV, "")
    with pytest.raises(ServeError) as caught:
        run_server(ws, host="127.0.0.1", port=busy_port, workers=2, log_level="critical")
    assert str(caught.value) == (f"port {busy_port} on 127.0.0.1 is in use (another "
                                 f"dfew-build serve?); choose another with --port "
                                 f"{_next_free_port(busy_port)}")


def test_a_host_that_is_not_this_machine(cli, ws, monkeypatch):
    monkeypatch.setattr(run_module, "this_machine", lambda: ("annot-box", ["192.0.2.10"]))
    result = cli("-w", ws, "serve", "--host", "198.51.100.7", "--port", _free_port())
    assert result.exit_code == 1
    assert result.stderr == ("Error: cannot listen on 198.51.100.7: not an address of this "
                             "machine; use one of 127.0.0.1, 0.0.0.0, 192.0.2.10 with --host\n")


@pytest.fixture
def served(monkeypatch):
    """serve up to uvicorn: run_server records its arguments instead of serving, after
    checking that the socket it is handed is listening."""
    calls = []

    def fake_run_server(root, *, host, port, secure_cookies, workers, sock):
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        sock.close()
        calls.append({"host": host, "port": port, "workers": workers})

    monkeypatch.setattr(run_module, "run_server", fake_run_server)
    monkeypatch.setattr(run_module, "this_machine", lambda: ("annot-box", ["192.0.2.10"]))
    monkeypatch.setattr(run_module, "_resolves_beyond_loopback", lambda name: True)
    return calls


LINKS = "warning: the login links that `people add` and `people link` print point at "
REISSUE = "reissue the links with `dfew-build people link --all`."


def test_links_that_match_the_server_give_no_warning(cli, ws, served):
    port = _free_port()
    _configure(ws, port=port)
    result = cli("-w", ws, "serve")
    assert result.exit_code == 0
    assert result.stdout == (f"Listening on 127.0.0.1, port {port}. People open:\n"
                             f"  http://127.0.0.1:{port}  (this machine only)\n"
                             f"Login links (`people add`, `people link`) point at "
                             f"http://127.0.0.1:{port}. Stop with Ctrl-C.\n")
    assert result.stderr == ""
    assert served == [{"host": "127.0.0.1", "port": port, "workers": 1}]


def test_serving_on_another_port_than_the_links(cli, ws, served):
    port = _free_port()
    result = cli("-w", ws, "serve", "--port", port)
    assert result.exit_code == 0
    assert result.stderr == (
        f"{LINKS}http://127.0.0.1:8000 ([server] host and port in dfew.toml), but the server "
        f"listens on port {port}, so they will not open. Fix: serve with --port 8000 (the "
        f"links' port), or set port = {port} under [server] in {ws / 'dfew.toml'} and "
        f"{REISSUE}\n")


def test_serving_on_every_interface_with_loopback_links(cli, ws, served):
    port = _free_port("0.0.0.0")
    _configure(ws, port=port)
    result = cli("-w", ws, "serve", "--host", "0.0.0.0")
    assert result.exit_code == 0
    assert result.stdout == (f"Listening on every interface, port {port}. People open:\n"
                             f"  http://annot-box:{port}\n"
                             f"  http://192.0.2.10:{port}\n"
                             f"  http://127.0.0.1:{port}  (this machine only)\n"
                             f"Login links (`people add`, `people link`) point at "
                             f"http://127.0.0.1:{port}. Stop with Ctrl-C.\n")
    assert result.stderr == (
        f"{LINKS}http://127.0.0.1:{port} ([server] host and port in dfew.toml), which opens "
        f"on this machine only, while the server listens on every interface for other "
        f"machines. Fix: set base_url = \"http://annot-box:{port}\" under [server] in "
        f"{ws / 'dfew.toml'}, then {REISSUE}\n")


def test_links_to_0_0_0_0(cli, ws, served):
    port = _free_port("0.0.0.0")
    _configure(ws, host="0.0.0.0", port=port)
    result = cli("-w", ws, "serve")
    assert result.exit_code == 0
    assert result.stdout.startswith(f"Listening on every interface, port {port}.")
    assert result.stderr == (
        f"{LINKS}http://0.0.0.0:{port} ([server] host and port in dfew.toml), which no "
        f"browser can open (0.0.0.0 tells a server to listen on every interface; it is not "
        f"an address). Fix: set base_url = \"http://annot-box:{port}\" under [server] in "
        f"{ws / 'dfew.toml'}, then {REISSUE}\n")


def test_links_for_other_machines_while_serving_this_machine_only(cli, ws, served):
    port = _free_port()
    _configure(ws, port=port, base_url=f"http://annot-box:{port}")
    result = cli("-w", ws, "serve")
    assert result.exit_code == 0
    assert result.stderr == (
        f"{LINKS}http://annot-box:{port} ([server] base_url in dfew.toml), but the server "
        f"listens on 127.0.0.1 only, which other machines cannot reach. Fix: serve with "
        f"--host 0.0.0.0, or set base_url = \"http://127.0.0.1:{port}\" under [server] in "
        f"{ws / 'dfew.toml'} if only this machine annotates, then {REISSUE}\n")


def test_base_url_on_another_port(cli, ws, served):
    port = _free_port("0.0.0.0")
    _configure(ws, base_url="http://192.0.2.10:8000/")
    result = cli("-w", ws, "serve", "--host", "0.0.0.0", "--port", port)
    assert result.exit_code == 0
    assert result.stderr == (
        f"{LINKS}http://192.0.2.10:8000 ([server] base_url in dfew.toml), but the server "
        f"listens on port {port}, so they will not open. Fix: serve with --port 8000 (the "
        f"links' port), or set base_url = \"http://192.0.2.10:{port}\" under [server] in "
        f"{ws / 'dfew.toml'} and {REISSUE}\n")


@pytest.mark.parametrize("base_url", ["https://annotate.example.org",   # behind a proxy
                                      "http://annot-box:{port}"])       # this machine, by name
def test_links_that_reach_the_server_give_no_warning(cli, ws, served, base_url):
    port = _free_port("0.0.0.0")
    _configure(ws, base_url=base_url.format(port=port))
    result = cli("-w", ws, "serve", "--host", "0.0.0.0", "--port", port)
    assert result.exit_code == 0
    assert result.stderr == ""
    assert result.stdout.endswith(f"point at {base_url.format(port=port)}. Stop with "
                                  "Ctrl-C.\n")


def test_a_base_url_that_is_not_a_web_address(cli, ws, served):
    port = _free_port()
    _configure(ws, port=port, base_url="annot-box:8000")
    result = cli("-w", ws, "serve")
    assert result.exit_code == 0
    assert result.stderr == (
        f"{LINKS}annot-box:8000 ([server] base_url in dfew.toml), which is not a web "
        f"address. Fix: set base_url = \"http://127.0.0.1:{port}\" under [server] in "
        f"{ws / 'dfew.toml'}, then {REISSUE}\n")


def test_open_addresses_of_this_machine():
    """Without stubs: a loopback host is itself; every interface lists this machine's
    addresses (never loopback ones) and then localhost."""
    assert run_module.open_addresses("127.0.0.1", 8000) == [("http://127.0.0.1:8000",
                                                             "this machine only")]
    everywhere = [url for url, _ in run_module.open_addresses("0.0.0.0", 8000)]
    _, addresses = run_module.this_machine()
    assert all(not a.startswith("127.") for a in addresses)
    assert everywhere[-1] == "http://127.0.0.1:8000"
    assert set(f"http://{a}:8000" for a in addresses) <= set(everywhere)
