"""scripts/develop: the HAsync server and a real Home Assistant together, pre-configured.

First run: HA gets an owner account (printed below) and a HAsync config entry pointing at the local
server, so http://127.0.0.1:8123 shows the HAsync device with live values after logging in.
Ctrl-C stops both.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
import signal
import sys
import threading

from homeassistant.const import RESTART_EXIT_CODE

from devtools.hass import HassClient, HassProcess
from devtools.server import REPO, ServerProcess, rotate_token

DEV = REPO / ".dev"
USERNAME = "dev"
PASSWORD = "hasync-dev"  # noqa: S105 - a local, loopback-only development login


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


def supervise(hass: HassProcess, server: ServerProcess, stop: threading.Event) -> int:
    """Wait for Ctrl-C; restart HA when it asks to be restarted, as HA's container does.

    A server that exits is reported once and left down: stopping it is how a developer watches
    the integration go unavailable and raise its repair.
    """
    server_reported = False
    while not stop.wait(1):
        if not hass.running:
            code = hass.stop()
            if code != RESTART_EXIT_CODE:
                print(f"\nERROR: Home Assistant exited with {code}; see {hass.log_path}")
                return 1
            print("==> Home Assistant asked for a restart; restarting", flush=True)
            hass.start()
            hass.wait_up()
        if not server.running and not server_reported:
            server_reported = True
            print(
                f"==> the HAsync server exited with {server.returncode}; Home Assistant keeps "
                "running (restart scripts/develop to start the server again)",
                flush=True,
            )
    return 0


def main() -> int:
    """Run until Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ha-port", type=int, default=int(os.environ.get("HA_PORT", "8123")))
    parser.add_argument(
        "--server-port", type=int, default=int(os.environ.get("HASYNC_PORT", "8099"))
    )
    args = parser.parse_args()

    data_dir = DEV / "server-data"
    token_file = DEV / "server-token"
    DEV.mkdir(exist_ok=True)
    # Outside a container the server's cgroup is this whole session, not the app: no cgroup
    # figures, so memory used and CPU usage show the process's own.
    server = ServerProcess(data_dir, port=args.server_port, env={"HASYNC_CONTAINER_METRICS": "off"})
    hass = HassProcess(DEV / "ha-config", port=args.ha_port)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        print(f"==> starting the HAsync server on {server.url}")
        server.start()
        server.wait_healthy(need_token=False)
        token = server_token(data_dir, token_file, server)
        print(f"==> starting Home Assistant on {hass.url} (first start takes a minute)")
        hass.start()
        hass.wait_up()
        client = HassClient(hass.url)
        if client.user_onboarded():
            client.login(USERNAME, PASSWORD)
        else:
            client.onboard("HAsync developer", USERNAME, PASSWORD)
            print(f"  created the owner account '{USERNAME}'")
        ensure_entry(client, server.url, token)
        client.wait_running()
        print(
            "\n"
            f"  Home Assistant  {hass.url}   login: {USERNAME} / {PASSWORD}\n"
            f"  HAsync server   {server.url}   (ingress page at /, API token in {token_file})\n"
            f"  HA log          {hass.config_dir / 'home-assistant.log'}\n"
            "\n  Ctrl-C stops both.\n",
            flush=True,
        )
        return supervise(hass, server, stop)
    except (RuntimeError, TimeoutError) as err:
        print(f"\nERROR: {err}", file=sys.stderr)
        return 1
    finally:
        print("==> stopping Home Assistant and the server", flush=True)
        hass_code = hass.stop()
        server_code = server.stop()
        print(f"  Home Assistant exit code {hass_code}, server exit code {server_code}")


if __name__ == "__main__":
    sys.exit(main())
