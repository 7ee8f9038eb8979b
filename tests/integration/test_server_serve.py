"""`dfew-build serve` starts uvicorn on the workspace; the access log never shows a token."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx

from tests.annotation_data import build_site


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_runs_the_app_and_redacts_login_tokens(tmp_path):
    site = build_site(tmp_path / "ws", annotators=2, clips=2, per_clip=1)
    site.workspace.close()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DFEW_DATABASE_URL",
                                                           "DFEW_SERVER_SECRET")}
    process = subprocess.Popen(
        [sys.executable, "-c", "from dfew_build.cli import main; main()",
         "-w", str(tmp_path / "ws"), "serve", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                assert httpx.get(f"{base}/login").status_code == 200
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        with httpx.Client(base_url=base, follow_redirects=True) as client:
            response = client.get(f"/login/{site.tokens['ann1']}")
            assert response.status_code == 200 and 'data-clip="' in response.text
        secret = tmp_path / "ws" / "server_secret"
        assert secret.stat().st_mode & 0o077 == 0  # the signing key is the owner's alone
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert "GET /login/[redacted] HTTP/1.1\" 303" in output
    assert site.tokens["ann1"] not in output
    # Where to connect, and that the links (http://127.0.0.1:8000 from dfew.toml) do not.
    assert (f"Listening on 127.0.0.1, port {port}. People open:\n"
            f"  http://127.0.0.1:{port}  (this machine only)\n") in output
    assert (f"warning: the login links that `people add` and `people link` print point at "
            f"http://127.0.0.1:8000 ([server] host and port in dfew.toml), but the server "
            f"listens on port {port}, so they will not open. Fix: serve with --port 8000 "
            f"(the links' port), or set port = {port} under [server] in "
            f"{tmp_path / 'ws' / 'dfew.toml'} and reissue the links with `dfew-build people "
            f"link --all`.\n") in output
