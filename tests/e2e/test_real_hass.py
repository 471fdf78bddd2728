"""A real `hass` process with the integration, against the real server: the user's whole path.

Home Assistant runs as its own process (devtools.HassProcess) from a temporary config dir with the
integration linked in. The test onboards a user through the onboarding API, adds the entry and
sets its options through the REST flow APIs, reads the states through /api/states and the repair
issues through the websocket API, then stops and restarts the server and watches `unreachable`
come and go. Then it restarts the server on a read-only database, so every sample it cannot store
is an error record, and watches the count rise and `errors_logged` appear, and go once the server
runs on a writable database again. It proves the integration loads and works in a real HA, not only
in phcc.
"""

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
import json
from pathlib import Path
import time
from typing import Any

import aiohttp
import pytest

from custom_components.hasync.const import (
    CONF_ERRORS_THRESHOLD,
    CONF_FAILURE_THRESHOLD,
    CONF_SCAN_INTERVAL,
    DOMAIN,
    ISSUE_DATABASE_UNAVAILABLE,
    ISSUE_ERRORS_LOGGED,
    ISSUE_UNREACHABLE,
)
from devtools.hass import LEAN_CONFIGURATION, HassClient, HassProcess
from devtools.server import ServerProcess, fetch_status, free_port

from .conftest import start_server, stop_server
from .helpers import read_only

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NODE = 24  # the Node major the app image ships
HA_START_TIMEOUT = 240.0
"""A first start compiles and imports a lot; a loaded 2-core machine needs time."""
FAILURE_THRESHOLD = 2
SCAN_INTERVAL = 10  # the smallest the options flow accepts
ERRORS_THRESHOLD = 5
SAMPLE_INTERVAL_S = 1
"""The server stores a sample a second, so a read-only database logs an error a second."""
READ_ONLY_ERROR = "sample not stored: attempt to write a readonly database"
OWNER = ("E2E owner", "e2e", "e2e-password-7c1f")


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Override the parent autouse fixture: no in-process Home Assistant here."""


@pytest.fixture
def server(socket_enabled: None, tmp_path: Path, frontend_dir: Path) -> Iterator[ServerProcess]:
    """Run the real server on the app image's Node."""
    process = start_server(
        tmp_path / "server-data",
        NODE,
        frontend_dir,
        env={"HASYNC_SAMPLE_INTERVAL_S": str(SAMPLE_INTERVAL_S)},
    )
    try:
        yield process
    finally:
        stop_server(process)


@pytest.fixture
async def hass_process(socket_enabled: None, tmp_path: Path) -> AsyncIterator[HassProcess]:
    """Run `hass -c <tmp config>` with the lean test configuration; SIGTERM it at the end."""
    process = HassProcess(
        tmp_path / "ha-config",
        port=free_port(),
        configuration=LEAN_CONFIGURATION,
        skip_pip=True,
    )
    try:
        await asyncio.to_thread(process.start)
        await asyncio.to_thread(process.wait_up, HA_START_TIMEOUT)
        yield process
    finally:
        code = await asyncio.to_thread(process.stop)
        assert code == 0, f"hass exited with {code}:\n{process.log_text()[-4000:]}"


async def _poll(check: Callable[[], Any], limit: float, what: str, log: HassProcess) -> Any:
    """Call ``check`` (blocking, so in a thread) every second until it returns a truthy value.

    Return that value; fail with the tail of HA's log after ``limit`` seconds.
    """
    deadline = time.monotonic() + limit
    while True:
        if result := await asyncio.to_thread(check):
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"not within {limit:g} s: {what}\n--- HA log ---\n{log.log_text()[-6000:]}")
        await asyncio.sleep(1)


class Websocket:
    """HA's websocket API with a user's access token."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Wrap an authenticated connection."""
        self._ws = ws
        self._id = 0

    async def close(self) -> None:
        """Close the connection."""
        await self._ws.close()

    async def command(self, message: dict[str, Any]) -> Any:
        """Send one command and return its result."""
        self._id += 1
        await self._ws.send_json({"id": self._id, **message})
        while True:
            answer = await self._ws.receive_json(timeout=30)
            if answer.get("id") == self._id and answer.get("type") == "result":
                assert answer["success"], answer
                return answer["result"]


async def _websocket(session: aiohttp.ClientSession, url: str, token: str) -> Websocket:
    ws = await session.ws_connect(f"{url}/api/websocket")
    assert (await ws.receive_json(timeout=30))["type"] == "auth_required"
    await ws.send_json({"type": "auth", "access_token": token})
    assert (await ws.receive_json(timeout=30))["type"] == "auth_ok"
    return Websocket(ws)


def _hasync_issues(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [issue for issue in result["issues"] if issue["domain"] == DOMAIN]


def _states(client: HassClient) -> dict[str, dict[str, Any]]:
    return {
        state["entity_id"]: state
        for state in client.states()
        if state["entity_id"].split(".", 1)[1].startswith("hasync_")
    }


async def test_real_home_assistant(
    server: ServerProcess, hass_process: HassProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    """Onboard, add the entry over REST, read real states, see `unreachable` come and go."""
    assert server.token
    client = HassClient(hass_process.url)
    assert not await asyncio.to_thread(client.user_onboarded)
    await asyncio.to_thread(client.onboard, *OWNER)
    assert client.access_token
    await asyncio.to_thread(client.wait_running, HA_START_TIMEOUT)

    # The entry, through the same REST config flow the frontend uses.
    result = await asyncio.to_thread(
        client.run_user_flow, DOMAIN, {"url": server.url, "token": server.token}
    )
    assert result["type"] == "create_entry", result
    entry_id = result["result"]["entry_id"]
    entries = await asyncio.to_thread(client.config_entries, DOMAIN)
    assert [(entry["entry_id"], entry["state"]) for entry in entries] == [(entry_id, "loaded")]
    options = await asyncio.to_thread(
        client.run_options_flow,
        entry_id,
        {
            CONF_FAILURE_THRESHOLD: FAILURE_THRESHOLD,
            CONF_SCAN_INTERVAL: SCAN_INTERVAL,
            CONF_ERRORS_THRESHOLD: ERRORS_THRESHOLD,
        },
    )
    assert options["type"] == "create_entry", options

    # The states show what the server reports (its own document, fetched now).
    document = await asyncio.to_thread(fetch_status, server.url, server.token)

    def states_match() -> dict[str, dict[str, Any]] | None:
        states = _states(client)
        wanted = {
            "binary_sensor.hasync_connected": "on",
            "sensor.hasync_node_js_version": document["node"]["version"],
            "sensor.hasync_server_version": document["server"]["version"],
            "binary_sensor.hasync_problem": "off" if document["status"] == "ok" else "on",
            "binary_sensor.hasync_bcrypt": "off",
            "binary_sensor.hasync_better_sqlite3": "off",
        }
        shown = {entity_id: states.get(entity_id, {}).get("state") for entity_id in wanted}
        return states if shown == wanted else None

    states = await _poll(
        states_match, 60, "the HAsync entities show the server's values", hass_process
    )
    started = datetime.fromisoformat(states["sensor.hasync_started"]["state"])
    assert (
        abs(started - datetime.fromisoformat(document["server"]["started_at"])).total_seconds() < 1
    )
    memory = states["sensor.hasync_memory_used"]
    assert memory["attributes"]["unit_of_measurement"] == "MiB"
    assert float(memory["state"]) > 0
    assert states["binary_sensor.hasync_problem"]["attributes"]["failing_checks"] == [
        check["name"] for check in document["checks"] if not check["ok"]
    ]

    async with aiohttp.ClientSession() as session:
        ws = await _websocket(session, hass_process.url, client.access_token)
        try:
            before, during, after, raised_after = await _outage(ws, server, client, hass_process)
            errors_raised, errors_cleared = await _errors(ws, server, client, hass_process)
        finally:
            await ws.close()

    states = await _poll(
        lambda: (s := _states(client))["binary_sensor.hasync_connected"]["state"] == "on" and s,
        60,
        "connected again",
        hass_process,
    )
    assert states["sensor.hasync_memory_used"]["state"] not in ("unavailable", "unknown")

    report = (
        f"\nrepairs/list_issues before stopping the server:\n{json.dumps(before, indent=2)}\n"
        f"repairs/list_issues {raised_after:.1f} s after stopping the server "
        f"(failure_threshold {FAILURE_THRESHOLD}, scan interval {SCAN_INTERVAL} s):\n"
        f"{json.dumps(during, indent=2)}\n"
        f"repairs/list_issues after the restart:\n{json.dumps(after, indent=2)}\n"
        f"repairs/list_issues with the database read-only (errors threshold {ERRORS_THRESHOLD}):\n"
        f"{json.dumps(errors_raised, indent=2)}\n"
        f"repairs/list_issues on a writable database again:\n{json.dumps(errors_cleared, indent=2)}\n"
    )
    with capsys.disabled():
        print(report)  # noqa: T201 - the output the issue asks to show


async def _outage(
    ws: Websocket, server: ServerProcess, client: HassClient, hass_process: HassProcess
) -> tuple[Any, Any, Any, float]:
    """Stop the server until `unreachable` is listed, then restart it until it is gone.

    Return the repairs/list_issues results before, during and after, and when it appeared.
    """
    before = await ws.command({"type": "repairs/list_issues"})
    assert _hasync_issues(before) == [], before

    # Stop the server: after the configured failures, `unreachable` appears in Repairs.
    stopped_at = time.monotonic()
    assert await asyncio.to_thread(server.stop) == 0

    async def unreachable_listed() -> list[dict[str, Any]] | None:
        issues = _hasync_issues(await ws.command({"type": "repairs/list_issues"}))
        return issues or None

    raised = await _until(unreachable_listed, FAILURE_THRESHOLD * SCAN_INTERVAL + 60, hass_process)
    raised_after = time.monotonic() - stopped_at
    assert [issue["translation_key"] for issue in raised] == [ISSUE_UNREACHABLE], raised
    assert raised[0]["severity"] == "error"
    assert raised[0]["translation_placeholders"]["threshold"] == str(FAILURE_THRESHOLD)
    during = await ws.command({"type": "repairs/list_issues"})
    states = await asyncio.to_thread(_states, client)
    assert states["binary_sensor.hasync_connected"]["state"] == "off"
    assert states["sensor.hasync_memory_used"]["state"] == "unavailable"

    # Restart it on the same port and data dir: the issue clears by itself.
    await asyncio.to_thread(server.start)
    await asyncio.to_thread(server.wait_healthy, 60.0)

    async def cleared() -> bool:
        return not _hasync_issues(await ws.command({"type": "repairs/list_issues"}))

    await _until(cleared, SCAN_INTERVAL + 60, hass_process)
    after = await ws.command({"type": "repairs/list_issues"})
    return before, during, after, raised_after


async def _errors(
    ws: Websocket, server: ServerProcess, client: HassClient, hass_process: HassProcess
) -> tuple[Any, Any]:
    """Restart the server on a read-only database until `errors_logged` is listed, then on a writable one.

    Every sample the server cannot store is an error record: its count rises each second. The counts
    of that run cannot be stored either, so once the server runs on a writable database again the
    errors have stopped and its 24-hour count is below the threshold: the issue goes.
    Return the repairs/list_issues results while it is raised and after it cleared.
    """
    database = server.data_dir / "hasync.db"
    assert await asyncio.to_thread(server.stop) == 0
    with read_only(database):
        await asyncio.to_thread(server.start)
        await asyncio.to_thread(server.wait_healthy, 60.0)
        counts = [await asyncio.to_thread(_error_count, server)]

        def rose() -> bool:
            counts.append(_error_count(server))
            return counts[-1] >= counts[0] + 3

        await _poll(rose, 30, "the server's error count rises", hass_process)

        async def errors_listed() -> list[dict[str, Any]] | None:
            issues = _hasync_issues(await ws.command({"type": "repairs/list_issues"}))
            return [i for i in issues if i["translation_key"] == ISSUE_ERRORS_LOGGED] or None

        [issue] = await _until(errors_listed, SCAN_INTERVAL + 60, hass_process)
        raised = await ws.command({"type": "repairs/list_issues"})
        assert issue["severity"] == "warning"
        placeholders = issue["translation_placeholders"]
        assert int(placeholders["count"]) >= ERRORS_THRESHOLD, placeholders
        assert placeholders["threshold"] == str(ERRORS_THRESHOLD)
        assert placeholders["last_message"] == READ_ONLY_ERROR
        # The database check fails too; the server answers, so nothing is unreachable.
        keys = {i["translation_key"] for i in _hasync_issues(raised)}
        assert keys == {ISSUE_ERRORS_LOGGED, ISSUE_DATABASE_UNAVAILABLE}, keys
        sensor = (await asyncio.to_thread(_states, client))["sensor.hasync_errors_24_h"]
        assert int(sensor["state"]) >= ERRORS_THRESHOLD
        assert sensor["attributes"]["last_message"] == READ_ONLY_ERROR
        assert await asyncio.to_thread(server.stop) == 0

    await asyncio.to_thread(server.start)
    await asyncio.to_thread(server.wait_healthy, 60.0)

    async def errors_gone() -> bool:
        return not _hasync_issues(await ws.command({"type": "repairs/list_issues"}))

    await _until(errors_gone, SCAN_INTERVAL + 60, hass_process)
    assert await asyncio.to_thread(_error_count, server) < ERRORS_THRESHOLD
    return raised, await ws.command({"type": "repairs/list_issues"})


def _error_count(server: ServerProcess) -> int:
    """Return the server's own count of errors in the last 24 h."""
    assert server.token
    count: int = fetch_status(server.url, server.token)["errors"]["count_24h"]
    return count


async def _until(check: Callable[[], Any], limit: float, log: HassProcess) -> Any:
    """Await ``check()`` every second until it returns a truthy value; fail after ``limit`` s."""
    deadline = time.monotonic() + limit
    while True:
        if result := await check():
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"not within {limit:g} s: {check.__name__}\n{log.log_text()[-6000:]}")
        await asyncio.sleep(1)
