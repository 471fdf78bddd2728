"""Run the real HAsync Node server as a child process."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
import json
import os
from pathlib import Path
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
from typing import IO, Any
import urllib.error
import urllib.request

REPO = Path(__file__).resolve().parent.parent
SERVER_DIR = REPO / "addon" / "server"
NODE_BIN = REPO / ".toolchain" / "bin"
TOKEN_LINE = re.compile(r"^HASYNC_API_TOKEN=(?P<token>\S+)$")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def node_binary(major: int = 24) -> Path:
    """Return the Node runtime of that major installed by scripts/setup."""
    return NODE_BIN / f"node{major}"


def describe_exit(returncode: int) -> str:
    """Say how a process ended, from its subprocess return code: by a signal's name, not its number."""
    if returncode >= 0:
        return f"exited with code {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    return f"was killed by {name}"


def log_tail(path: Path, lines: int = 20) -> list[str]:
    """Return the last lines of a log file (none if it does not exist)."""
    try:
        with path.open(encoding="utf-8", errors="replace") as file:
            return [line.rstrip("\n") for line in deque(file, maxlen=lines)]
    except FileNotFoundError:
        return []


class ServerProcess:
    """One server process; collects its output and the token it prints on first start."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        node: Path | None = None,
        server_dir: Path = SERVER_DIR,
        env: Mapping[str, str] | None = None,
        log_path: Path | None = None,
    ) -> None:
        """Describe the process; nothing starts until start().

        With ``log_path`` the output is also appended to that file (readable by the owner only:
        a first start prints the token), each start under a line that names its time and pid.
        """
        self.data_dir = data_dir
        self.log_path = log_path
        self.port = port or free_port()
        self.node = node or node_binary()
        self.server_dir = server_dir
        self.extra_env = dict(env or {})
        self.lines: list[str] = []
        self.token: str | None = self.extra_env.get("HASYNC_TOKEN")
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._token_seen = threading.Event()

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """PID of the running process."""
        if self._proc is None:
            raise RuntimeError("server not started")
        return self._proc.pid

    @property
    def running(self) -> bool:
        """Whether the process was started and has not exited."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        """Exit code of the last process (None while it runs or before start)."""
        return None if self._proc is None else self._proc.poll()

    def start(self) -> None:
        """Spawn the server (again, on the same port and data dir, after a stop or a kill).

        Output is collected by a reader thread; the token stays known across restarts.
        """
        if self.running:
            raise RuntimeError("server already running")
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("HASYNC_") and key != "SUPERVISOR_TOKEN"
        }
        env |= {
            "HASYNC_DATA_DIR": str(self.data_dir),
            "HASYNC_HOST": "127.0.0.1",
            "HASYNC_PORT": str(self.port),
        }
        env |= self.extra_env
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._proc = subprocess.Popen(
            [str(self.node), str(self.server_dir / "bin" / "hasync.js"), "serve"],
            cwd=self.server_dir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            # Its own session: a Ctrl-C in the terminal reaches only the parent, which stops the
            # server in its own order (scripts/develop stops Home Assistant first).
            start_new_session=True,
        )
        log = None
        if self.log_path is not None:
            self.log_path.touch(mode=0o600)
            log = self.log_path.open("a", encoding="utf-8", buffering=1)
            stamp = datetime.now().astimezone().isoformat(timespec="seconds")
            log.write(f"----- {stamp} started the HAsync server (pid {self._proc.pid}) -----\n")
        self._reader = threading.Thread(target=self._read, args=(self._proc, log), daemon=True)
        self._reader.start()

    def _read(self, proc: subprocess.Popen[str], log: IO[str] | None) -> None:
        try:
            for raw in proc.stdout or ():
                line = raw.rstrip("\n")
                self.lines.append(line)
                if log is not None:
                    log.write(f"{line}\n")
                if match := TOKEN_LINE.match(line.strip()):
                    self.token = match["token"]
                    self._token_seen.set()
        finally:
            if log is not None:
                log.close()

    def wait_healthy(self, timeout: float = 15.0, *, need_token: bool = True) -> None:
        """Block until /health answers (any status) and, if asked, the token is known."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"server exited with {self._proc.returncode}:\n{self.output}")
            if health_status(self.url) is not None and (not need_token or self.token):
                return
            time.sleep(0.05)
        raise TimeoutError(f"server not healthy within {timeout}s:\n{self.output}")

    @property
    def output(self) -> str:
        """Everything the process printed so far."""
        return "\n".join(self.lines)

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 10.0) -> int | None:
        """Send the signal and wait; returns the exit code (None if it was never started).

        A process that already exited is not signalled; its exit code is returned. Either way
        the reader thread is joined, so no thread outlives the process.
        """
        if self._proc is None:
            return None
        if self._proc.poll() is None:
            self._proc.send_signal(sig)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._reader is not None:
            self._reader.join(timeout=5)
            self._reader = None
        return self._proc.returncode

    def kill(self) -> int | None:
        """SIGKILL, as a crash or power loss would; returns the exit code."""
        return self.stop(signal.SIGKILL)


@contextmanager
def fresh_server(
    node_major: int = 24, env: Mapping[str, str] | None = None
) -> Iterator[ServerProcess]:
    """Run a server on a new data dir until healthy with its token; SIGKILL it afterwards.

    The benches use it; a bench that judges a clean SIGTERM calls stop() itself first. ``env``
    adds to the server's environment (the soak's allocator settings).
    """
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp) / "data", node=node_binary(node_major), env=env)
        server.start()
        try:
            server.wait_healthy(60)
            yield server
        finally:
            server.kill()


def health_status(url: str, timeout: float = 1.0) -> int | None:
    """HTTP status of GET /health, or None if nothing answers."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except OSError:
        return None


def fetch_status(url: str, token: str, timeout: float = 10.0) -> dict[str, Any]:
    """GET /api/v1/status with the token and return the decoded status document."""
    request = urllib.request.Request(
        f"{url}/api/v1/status", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        document: dict[str, Any] = json.load(response)
    return document


def rotate_token(data_dir: Path, node: Path | None = None, *, server_dir: Path = SERVER_DIR) -> str:
    """Run the server's rotate-token command and return the new token it prints."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("HASYNC_") and k != "SUPERVISOR_TOKEN"
    }
    env["HASYNC_DATA_DIR"] = str(data_dir)
    result = subprocess.run(
        [str(node or node_binary()), str(server_dir / "bin" / "hasync.js"), "rotate-token"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    for line in result.stdout.splitlines():
        if match := TOKEN_LINE.match(line.strip()):
            return match["token"]
    raise RuntimeError(f"rotate-token printed no token:\n{result.stdout}{result.stderr}")
