"""Fixtures for the app (add-on) tests: parsed app files and the real HAsync server process."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
import json
import os
from pathlib import Path
import re
import signal
import subprocess
import sys
import time
from typing import Any
import urllib.error
import urllib.request

import pytest
import yaml

from .checks import ADDON, NODE24, SERVER


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Override the parent autouse fixture: these tests need no Home Assistant instance."""


@pytest.fixture(scope="session")
def config() -> dict[str, Any]:
    """Return the app's config.yaml."""
    data: dict[str, Any] = yaml.safe_load((ADDON / "config.yaml").read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="session")
def translations() -> dict[str, Any]:
    """Return the app's translations/en.yaml."""
    data: dict[str, Any] = yaml.safe_load(
        (ADDON / "translations" / "en.yaml").read_text(encoding="utf-8")
    )
    return data


def free_port() -> int:
    """Ask the kernel for a free port (in a child process: this test process may not open sockets)."""
    code = "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"
    return int(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
    )


def http_status(url: str, timeout: float = 5.0) -> int:
    """GET a URL and return the HTTP status (0 when nothing answers)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310  (http to 127.0.0.1)
            return int(response.status)
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return 0


def wait_for_log(
    pattern: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 30.0
) -> None:
    """Wait until the log matches pattern, failing early if the process dies.

    Session fixtures may not open sockets here (phcc blocks them outside `socket_enabled` tests), so
    readiness comes from the server's own "listening on" line.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if re.search(pattern, text):
            return
        if process.poll() is not None:
            pytest.fail(f"the process exited with {process.returncode}:\n{text}")
        time.sleep(0.1)
    pytest.fail(
        f"no log line matching {pattern!r} within {timeout} s:\n{log.read_text(errors='replace')}"
    )


def wait_for_health(
    url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 30.0
) -> None:
    """Wait until GET /health answers 200 (needs socket_enabled), failing early if the process dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"the process exited with {process.returncode}:\n{log.read_text(errors='replace')}"
            )
        if http_status(f"{url}/health", timeout=2) == 200:
            return
        time.sleep(0.2)
    pytest.fail(
        f"/health did not answer 200 within {timeout} s:\n{log.read_text(errors='replace')}"
    )


def stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> int:
    """SIGTERM the process and return its exit code (SIGKILL if it does not stop in time)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


@dataclass
class Server:
    """A running HAsync server started from addon/server."""

    url: str
    data_dir: Path
    log: Path
    process: subprocess.Popen[bytes]

    @property
    def token(self) -> str:
        """The API token the server printed on its first standalone start."""
        match = re.search(r"HASYNC_API_TOKEN=(\S+)", self.log.read_text(errors="replace"))
        assert match, f"the server printed no HASYNC_API_TOKEN line:\n{self.log.read_text()}"
        return match.group(1)


def server_env(data_dir: Path, port: int) -> dict[str, str]:
    """Environment for a standalone server on 127.0.0.1 (no Supervisor variables)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HASYNC_", "SUPERVISOR_"))
    }
    env.update(HASYNC_HOST="127.0.0.1", HASYNC_PORT=str(port), HASYNC_DATA_DIR=str(data_dir))
    return env


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Run `node bin/hasync.js serve` (Node 24, as in the image) once for the session."""
    base = tmp_path_factory.mktemp("server")
    data_dir, log = base / "data", base / "server.log"
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(NODE24), str(SERVER / "bin" / "hasync.js"), "serve"],
            env=server_env(data_dir, port),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_log(rf"listening on http://127\.0\.0\.1:{port}\b", process, log)
        yield Server(url, data_dir, log, process)
    finally:
        stop(process)


@pytest.fixture(scope="session")
def server_subcommands() -> set[str]:
    """Return the subcommands the server's entry point lists under Commands: in --help."""
    result = subprocess.run(
        [str(NODE24), str(SERVER / "bin" / "hasync.js"), "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    section = result.stdout.split("Commands:", 1)[1].split("\n\n", 1)[0]
    return set(re.findall(r"^\s+([a-z][a-z0-9-]*)\s", section, re.MULTILINE))


@pytest.fixture
def route_exists(server: Server, socket_enabled: None) -> Any:
    """Return whether the running server answers a path with anything but 404."""

    def check(path: str) -> bool:
        return http_status(server.url + path) not in {0, 404}

    return check


@pytest.fixture(scope="session")
def package_version() -> str:
    """Return the server's package.json version."""
    version: str = json.loads((SERVER / "package.json").read_text(encoding="utf-8"))["version"]
    return version
