"""Helpers for the end-to-end tests: set the integration up as a user would, read what it shows."""

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
import logging
import os
from pathlib import Path
import subprocess
import time
from typing import Any

import aiohttp
from homeassistant.config_entries import SOURCE_USER, ConfigEntry, ConfigEntryState
from homeassistant.const import CONF_TOKEN, CONF_URL
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.hasync.const import DOMAIN
from custom_components.hasync.coordinator import HAsyncDataUpdateCoordinator
from devtools.server import ServerProcess


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """Make a file read-only for every process, root included, while the block runs.

    A server opening it then gets a read-only SQLite connection (SQLITE_READONLY on every write).
    Mode 0444 stops other users; root ignores modes, so as root the file is made immutable
    (``chattr +i``, which ext4, xfs, btrfs and tmpfs support).
    """
    root = os.geteuid() == 0
    mode = path.stat().st_mode
    if root:
        made = subprocess.run(
            ["chattr", "+i", str(path)], capture_output=True, text=True, check=False
        )
        assert made.returncode == 0, f"cannot make {path} immutable: {made.stderr.strip()}"
    else:
        path.chmod(0o444)
    try:
        yield
    finally:
        if root:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        else:
            path.chmod(mode)


async def wait_for(predicate: Callable[[], bool], limit: float, what: str) -> float:
    """Let the event loop run until ``predicate`` holds; return the seconds it took.

    Real sockets and a real server make the condition true, so there is nothing of our own to
    await; fail with ``what`` after ``limit`` seconds.
    """
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > limit:
            raise AssertionError(f"not within {limit:g} s: {what}")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def fetch_status(hass: HomeAssistant, url: str, token: str) -> dict[str, Any]:
    """GET the server's own status document (what the entities must show)."""
    session = async_get_clientsession(hass)
    async with session.get(
        f"{url}/api/v1/status",
        headers={"Authorization": f"Bearer {token}"},
        timeout=aiohttp.ClientTimeout(total=10),
    ) as response:
        assert response.status == 200, await response.text()
        document: dict[str, Any] = await response.json()
    return document


async def status_code(hass: HomeAssistant, url: str, token: str) -> int:
    """Return the HTTP status of GET /api/v1/status with this token."""
    session = async_get_clientsession(hass)
    async with session.get(
        f"{url}/api/v1/status",
        headers={"Authorization": f"Bearer {token}"},
        timeout=aiohttp.ClientTimeout(total=10),
    ) as response:
        return response.status


async def wait_for_status(
    hass: HomeAssistant, url: str, token: str, expected: int, limit: float = 15.0
) -> None:
    """Ask the server until it answers ``expected`` to this token."""
    deadline = time.monotonic() + limit
    while (last := await status_code(hass, url, token)) != expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"the server still answers {last}, not {expected}")
        await asyncio.sleep(0.1)


async def add_entry_through_flow(hass: HomeAssistant, server: ServerProcess) -> ConfigEntry:
    """Run the user step of the config flow with the server's URL and token, as a user would."""
    assert server.token, "the server printed no token"
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM, result
    assert result["step_id"] == "user"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: server.url, CONF_TOKEN: server.token}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    entry: ConfigEntry = result["result"]
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    return entry


async def set_options(hass: HomeAssistant, entry: ConfigEntry, **changes: Any) -> None:
    """Save options through the options flow (which reloads the entry), keeping the others."""
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM, result
    schema = result["data_schema"]
    assert schema is not None
    current = {
        str(key.schema): (key.description or {}).get("suggested_value") for key in schema.schema
    }
    assert set(changes) <= set(current), f"unknown options {set(changes) - set(current)}"
    result = await hass.config_entries.options.async_configure(result["flow_id"], current | changes)
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    for key, value in changes.items():
        assert entry.options[key] == value


def coordinator_of(entry: ConfigEntry) -> HAsyncDataUpdateCoordinator:
    """Return the entry's coordinator (its runtime data)."""
    coordinator: HAsyncDataUpdateCoordinator = entry.runtime_data.coordinator
    return coordinator


async def wait_for_stream(entry: ConfigEntry, pushes: int = 0, limit: float = 15.0) -> None:
    """Wait until the push stream is open and more than ``pushes`` documents came by push.

    The server sends a document on connect, so the default waits for the first stream.
    """
    coordinator = coordinator_of(entry)
    await wait_for(
        lambda: coordinator.listener.state.connected and coordinator.pushes > pushes,
        limit,
        "the push stream delivers its first document",
    )


async def poll_now(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Move HA's clock one scan interval on, so the poll timer fires, and wait for its outcome.

    The coordinator runs timed polls as background tasks, so this waits until it reports the
    outcome of an update to its observers.
    """
    coordinator = coordinator_of(entry)
    outcomes: list[None] = []
    remove = coordinator.async_add_observer(lambda: outcomes.append(None))
    try:
        interval = coordinator.update_interval or timedelta(seconds=30)
        async_fire_time_changed(hass, dt_util.utcnow() + interval + timedelta(seconds=1))
        await wait_for(lambda: bool(outcomes), 15, "the poll timer fires and the poll ends")
    finally:
        remove()
    await hass.async_block_till_done()


def state(hass: HomeAssistant, entity_id: str) -> str | None:
    """Return the state string of an entity (None if it has none)."""
    current = hass.states.get(entity_id)
    return None if current is None else current.state


def entry_issues(hass: HomeAssistant, entry: ConfigEntry) -> dict[str, ir.IssueEntry]:
    """Return the entry's active repair issues, by issue id."""
    registry = ir.async_get(hass)
    prefix = f"{entry.entry_id}_"
    return {
        issue_id: issue
        for (domain, issue_id), issue in registry.issues.items()
        if domain == DOMAIN and issue_id.startswith(prefix) and issue.active
    }


def hasync_messages(caplog: Any, since: int = 0) -> list[str]:
    """Return the INFO and higher lines the integration logged (from record ``since`` on)."""
    return [
        f"{record.levelname} {record.getMessage()}"
        for record in caplog.records[since:]
        if record.name.startswith("custom_components.hasync") and record.levelno >= logging.INFO
    ]
