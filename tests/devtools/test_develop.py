"""scripts/develop: the server's log file, exit reports by signal name, restarting only the server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
import contextlib
import io
import os
from pathlib import Path
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from devtools.develop import DevServer, main, watch_keys
from devtools.server import (
    REPO,
    ServerProcess,
    describe_exit,
    free_port,
    health_status,
    log_tail,
    node_binary,
)

STARTUP_TIMEOUT = 60.0


def wait_until(predicate: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    """Poll until predicate() is truthy, or fail naming what was awaited."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("returncode", "text"),
    [
        (0, "exited with code 0"),
        (2, "exited with code 2"),
        (-signal.SIGKILL, "was killed by SIGKILL"),
        (-signal.SIGTERM, "was killed by SIGTERM"),
        (-signal.SIGSEGV, "was killed by SIGSEGV"),
        (-200, "was killed by signal 200"),
    ],
)
def test_exit_is_described_by_the_signals_name(returncode: int, text: str) -> None:
    assert describe_exit(returncode) == text


def test_log_tail(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    assert log_tail(log) == []
    log.write_text("".join(f"line {i}\n" for i in range(50)))
    assert log_tail(log) == [f"line {i}" for i in range(30, 50)]
    assert log_tail(log, 3) == ["line 47", "line 48", "line 49"]


def test_keys_ask_for_a_restart() -> None:
    restart = threading.Event()
    watch_keys(io.StringIO("x\n\nhelp\n"), restart)
    assert not restart.is_set()
    watch_keys(io.StringIO("x\n R \n"), restart)
    assert restart.is_set()


@pytest.fixture
def dev_server(socket_enabled: None, tmp_path: Path) -> Iterator[DevServer]:
    """Return a DevServer over a real server process with a log file; kill it at the end."""
    server = ServerProcess(
        tmp_path / "data", node=node_binary(24), log_path=tmp_path / "server.log"
    )
    dev = DevServer(server, tmp_path)
    try:
        yield dev
    finally:
        server.kill()


def test_killed_server_is_reported_once_with_its_log(
    dev_server: DevServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dev_server.start()
    server = dev_server.server
    assert (tmp_path / "server.pid").read_text().strip() == str(server.pid)
    assert server.token is not None
    log = (tmp_path / "server.log").read_text()
    assert f"started the HAsync server (pid {server.pid})" in log
    assert "listening on http://127.0.0.1:" in log
    assert (tmp_path / "server.log").stat().st_mode & 0o077 == 0, "the log holds the token"

    dev_server.check()
    assert capsys.readouterr().out == "", "a running server is not reported"
    os.kill(server.pid, signal.SIGKILL)
    wait_until(lambda: not server.running, "the server to die")
    dev_server.check()
    out = capsys.readouterr().out
    assert (
        f"the HAsync server was killed by SIGKILL. The last lines of {tmp_path / 'server.log'}"
        in out
    )
    assert not re.search(r"(?<![\w-])-9\b", out), "the signal is named, not numbered"
    assert "listening on http://127.0.0.1:" in out
    assert "HASYNC_API_TOKEN=[hidden]" in out
    assert server.token not in out
    assert "scripts/develop restart-server" in out
    dev_server.check()
    assert capsys.readouterr().out == "", "reported once"


def test_restart_brings_the_server_back_and_a_failed_one_is_reported(
    dev_server: DevServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dev_server.start()
    server = dev_server.server
    first = server.pid
    assert dev_server.restart()
    assert server.pid != first
    assert health_status(server.url) is not None
    out = capsys.readouterr().out
    assert "the previous server exited with code 0" in out
    assert f"back on {server.url} (pid {server.pid})" in out
    assert (tmp_path / "server.log").read_text().count("started the HAsync server") == 2

    # The port taken by something else: the new server cannot listen, which is reported, not raised.
    server.stop()
    capsys.readouterr()
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", server.port))
        squatter.listen()
        assert not dev_server.restart()
    out = capsys.readouterr().out
    assert "the HAsync server did not start: server exited with" in out
    assert "EADDRINUSE" in out
    dev_server.check()
    assert "killed" not in capsys.readouterr().out, "the failed start was reported already"


def test_develop_server_only_restart_command_and_kill(
    socket_enabled: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real scripts/develop process (server only): restart-server, a SIGKILL, Ctrl-C."""
    dev = tmp_path / "dev"
    assert main(["restart-server", "--dev-dir", str(dev)]) == 1, "nothing runs yet"
    port = free_port()
    develop = subprocess.Popen(
        [
            *(sys.executable, "-m", "devtools.develop", "--server-only"),
            *("--server-port", str(port), "--dev-dir", str(dev)),
        ],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(develop.stdout or ()), daemon=True)
    reader.start()
    output = lambda: "".join(lines)  # noqa: E731
    try:
        wait_until(lambda: "Ctrl-C stops the server" in output(), "the banner", STARTUP_TIMEOUT)
        banner = output()
        assert f"Server log      {dev / 'server.log'}" in banner
        assert "Restart only the server: run scripts/develop restart-server" in banner
        first = (dev / "server.pid").read_text().strip()

        assert main(["restart-server", "--dev-dir", str(dev)]) == 0
        second = (dev / "server.pid").read_text().strip()
        assert second != first
        assert f"the HAsync server restarted (pid {second})" in capsys.readouterr().out
        assert health_status(f"http://127.0.0.1:{port}") is not None

        os.kill(int(second), signal.SIGKILL)
        wait_until(lambda: "was killed by SIGKILL" in output(), "the exit report")
        wait_until(lambda: "To start only the server again" in output(), "the whole report")
        report = output().split("was killed by SIGKILL", 1)[1]
        assert f"started the HAsync server (pid {second})" in report
        assert health_status(f"http://127.0.0.1:{port}") is None

        assert main(["restart-server", "--dev-dir", str(dev)]) == 0, "a dead server starts again"
        assert health_status(f"http://127.0.0.1:{port}") is not None
        develop.send_signal(signal.SIGINT)
        assert develop.wait(30) == 0
        reader.join(5)
        assert "server exit code 0" in output()
        assert not (dev / "develop.pid").exists()
        assert main(["restart-server", "--dev-dir", str(dev)]) == 1
    finally:
        if develop.poll() is None:
            develop.kill()
            develop.wait()
        if (dev / "server.pid").exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int((dev / "server.pid").read_text()), signal.SIGKILL)


def test_restart_command_never_signals_another_process(tmp_path: Path) -> None:
    """A develop.pid left behind whose pid now belongs to another process (here: this one)."""
    (tmp_path / "develop.pid").write_text(f"{os.getpid()}\n")
    (tmp_path / "server.url").write_text("http://127.0.0.1:1\n")
    received: list[int] = []
    previous = signal.signal(signal.SIGUSR1, lambda sig, _: received.append(sig))
    try:
        assert main(["restart-server", "--dev-dir", str(tmp_path)]) == 1
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert received == []
