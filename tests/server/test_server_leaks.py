"""The API token never leaks from the server: logs at every level, documents, error bodies.

Real processes at HASYNC_LOG_LEVEL=trace (the most verbose level; every message of the higher
levels is written too). The one place a token may appear is the first-start banner line
`HASYNC_API_TOKEN=<token>` (standalone, or under Supervisor when discovery fails), exactly once;
rotate-token prints its own banner the same way. Under Supervisor the discovery POST carries the
token to Supervisor by design; it must not be logged. The ingress page is served only to the
ingress proxy address under Supervisor.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import json
import os
from pathlib import Path
import socket
import subprocess
import threading
from typing import Any, ClassVar

import pytest

from devtools.server import SERVER_DIR, ServerProcess, node_binary

from .conftest import NODE_MAJOR, Started, get_json, http_request, wait_until
from .test_auth_abuse import send

TRACE = {"HASYNC_LOG_LEVEL": "trace"}
SUPERVISOR_TOKEN = "supervisor-secret-0123456789abcdef"  # noqa: S105 - a test secret


def banner_lines(output: str, token: str) -> list[str]:
    """Lines of the output that contain the token."""
    return [line for line in output.splitlines() if token in line]


def assert_only_banner(output: str, token: str, *, times: int = 1) -> None:
    """Assert that the token appears only as the banner line, exactly `times` times."""
    lines = banner_lines(output, token)
    assert lines == [f"HASYNC_API_TOKEN={token}"] * times, lines


def exercise(server: ServerProcess, token: str) -> list[bytes]:
    """Send authenticated and failing requests of every kind; return every body received."""
    bodies: list[bytes] = []
    requests: list[tuple[str, str, dict[str, str]]] = [
        ("GET", "/api/v1/status", {"Authorization": f"Bearer {token}"}),
        ("GET", "/api/v1/history?window=1h", {"Authorization": f"Bearer {token}"}),
        ("GET", "/api/v1/history?window=never", {"Authorization": f"Bearer {token}"}),
        ("HEAD", "/api/v1/events", {"Authorization": f"Bearer {token}"}),
        ("GET", "/health", {}),
        ("GET", "/api/v1/openapi.json", {}),
        ("GET", f"/api/v1/status?token={token}", {}),
        ("GET", f"/api/v1/{token}", {"Authorization": f"Bearer {token}"}),
        ("GET", "/api/v1/status", {"Authorization": f"Bearer {token}x"}),
        ("GET", "/api/v1/status", {"Authorization": f"Basic {token}"}),
        ("GET", "/api/v1/status", {"X-Api-Token": token}),
        ("POST", "/api/v1/status", {"Authorization": f"Bearer {token}"}),
        ("GET", "/health", {"X-Filler": token * 400}),
    ]
    for method, path, headers in requests:
        bodies.append(send(server, method, path, headers=headers)[2])
    code, _, body = send(server, "POST", "/health", body=token.encode() * 500)
    assert code == 413
    bodies.append(body)
    # A real event: the document pushed on the stream.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            f"GET /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
        )
        data = b""
        while b"\n\n" not in data.partition(b"\r\n\r\n")[2]:
            data += sock.recv(65536)
        bodies.append(data)
    return bodies


def assert_clean(bodies: list[bytes], *secrets: str) -> None:
    """No body holds a secret."""
    for body in bodies:
        for secret in secrets:
            assert secret.encode() not in body, body[:300]


def test_standalone_token_only_in_the_one_banner(start_server: Started, tmp_path: Path) -> None:
    """First start, requests, failures, restart, rotate-token, a database error: one banner line."""
    data = tmp_path / "data"
    server = start_server(data, env=TRACE)
    token = server.token
    assert token
    bodies = exercise(server, token)
    assert_clean(bodies, token)
    _, document = get_json(server.url, "/api/v1/status", token=token)
    assert token not in json.dumps(document)
    assert any(" DEBUG GET /api/v1/status 200 " in line for line in server.lines), (
        "trace logs requests"
    )
    assert any(" DEBUG GET /api/v1/status 401 " in line for line in server.lines)
    assert server.stop() == 0
    first_run = server.output
    assert_only_banner(first_run, token)

    # Restart: no banner, the token still works, still never logged.
    server.lines.clear()
    server.start()
    server.wait_healthy(60.0)
    assert_clean(exercise(server, token), token)

    # rotate-token: its own banner once, nothing else; the running server never shows either token.
    env = {k: v for k, v in os.environ.items() if not k.startswith("HASYNC_")}
    rotated = subprocess.run(
        [str(node_binary(NODE_MAJOR)), str(SERVER_DIR / "bin" / "hasync.js"), "rotate-token"],
        env={**env, "HASYNC_DATA_DIR": str(data), **TRACE},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    new = next(
        line.removeprefix("HASYNC_API_TOKEN=")
        for line in rotated.stdout.splitlines()
        if line.startswith("HASYNC_API_TOKEN=")
    )
    assert_only_banner(rotated.stdout + rotated.stderr, new)
    assert token not in rotated.stdout + rotated.stderr
    wait_until(
        lambda: http_request(server.url, "/api/v1/status", token=new)[0] == 200,
        what="the rotated token to be accepted",
    )
    assert_clean(exercise(server, new), token, new)

    # A database error (the file deleted while open) is reported without secrets.
    (data / "hasync.db").unlink()
    wait_until(lambda: get_json(server.url, "/health")[0] == 503, what="the database check to fail")
    _, document = get_json(server.url, "/api/v1/status", token=new)
    assert_clean(
        [json.dumps(document).encode(), http_request(server.url, "/health")[2]], token, new
    )
    assert server.stop() == 0
    everything = first_run + "\n" + server.output
    assert token not in server.output
    assert new not in everything
    assert_only_banner(everything, token)


@dataclass
class FakeSupervisor:
    """POST /discovery on 127.0.0.1: records the requests, answers as configured."""

    status: int = 200
    echo_body: bool = False
    calls: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    _server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        """Listen on a free port in a thread."""
        owner = self

        class Handler(BaseHTTPRequestHandler):
            calls: ClassVar[list[dict[str, Any]]] = owner.calls

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                owner.calls.append(
                    {"path": self.path, "headers": dict(self.headers), "body": json.loads(body)}
                )
                message = f"invalid discovery message: {body.decode()}" if owner.echo_body else "ok"
                answer = json.dumps(
                    {"result": "ok" if owner.status == 200 else "error", "message": message}
                )
                self.send_response(owner.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer.encode())

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                """Quiet."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Stop listening."""
        if self._server:
            self._server.shutdown()
            self._server.server_close()


@pytest.fixture
def supervisor(socket_enabled: None) -> Iterator[FakeSupervisor]:
    """Run a fake Supervisor API for one test."""
    fake = FakeSupervisor()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


def supervisor_env(supervisor: FakeSupervisor, proxy: str = "127.0.0.2") -> dict[str, str]:
    """Return the environment of a server under (the fake) Supervisor."""
    return {
        **TRACE,
        "SUPERVISOR_TOKEN": SUPERVISOR_TOKEN,
        "HASYNC_SUPERVISOR_URL": supervisor.url,
        "HASYNC_ADVERTISE_HOST": "local-hasync",
        "HASYNC_INGRESS_PROXY": proxy,
    }


def test_discovery_carries_the_token_but_never_logs_it(
    start_server: Started, supervisor: FakeSupervisor
) -> None:
    """Under Supervisor the token goes to Supervisor only: no banner, no log line, no body."""
    server = start_server(env=supervisor_env(supervisor), need_token=False)
    wait_until(lambda: supervisor.calls, what="the discovery POST")
    call = supervisor.calls[0]
    token = call["body"]["config"]["token"]
    assert call["path"] == "/discovery"
    assert call["headers"]["authorization"] == f"Bearer {SUPERVISOR_TOKEN}"
    assert call["body"] == {
        "service": "hasync",
        "config": {"host": "local-hasync", "port": server.port, "token": token},
    }
    wait_until(
        lambda: any("announced to Home Assistant" in line for line in server.lines),
        what="the announce log line",
    )
    bodies = exercise(server, token)
    assert_clean(bodies, token, SUPERVISOR_TOKEN)
    assert server.stop() == 0
    assert token not in server.output, "announced, so not even the banner"
    assert SUPERVISOR_TOKEN not in server.output


def test_discovery_refused_with_the_body_echoed(
    start_server: Started, supervisor: FakeSupervisor
) -> None:
    """Supervisor refuses and echoes the token in its error message.

    The log shows that message redacted, and the banner (the fallback) holds the token once.
    """
    supervisor.status = 400
    supervisor.echo_body = True
    server = start_server(env=supervisor_env(supervisor))
    token = server.token
    assert token
    wait_until(
        lambda: any("Supervisor discovery answered HTTP 400" in line for line in server.lines)
    )
    assert_clean(exercise(server, token), token, SUPERVISOR_TOKEN)
    assert server.stop() == 0
    assert_only_banner(server.output, token)
    assert SUPERVISOR_TOKEN not in server.output
    assert any("[redacted]" in line for line in server.lines), "the echoed token was redacted"


def test_ingress_page_only_for_the_ingress_proxy(
    start_server: Started, supervisor: FakeSupervisor
) -> None:
    """Under Supervisor: the page and the API without a token for 127.0.0.2 (the proxy here) only."""
    server = start_server(env=supervisor_env(supervisor), need_token=False)
    wait_until(lambda: supervisor.calls, what="the discovery POST")
    token = supervisor.calls[0]["body"]["config"]["token"]
    for path in ("/", "/index.html", "/assets/index-3b9c1f.js"):
        assert send(server, "GET", path, source="127.0.0.2")[0] == 200, path
        code, _, body = send(server, "GET", path)
        assert code == 403, path
        assert json.loads(body) == {
            "error": "forbidden",
            "reason": "the page is served only through Home Assistant ingress",
        }
        assert send(server, "GET", path, headers={"Authorization": f"Bearer {token}"})[0] == 403
        assert send(server, "GET", path, source="127.0.0.3")[0] == 403
    assert send(server, "GET", "/api/v1/status", source="127.0.0.2")[0] == 200
    assert send(server, "GET", "/api/v1/status")[0] == 401
    assert (
        send(server, "GET", "/api/v1/status", headers={"Authorization": f"Bearer {token}"})[0]
        == 200
    )
    assert send(server, "POST", "/api/v1/status", source="127.0.0.2")[0] == 405
    assert send(server, "GET", "/health")[0] == 200


def test_standalone_trusts_no_address(start_server: Started) -> None:
    """Without SUPERVISOR_TOKEN the page is public and HASYNC_INGRESS_PROXY grants nothing."""
    server = start_server(env={"HASYNC_INGRESS_PROXY": "127.0.0.1"})
    assert send(server, "GET", "/")[0] == 200
    assert send(server, "GET", "/api/v1/status")[0] == 401
