"""scripts/develop: the HAsync server and a real Home Assistant together, pre-configured.

First run: HA gets an owner account (printed below) and a HAsync config entry pointing at the local
server, so http://127.0.0.1:8123 shows the HAsync device with live values after logging in.
The server's output goes to .dev/server.log. Ctrl-C stops both. See USAGE.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
import signal
import sys
import threading
import time
from typing import TextIO

from homeassistant.const import RESTART_EXIT_CODE

from devtools.hass import HassClient, HassProcess
from devtools.server import (
    REPO,
    TOKEN_LINE,
    ServerProcess,
    describe_exit,
    health_status,
    log_tail,
    rotate_token,
)

DEV = REPO / ".dev"
USERNAME = "dev"
PASSWORD = "hasync-dev"  # noqa: S105 - a local, loopback-only development login
TAIL_LINES = 20
"""How many lines of the server's log are printed when it exits."""
USAGE = """\
  scripts/develop                  Home Assistant and the server
  scripts/develop --server-only    the server alone (its status page at http://127.0.0.1:8099/)
  scripts/develop restart-server   restart only the server of a running scripts/develop
                                   (or type r and Enter in its terminal)
"""


def restart_hint(keys: bool) -> str:
    """How to restart only the server: a key in this terminal when it reads one, or the command."""
    command = "run scripts/develop restart-server"
    return f"type r and Enter here, or {command}" if keys else command


def server_token(data_dir: Path, token_file: Path, server: ServerProcess) -> str:
    """Return the token the server accepts: printed on first start, else rotated once to learn it."""
    if server.token:
        token_file.write_text(server.token)
        token_file.chmod(0o600)
        return server.token
    if token_file.exists():
        return token_file.read_text().strip()
    token = rotate_token(data_dir)
    token_file.write_text(token)
    token_file.chmod(0o600)
    return token


def ensure_entry(client: HassClient, server_url: str, token: str) -> None:
    """Create the HAsync entry through the same config flow a user would, once."""
    if client.config_entries("hasync"):
        print("  HAsync config entry already exists")
        return
    result = client.run_user_flow("hasync", {"url": server_url, "token": token})
    if result.get("type") != "create_entry":
        raise RuntimeError(f"HAsync config flow did not create an entry: {result}")
    print(f"  created HAsync config entry '{result['title']}'")


class DevServer:
    """The server under scripts/develop: its log file, its pid file, exit reports and restarts.

    A server that exits is reported once (how it ended, by the signal's name, and the last lines of
    its log) and left down: stopping it is how a developer watches the integration go unavailable
    and raise its repair. A restart asked for brings it back on the same port and data dir.
    """

    def __init__(self, server: ServerProcess, dev_dir: Path, *, keys: bool = False) -> None:
        """Run ``server``, whose log_path must be set; its pid goes to <dev_dir>/server.pid."""
        if server.log_path is None:
            raise ValueError("the develop server needs a log file")
        self.server = server
        self.log_path: Path = server.log_path
        self.pid_file = dev_dir / "server.pid"
        self.hint = restart_hint(keys)
        self._reported = False

    def start(self) -> None:
        """Start the server and wait until /health answers."""
        self.server.start()
        self._reported = False
        self.pid_file.write_text(f"{self.server.pid}\n")
        self.server.wait_healthy(need_token=False)

    def restart(self) -> bool:
        """Stop the server if it runs, start it again; report failure instead of raising."""
        if self.server.running:
            print("==> restarting the HAsync server", flush=True)
            code = self.server.stop()
            print(f"  the previous server {describe_exit(code if code is not None else 0)}")
        else:
            print("==> starting the HAsync server again", flush=True)
        try:
            self.start()
        except (RuntimeError, TimeoutError) as err:
            self._report(f"did not start: {str(err).splitlines()[0]}")
            return False
        print(
            f"==> the HAsync server is back on {self.server.url} (pid {self.server.pid})",
            flush=True,
        )
        return True

    def check(self) -> None:
        """Report an exited server, once."""
        code = self.server.returncode
        if code is not None and not self.server.running and not self._reported:
            self.server.stop()  # joins the reader, so the log file holds the last lines
            self._report(describe_exit(code))

    def _report(self, how: str) -> None:
        self._reported = True
        lines = log_tail(self.log_path, TAIL_LINES)
        print(f"\n==> the HAsync server {how}. The last lines of {self.log_path}:", flush=True)
        for line in lines:
            # The first start's banner holds the token; the terminal need not show it again.
            print(f"  | {TOKEN_LINE.sub(r'HASYNC_API_TOKEN=[hidden]', line)}")
        print(f"  To start only the server again: {self.hint}.\n", flush=True)


def watch_keys(stream: TextIO, restart: threading.Event) -> None:
    """Set ``restart`` for each line "r" typed in the terminal (runs in a daemon thread)."""
    for line in stream:
        if line.strip().lower() == "r":
            restart.set()


def supervise(
    hass: HassProcess | None, server: DevServer, stop: threading.Event, restart: threading.Event
) -> int:
    """Wait for Ctrl-C; restart HA when it asks to be restarted, as HA's container does.

    Restart the server alone when asked (a key, or scripts/develop restart-server).
    """
    while not stop.wait(0.2):
        if restart.is_set():
            restart.clear()
            server.restart()
        server.check()
        if hass is not None and not hass.running:
            code = hass.stop()
            if code != RESTART_EXIT_CODE:
                print(f"\nERROR: Home Assistant exited with {code}; see {hass.log_path}")
                return 1
            print("==> Home Assistant asked for a restart; restarting", flush=True)
            hass.start()
            hass.wait_up()
    return 0


def running_develop(dev_dir: Path) -> int | None:
    """Return the pid of the scripts/develop that runs on ``dev_dir``, if one does."""
    try:
        pid = int((dev_dir / "develop.pid").read_text())
        # A pid left behind may belong to another process by now: SIGUSR1 would end that one.
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError, ValueError:
        return None
    return pid if b"devtools.develop" in cmdline else None


def request_restart(dev_dir: Path, timeout: float = 60.0) -> int:
    """scripts/develop restart-server: ask the running scripts/develop to restart its server."""
    pid = running_develop(dev_dir)
    if pid is None:
        print(f"ERROR: no scripts/develop is running on {dev_dir}", file=sys.stderr)
        return 1
    server_pid_file = dev_dir / "server.pid"

    def read_pid() -> str | None:
        return server_pid_file.read_text().strip() if server_pid_file.exists() else None

    before = read_pid()
    url = (dev_dir / "server.url").read_text().strip()
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = read_pid()
        if now is not None and now != before and health_status(url) is not None:
            print(f"the HAsync server restarted (pid {now}); its log: {dev_dir / 'server.log'}")
            return 0
        time.sleep(0.2)
    print(
        f"ERROR: the server did not answer within {timeout:g}s; see {dev_dir / 'server.log'} "
        "and the terminal of scripts/develop",
        file=sys.stderr,
    )
    return 1


def handle_signals(stop: threading.Event, restart: threading.Event) -> None:
    """Ctrl-C and SIGTERM stop; SIGUSR1 (scripts/develop restart-server) restarts the server."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    signal.signal(signal.SIGUSR1, lambda *_: restart.set())


def run(args: argparse.Namespace) -> int:
    """Run until Ctrl-C."""
    dev: Path = args.dev_dir
    data_dir = dev / "server-data"
    token_file = dev / "server-token"
    log_path = dev / "server.log"
    dev.mkdir(parents=True, exist_ok=True)
    if log_path.exists():
        log_path.replace(dev / "server.log.1")  # the previous run's log, one generation
    # Outside a container the server's cgroup is this whole session, not the app: no cgroup
    # figures, so memory used and CPU usage show the process's own.
    keys = sys.stdin.isatty()
    server = DevServer(
        ServerProcess(
            data_dir,
            port=args.server_port,
            env={"HASYNC_CONTAINER_METRICS": "off"},
            log_path=log_path,
        ),
        dev,
        keys=keys,
    )
    hass = None if args.server_only else HassProcess(dev / "ha-config", port=args.ha_port)
    stop = threading.Event()
    restart = threading.Event()
    handle_signals(stop, restart)
    (dev / "server.url").write_text(f"{server.server.url}\n")
    (dev / "develop.pid").write_text(f"{os.getpid()}\n")
    if keys:
        threading.Thread(target=watch_keys, args=(sys.stdin, restart), daemon=True).start()
    try:
        print(
            f"==> starting the HAsync server on {server.server.url} (log: {log_path})", flush=True
        )
        server.start()
        token = server_token(data_dir, token_file, server.server)
        lines = [
            f"  HAsync server   {server.server.url}   (status page at /, API token in {token_file})"
        ]
        if hass is not None:
            print(
                f"==> starting Home Assistant on {hass.url} (first start takes a minute)",
                flush=True,
            )
            hass.start()
            hass.wait_up()
            client = HassClient(hass.url)
            if client.user_onboarded():
                client.login(USERNAME, PASSWORD)
            else:
                client.onboard("HAsync developer", USERNAME, PASSWORD)
                print(f"  created the owner account '{USERNAME}'")
            ensure_entry(client, server.server.url, token)
            client.wait_running()
            lines.insert(0, f"  Home Assistant  {hass.url}   login: {USERNAME} / {PASSWORD}")
            lines.append(f"  HA log          {hass.config_dir / 'home-assistant.log'}")
        lines.append(f"  Server log      {log_path}")
        stops = "Home Assistant and the server" if hass is not None else "the server"
        print(
            "\n" + "\n".join(lines) + "\n\n"
            f"  Restart only the server: {server.hint}.\n"
            f"  Ctrl-C stops {stops}.\n",
            flush=True,
        )
        return supervise(hass, server, stop, restart)
    except (RuntimeError, TimeoutError) as err:
        print(f"\nERROR: {err}", file=sys.stderr)
        return 1
    finally:
        print(
            "==> stopping",
            "the server" if hass is None else "Home Assistant and the server",
            flush=True,
        )
        hass_code = hass.stop() if hass is not None else None
        server_code = server.server.stop()
        for name in ("develop.pid", "server.pid", "server.url"):
            (dev / name).unlink(missing_ok=True)
        codes = [] if hass is None else [f"Home Assistant exit code {hass_code}"]
        print("  " + ", ".join([*codes, f"server exit code {server_code}"]))


def main(argv: list[str] | None = None) -> int:
    """Parse the command line; run, or ask a running scripts/develop to restart its server."""
    parser = argparse.ArgumentParser(
        prog="scripts/develop",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=USAGE,
    )
    parser.add_argument("command", nargs="?", choices=["run", "restart-server"], default="run")
    parser.add_argument("--ha-port", type=int, default=int(os.environ.get("HA_PORT", "8123")))
    parser.add_argument(
        "--server-port", type=int, default=int(os.environ.get("HASYNC_PORT", "8099"))
    )
    parser.add_argument(
        "--server-only", action="store_true", help="run the server alone, without Home Assistant"
    )
    parser.add_argument("--dev-dir", type=Path, default=DEV, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.command == "restart-server":
        return request_restart(args.dev_dir)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
