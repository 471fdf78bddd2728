"""Auth abuse against a real server process, driven by the OpenAPI document it serves.

The node suite (addon/server/test/abuse.test.js) also checks the route table against the document,
the verification cache's keys, the constant-time comparison and slow clients with short timeouts;
these tests take the outside view of the process as users run it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
import http.client
import json
import socket
import time
from typing import Any

from devtools.server import ServerProcess

from .conftest import Started, get_json, http_request

WRONG = "wrong-token-abcdefghijklmnopqrstuvwxyz012345"


def operations(document: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(path, method, secured) for every operation of the document."""
    return [
        (
            path,
            method.upper(),
            any("bearer" in s for s in operation.get("security", document["security"])),
        )
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def concrete(path: str) -> str:
    """Return a request path for a path template."""
    return path.replace("{file}", "index-3b9c1f.js")


def send(
    server: ServerProcess,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    source: str = "127.0.0.1",
) -> tuple[int, dict[str, str], bytes]:
    """One request on a new connection from a chosen loopback source address."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", server.port, timeout=10, source_address=(source, 0)
    )
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        data = b"" if method == "HEAD" else response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        connection.close()


def raw(server: ServerProcess, data: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes, half-close, and read until the server closes."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_every_secured_operation_refuses_missing_and_wrong_tokens(start_server: Started) -> None:
    """Generated from the served document: a new secured operation is covered without a new test."""
    server = start_server()
    status, document = get_json(server.url, "/api/v1/openapi.json")
    assert status == 200
    table = operations(document)
    secured = [(p, m) for p, m, s in table if s]
    assert {p for p, _ in secured} == {"/api/v1/status", "/api/v1/events", "/api/v1/history"}
    for path, method in secured:
        for what, headers in (
            ("no token", {}),
            ("a wrong token", {"Authorization": f"Bearer {WRONG}"}),
            ("a Basic credential", {"Authorization": "Basic dXNlcjpwYXNz"}),
        ):
            code, response_headers, body = send(server, method, concrete(path), headers=headers)
            assert code == 401, f"{method} {path} with {what}: {code}"
            assert response_headers["content-type"] == "application/json"
            assert json.loads(body)["error"] == "unauthorized"
            assert WRONG.encode() not in body
    # The public ones answer without a token (the frontend fixture is served).
    for path, method, is_secured in table:
        if not is_secured:
            code, _, _ = send(server, method, concrete(path))
            assert code == 200, f"{method} {path}: {code}"
    # Nothing outside the document is routed.
    for path in (
        "/api/v1",
        "/api/v1/",
        "/api/v2/status",
        "/api/v1/status/",
        "/API/V1/STATUS",
        "/admin",
    ):
        assert send(server, "GET", path)[0] == 404, path


def test_wrong_token_bursts_get_429_while_health_stays_available(start_server: Started) -> None:
    """The 10th wrong token is still 401, the next request 429 for 60 s; /health never 429.

    Also: a concurrent burst cannot start more verifications than the limit; another address is
    not affected; a request without a token is still 401 during the block (it guesses nothing).
    An idle connection opened at the start is closed with 408 after the 10 s head timeout.
    """
    server = start_server()
    assert server.token
    idle = socket.create_connection(("127.0.0.1", server.port), timeout=20)
    opened = time.monotonic()

    for attempt in range(1, 11):
        code, _, body = send(server, "GET", "/api/v1/status", headers=auth(f"{WRONG}{attempt}"))
        assert code == 401, f"wrong token {attempt}: {code} {body!r}"
    code, headers, body = send(server, "GET", "/api/v1/status", headers=auth(server.token))
    assert code == 429, "blocked even with the right token"
    assert json.loads(body) == {
        "error": "too_many_requests",
        "reason": "too many failed authentication attempts",
        "retry_after_s": int(headers["retry-after"]),
    }
    assert 59 <= int(headers["retry-after"]) <= 60
    for path in ("/api/v1/events", "/api/v1/history"):
        assert send(server, "GET", path, headers=auth(server.token))[0] == 429
    assert send(server, "GET", "/api/v1/status")[0] == 401, "no token: 401, even while blocked"

    with ThreadPoolExecutor(16) as pool:
        health = list(pool.map(lambda _: send(server, "GET", "/health")[0], range(200)))
    assert set(health) == {200}, "never 429, never an error"
    assert send(server, "GET", "/api/v1/openapi.json")[0] == 200
    assert (
        send(server, "GET", "/api/v1/status", headers=auth(server.token), source="127.0.0.2")[0]
        == 200
    ), "another address is not blocked"

    # A concurrent burst from a fresh address: at most 10 verifications, the rest refused at once,
    # either by the address's limit or because the server verifies one token at a time and would
    # keep them waiting too long. Only verified wrong tokens count towards the block.
    def burst(i: int) -> tuple[int, str | None]:
        code, _, body = send(
            server, "GET", "/api/v1/status", headers=auth(f"{WRONG}-{i}"), source="127.0.0.3"
        )
        return code, json.loads(body).get("reason") if code == 429 else None

    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(burst, range(64)))
    codes = [code for code, _ in answers]
    assert set(codes) <= {401, 429}
    assert codes.count(401) <= 10, codes
    assert {reason for _, reason in answers if reason} <= {
        "too many authentication attempts at once",
        "the server is busy verifying other tokens; retry in a moment",
    }
    assert send(server, "GET", "/api/v1/status", headers=auth(server.token), source="127.0.0.3")[
        0
    ] == (429 if codes.count(401) == 10 else 200), codes

    # The idle connection: 408 after the head timeout (10 s, checked every second), then closed.
    idle.settimeout(max(1.0, 14 - (time.monotonic() - opened)))
    answer = idle.recv(4096)
    waited = time.monotonic() - opened
    idle.close()
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert 9.5 <= waited <= 13, f"closed after {waited:.1f} s"
    assert server.running


def test_oversized_and_malformed_requests_get_4xx(start_server: Started) -> None:
    """431 for headers over 16 KiB, 413 for bodies over 16 KiB, 4xx for junk; the server survives."""
    server = start_server()
    code, _, body = send(server, "GET", "/health", headers={"X-Filler": "a" * 17_000})
    assert (code, json.loads(body)["error"]) == (431, "headers_too_large")
    code, _, body = send(server, "POST", "/api/v1/status", body=b"x" * 17_000)
    assert (code, json.loads(body)["error"]) == (413, "payload_too_large")
    for request, status in (
        (
            b"GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5000\r\n"
            + b"y" * 0x5000,
            b"413",
        ),
        (b"BREW /health HTTP/1.1\r\nHost: x\r\n\r\n", b"400"),
        (b"DELETE /api/v1/status HTTP/1.1\r\nHost: x\r\n\r\n", b"405"),
        (b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: x\r\n\r\n", b"405"),
        (b"GET /health HTTP/7.0\r\nHost: x\r\n\r\n", b"400"),
        (b"GET /health HTTP/1.1\r\n\r\n", b"400"),
        (b"GET /he\x00alth HTTP/1.1\r\nHost: x\r\n\r\n", b"400"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)), b"400"),
        (b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", b"431"),
        (b"GET /assets/..%2f..%2f..%2fetc%2fpasswd HTTP/1.1\r\nHost: x\r\n\r\n", b"404"),
    ):
        answer = raw(server, request)
        assert answer.startswith(b"HTTP/1.1 " + status + b" "), (request[:40], answer[:200])
        head, _, body = answer.partition(b"\r\n\r\n")
        assert b"content-type: application/json" in head.lower(), answer[:300]
        assert json.loads(body)["error"]
    assert http_request(server.url, "/health")[0] == 200
    assert server.running
    errors = [line for line in server.lines if " ERROR " in line or "uncaught" in line]
    assert not errors, "\n".join(errors)


def auth(token: str) -> dict[str, str]:
    """Return the Authorization header for a token."""
    return {"Authorization": f"Bearer {token}"}
