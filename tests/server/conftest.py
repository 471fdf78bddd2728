"""Fixtures for the server tests: real `node bin/hasync.js serve` processes on 127.0.0.1.

These tests need no Home Assistant instance; each one that talks to a server asks for
`socket_enabled` (the HA test plugin blocks sockets otherwise). No server outlives its test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
import json
from pathlib import Path
import sqlite3
import time
from typing import Any
import urllib.error
import urllib.request

import pytest

from devtools.server import SERVER_DIR, ServerProcess, node_binary

FRONTEND_FIXTURE = SERVER_DIR / "test-support" / "frontend"
"""The server's own frontend fixture: index.html, hasync-build.json and one hashed asset."""
STARTUP_TIMEOUT = 60.0
"""Seconds for a server to answer /health; generous for a loaded 2-core machine."""
NODE_MAJOR = 24
"""The Node these tests run the server on; the node:test suite covers 20 and 24."""


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Override the parent autouse fixture: these tests need no Home Assistant instance."""


class Started:
    """Start servers for one test and stop them all at its end."""

    def __init__(self, tmp_path: Path) -> None:
        """Collect servers under this test's temp dir."""
        self.tmp_path = tmp_path
        self.servers: list[ServerProcess] = []

    def __call__(
        self,
        data_dir: Path | None = None,
        *,
        env: Mapping[str, str] | None = None,
        need_token: bool = True,
        wait: bool = True,
    ) -> ServerProcess:
        """Start a server (debug log, the frontend fixture) and wait until /health answers."""
        server = ServerProcess(
            data_dir or self.tmp_path / f"data{len(self.servers)}",
            node=node_binary(NODE_MAJOR),
            env={
                "HASYNC_FRONTEND_DIR": str(FRONTEND_FIXTURE),
                "HASYNC_LOG_LEVEL": "debug",
                **(env or {}),
            },
        )
        self.servers.append(server)
        server.start()
        if wait:
            try:
                server.wait_healthy(STARTUP_TIMEOUT, need_token=need_token)
            except BaseException:
                server.kill()
                raise
        return server

    def stop_all(self) -> None:
        """SIGKILL whatever still runs (tests that care about SIGTERM stop their servers themselves)."""
        for server in self.servers:
            server.kill()


@pytest.fixture
def start_server(socket_enabled: None, tmp_path: Path) -> Iterator[Started]:
    """Return a function that starts real servers; all of them are killed when the test ends."""
    started = Started(tmp_path)
    try:
        yield started
    finally:
        started.stop_all()


def http_request(
    url: str,
    path: str,
    *,
    token: str | None = None,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    data: bytes | None = None,
    timeout: float = 10.0,
) -> tuple[int, dict[str, str], bytes]:
    """Send one request; return status, headers (lower-case names) and body, for any status."""
    request = urllib.request.Request(f"{url}{path}", method=method, data=data)  # noqa: S310
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return (
                int(response.status),
                {k.lower(): v for k, v in response.headers.items()},
                response.read(),
            )
    except urllib.error.HTTPError as err:
        return int(err.code), {k.lower(): v for k, v in err.headers.items()}, err.read()


def get_json(url: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    """GET a JSON resource; return status and decoded body."""
    status, _, body = http_request(url, path, **kwargs)
    return status, json.loads(body)


def wait_until(
    predicate: Callable[[], object], *, timeout: float = 15.0, what: str = "condition"
) -> object:
    """Poll until predicate() is truthy; return its value or fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def read_db(path: Path, sql: str) -> list[tuple[Any, ...]]:
    """Run one query on a new connection (Python's sqlite3: no better-sqlite3 handle rules here)."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()
