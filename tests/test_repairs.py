"""Repair issues through the real coordinator: raised, cleared, ignored, fixed, removed.

Only the API client (and Supervisor's client) are mocked; time moves with the freezer.
"""

import asyncio
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
import json
from pathlib import Path
import re
from typing import Any
from unittest.mock import MagicMock, patch

from aiohasupervisor import SupervisorError, SupervisorTimeoutError
from aiohasupervisor.models import StoreAddonUpdate
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.repairs import (
    ConfirmRepairFlow,
    RepairsFlowResult,
    repairs_flow_manager,
)
from homeassistant.config_entries import ConfigEntryDisabler, ConfigEntryState
from homeassistant.core import Event, HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.hasync import repairs
from custom_components.hasync.client.errors import (
    HAsyncConnectionRefusedError,
)
from custom_components.hasync.client.models import StatusDocument
from custom_components.hasync.const import (
    CONF_CPU_MINUTES,
    CONF_FAILURE_THRESHOLD,
    CONF_MEMORY_MINUTES,
    CONF_MEMORY_THRESHOLD_MIB,
    DOCS_URL,
    DOMAIN,
    EVENT_ALERT,
    RULE_FRONTEND,
    RULE_UNREACHABLE,
    rule_option_key,
)
from custom_components.hasync.repairs import FIX_GRACE, issue_id

from .conftest import ADDON_SLUG, TITLE, FakeEventSource, status_document, status_json

SCAN = timedelta(seconds=30)
MIB = 1024 * 1024
STRINGS: dict[str, Any] = json.loads(
    (
        Path(__file__).parent.parent / "custom_components" / DOMAIN / "translations" / "en.json"
    ).read_text()
)
"""The texts as Home Assistant reads them (tests/test_gen_translations.py keeps en.json current)."""
HIGH_MEMORY = {"container.memory_used_bytes": 600 * MIB}
BCRYPT_FAILED = "status_bcrypt_failed.json"
NEW_PROCESS = {"server.started_at": "2026-11-26T00:00:00.000Z"}
"""A document of a server process that started after the fixture's."""
REFUSED = HAsyncConnectionRefusedError("Cannot connect to host 192.168.1.10:8099 ssl:default")


@pytest.fixture(autouse=True)
async def setup_repairs(hass: HomeAssistant) -> None:
    """Load the repairs integration: its fix flows and websocket commands."""
    assert await async_setup_component(hass, "repairs", {})


@pytest.fixture
def events(hass: HomeAssistant) -> list[Event]:
    """Capture hasync_alert events."""
    return async_capture_events(hass, EVENT_ALERT)


async def _setup(
    hass: HomeAssistant, entry: MockConfigEntry, options: Mapping[str, Any] | None = None
) -> None:
    entry.add_to_hass(hass)
    if options:
        hass.config_entries.async_update_entry(entry, options=dict(options))
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def _tick(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, delta: timedelta = SCAN, times: int = 1
) -> None:
    for _ in range(times):
        freezer.tick(delta)
        async_fire_time_changed(hass)
        await hass.async_block_till_done()


async def _push(
    hass: HomeAssistant, event_source: FakeEventSource, changes: Mapping[str, Any], name: str
) -> None:
    event_source.push(status_json(changes, name))
    await hass.async_block_till_done()


def _issues(hass: HomeAssistant) -> dict[str, ir.IssueEntry]:
    """Return the integration's issues by id."""
    return {
        issue: entry
        for (domain, issue), entry in ir.async_get(hass).issues.items()
        if domain == DOMAIN
    }


def _issue(
    hass: HomeAssistant, entry: MockConfigEntry, key: str, module: str | None = None
) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, issue_id(entry.entry_id, key, module))


def _alerts(events: list[Event]) -> list[dict[str, Any]]:
    return [dict(event.data) for event in events]


async def _fix(hass: HomeAssistant, entry: MockConfigEntry, key: str) -> RepairsFlowResult:
    """Start the fix flow of an issue; return its first step."""
    manager = repairs_flow_manager(hass)
    assert manager is not None
    return await manager.async_init(
        DOMAIN, context={"issue_id": issue_id(entry.entry_id, key, *_module(key))}
    )


def _module(key: str) -> tuple[str, ...]:
    return ("bcrypt",) if key == "native_module_failed" else ()


async def _confirm(hass: HomeAssistant, result: RepairsFlowResult) -> RepairsFlowResult:
    manager = repairs_flow_manager(hass)
    assert manager is not None
    return await manager.async_configure(result["flow_id"], {})


# --- unreachable ----------------------------------------------------------------------


async def test_unreachable_raised_and_cleared(  # noqa: PLR0917
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    mock_hasync_client: MagicMock,
    events: list[Event],
    hass_ws_client: WebSocketGenerator,
) -> None:
    """Raised once at the third failed update, cleared by the first success; both announced."""
    entry = init_integration
    mock_hasync_client.status.side_effect = REFUSED
    await _tick(hass, freezer, times=2)
    assert not _issues(hass)

    await _tick(hass, freezer)
    issue = _issue(hass, entry, "unreachable")
    assert issue is not None
    client = await hass_ws_client(hass)  # after the time travel, which would end its session
    await client.send_json_auto_id({"type": "repairs/list_issues"})
    listed = (await client.receive_json())["result"]["issues"]
    assert len(listed) == 1
    assert {key: listed[0][key] for key in listed[0] if key != "created"} == {
        "breaks_in_ha_version": None,
        "dismissed_version": None,
        "domain": DOMAIN,
        "ignored": False,
        "is_fixable": False,  # no Supervisor: the description tells what to do
        "issue_domain": None,
        "issue_id": f"{entry.entry_id}_unreachable",
        "learn_more_url": f"{DOCS_URL}#unreachable",
        "severity": "error",
        "translation_key": "unreachable",
        "translation_placeholders": {
            "addon": TITLE,
            "error": "Nothing answers at 192.168.1.10:8099: the app is stopped or starting",
            "failures": "3",
            "threshold": "3",
        },
    }
    assert issue.data == {
        "entry_id": entry.entry_id,
        "issue": "unreachable",
        "fix": None,
        "addon_slug": None,
        "addon": TITLE,
        "rollback_version": None,
    }
    assert not issue.is_persistent
    assert _alerts(events) == [
        {
            "entry_id": entry.entry_id,
            "issue": "unreachable",
            "active": True,
            "value": 3,
            "threshold": 3,
        }
    ]

    # Created once: a fourth failure changes nothing.
    await _tick(hass, freezer)
    assert _issue(hass, entry, "unreachable") == issue
    assert len(events) == 1

    mock_hasync_client.status.side_effect = None
    await _tick(hass, freezer)
    assert not _issues(hass)
    assert _alerts(events)[1] == {
        "entry_id": entry.entry_id,
        "issue": "unreachable",
        "active": False,
        "value": 0,
        "threshold": 3,
    }
    client = await hass_ws_client(hass)
    await client.send_json_auto_id({"type": "repairs/list_issues"})
    assert (await client.receive_json())["result"]["issues"] == []


async def test_unreachable_after_a_lost_stream(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    mock_hasync_client: MagicMock,
    event_source: FakeEventSource,
) -> None:
    """A stopped server is seen within a second, but counted once: two polls more raise it."""
    mock_hasync_client.status.side_effect = REFUSED
    mock_hasync_client.event_stream.side_effect = REFUSED
    event_source.end()
    await hass.async_block_till_done()
    init_integration.runtime_data.coordinator.listener.reconnect_now()  # the second check, at once
    for _ in range(5):  # the listener is a background task: let it run
        await asyncio.sleep(0)
    await hass.async_block_till_done()
    await _tick(hass, freezer)
    assert mock_hasync_client.status.await_count == 4
    assert not _issues(hass)
    await _tick(hass, freezer)
    assert _issue(hass, init_integration, "unreachable") is not None


async def test_failure_threshold_and_switch_options(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mock_config_entry: MockConfigEntry,
    mock_hasync_client: MagicMock,
) -> None:
    """The failure count comes from the options, and the rule can be switched off."""
    await _setup(hass, mock_config_entry, {CONF_FAILURE_THRESHOLD: 1})
    mock_hasync_client.status.side_effect = REFUSED
    await _tick(hass, freezer)
    assert _issue(hass, mock_config_entry, "unreachable") is not None

    mock_hasync_client.status.side_effect = None
    await _tick(hass, freezer)
    hass.config_entries.async_update_entry(
        mock_config_entry, options={rule_option_key(RULE_UNREACHABLE): False}
    )
    await hass.config_entries.async_reload(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    mock_hasync_client.status.side_effect = REFUSED
    await _tick(hass, freezer, times=5)
    assert not _issues(hass)


# --- sustained thresholds -------------------------------------------------------------


async def test_high_memory_after_its_window(  # noqa: PLR0917
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    mock_hasync_client: MagicMock,
    event_source: FakeEventSource,
    events: list[Event],
) -> None:
    """Raised when pushes and polls at irregular times cover 5 minutes above 500 MiB."""
    entry = init_integration
    mock_hasync_client.status.return_value = status_document(HIGH_MEMORY)
    for _ in range(10):  # a push 12 s after each poll, the next poll 18 s later
        freezer.tick(timedelta(seconds=12))
        await _push(hass, event_source, HIGH_MEMORY, "status.json")
        await _tick(hass, freezer, timedelta(seconds=18))
    # 300 s after setup; the first high value came 288 s ago: the window is not covered.
    assert _issue(hass, entry, "high_memory") is None
    freezer.tick(timedelta(seconds=12))
    await _push(hass, event_source, HIGH_MEMORY, "status.json")
    issue = _issue(hass, entry, "high_memory")
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.WARNING
    assert issue.translation_key == "high_memory"
    assert issue.learn_more_url == f"{DOCS_URL}#high-memory"
    assert issue.translation_placeholders == {
        "addon": TITLE,
        "value": "600",
        "threshold": "500",
        "minutes": "5",
    }
    assert _alerts(events) == [
        {
            "entry_id": entry.entry_id,
            "issue": "high_memory",
            "active": True,
            "value": 600.0,
            "threshold": 500,
        }
    ]
    # One value at or under the threshold clears it at once.
    await _push(hass, event_source, {"container.memory_used_bytes": 500 * MIB}, "status.json")
    assert _issue(hass, entry, "high_memory") is None
    assert _alerts(events)[1]["active"] is False
    assert _alerts(events)[1]["value"] == 500.0


@pytest.mark.usefixtures("supervisor_client")
async def test_high_cpu_is_never_fixable(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    discovered_entry: MockConfigEntry,
    mock_hasync_client: MagicMock,
) -> None:
    """High CPU explains; a restart would hide the cause, so there is no fix, Supervisor or not."""
    await _setup(hass, discovered_entry, {CONF_CPU_MINUTES: 1})
    mock_hasync_client.status.return_value = status_document({"container.cpu_percent": 93.5})
    await _tick(hass, freezer, times=2)
    assert _issue(hass, discovered_entry, "high_cpu") is None
    await _tick(hass, freezer)
    issue = _issue(hass, discovered_entry, "high_cpu")
    assert issue is not None
    assert not issue.is_fixable
    assert issue.translation_key == "high_cpu"
    assert issue.translation_placeholders == {
        "addon": "HAsync",
        "value": "93.5",
        "threshold": "80",
        "minutes": "1",
    }


# --- document rules -------------------------------------------------------------------


async def test_native_modules_one_issue_each(  # noqa: PLR0917
    hass: HomeAssistant,
    discovered_entry: MockConfigEntry,
    mock_hasync_client: MagicMock,
    supervisor_client: MagicMock,
    event_source: FakeEventSource,
    events: list[Event],
) -> None:
    """A failing bcrypt raises its own issue, fixed by rebuilding the locally built add-on."""
    await _setup(hass, discovered_entry)
    entry = discovered_entry
    await _push(hass, event_source, {}, BCRYPT_FAILED)
    issue = _issue(hass, entry, "native_module_failed", "bcrypt")
    assert issue is not None
    assert issue.issue_id == f"{entry.entry_id}_native_module_failed_bcrypt"
    assert issue.is_fixable
    assert issue.translation_key == "native_module_failed_rebuild"
    assert issue.severity is ir.IssueSeverity.ERROR
    assert issue.learn_more_url == f"{DOCS_URL}#native-module-failed"
    error = "Cannot find module '../build/Release/bcrypt_lib.node'"
    assert issue.translation_placeholders == {"addon": "HAsync", "module": "bcrypt", "error": error}
    assert issue.data == {
        "entry_id": entry.entry_id,
        "issue": "native_module_failed",
        "fix": "rebuild",
        "addon_slug": ADDON_SLUG,
        "addon": "HAsync",
        "rollback_version": None,
        "module": "bcrypt",
    }
    assert _issue(hass, entry, "native_module_failed", "better-sqlite3") is None
    # The same document fails Node.js and the database as well.
    assert set(_issues(hass)) == {
        f"{entry.entry_id}_native_module_failed_bcrypt",
        f"{entry.entry_id}_node_unsupported",
        f"{entry.entry_id}_database_unavailable",
    }
    bcrypt_event = next(e for e in _alerts(events) if e["issue"] == "native_module_failed")
    assert bcrypt_event == {
        "entry_id": entry.entry_id,
        "issue": "native_module_failed",
        "active": True,
        "value": error,
        "threshold": None,
        "module": "bcrypt",
    }
    supervisor_client.addons.addon_info.assert_awaited_once_with(ADDON_SLUG)

    events.clear()
    await _push(
        hass,
        event_source,
        {
            "native_modules.better-sqlite3.loaded": False,
            "native_modules.better-sqlite3.error": "invalid ELF header",
        },
        "status.json",
    )
    assert set(_issues(hass)) == {f"{entry.entry_id}_native_module_failed_better_sqlite3"}
    cleared = {(e["issue"], e.get("module")) for e in _alerts(events) if not e["active"]}
    assert cleared == {
        ("native_module_failed", "bcrypt"),
        ("node_unsupported", None),
        ("database_unavailable", None),
    }

    # A module the server stops reporting is not failing any more.
    events.clear()
    raw = status_json()
    del raw["native_modules"]["better-sqlite3"]
    event_source.push(raw)
    await hass.async_block_till_done()
    assert not _issues(hass)
    assert _alerts(events) == [
        {
            "entry_id": entry.entry_id,
            "issue": "native_module_failed",
            "active": False,
            "value": None,
            "threshold": None,
            "module": "better-sqlite3",
        }
    ]


@pytest.mark.parametrize(
    "addon_info",
    [
        MagicMock(build=False, update_available=False),  # installed from an image registry
        SupervisorError("Supervisor is busy"),  # cannot tell: no rebuild offered
    ],
)
async def test_native_module_not_rebuildable(
    hass: HomeAssistant,
    discovered_entry: MockConfigEntry,
    mock_hasync_client: MagicMock,
    supervisor_client: MagicMock,
    addon_info: Any,
) -> None:
    """An add-on Supervisor does not build here gets update or reinstall guidance."""
    supervisor_client.addons.addon_info.side_effect = [addon_info]
    mock_hasync_client.status.return_value = status_document(name=BCRYPT_FAILED)
    await _setup(hass, discovered_entry)
    issue = _issue(hass, discovered_entry, "native_module_failed", "bcrypt")
    assert issue is not None
    assert not issue.is_fixable
    assert issue.translation_key == "native_module_failed"
    assert issue.data is not None
    assert issue.data["fix"] is None


@pytest.mark.parametrize(
    ("changes", "key", "severity", "fixable_key"),
    [
        (
            {"frontend.present": False},
            "frontend_missing",
            ir.IssueSeverity.WARNING,
            "frontend_missing",
        ),
        (
            {
                "history.memory_growth_mib_per_hour": 12.5,
                "history.growth_window_hours": 7.0,
                "server.uptime_s": 8 * 3600,
            },
            "memory_leak_suspected",
            ir.IssueSeverity.WARNING,
            "memory_leak_suspected_restart",
        ),
        (
            {"database.ok": False, "database.error": "SQLITE_CANTOPEN"},
            "database_unavailable",
            ir.IssueSeverity.ERROR,
            "database_unavailable_restart",
        ),
        (
            {"node.supported": False, "node.major": 18, "node.version": "18.20.4"},
            "node_unsupported",
            ir.IssueSeverity.ERROR,
            "node_unsupported_update",
        ),
        (
            {"errors.count_24h": 10},
            "errors_logged",
            ir.IssueSeverity.WARNING,
            "errors_logged",
        ),
    ],
)
@pytest.mark.parametrize("with_supervisor", [False, True])
async def test_document_issues(  # noqa: PLR0917
    hass: HomeAssistant,
    discovered_entry: MockConfigEntry,
    mock_hasync_client: MagicMock,
    supervisor_client: MagicMock,
    changes: dict[str, Any],
    key: str,
    severity: ir.IssueSeverity,
    fixable_key: str,
    with_supervisor: bool,
) -> None:
    """Each document rule raises its issue; it is fixable only with Supervisor and a slug."""
    mock_hasync_client.status.return_value = status_document(changes)
    if with_supervisor:
        await _setup(hass, discovered_entry)
    else:
        with patch("custom_components.hasync.supervisor.is_hassio", return_value=False):
            await _setup(hass, discovered_entry)
    issue = _issue(hass, discovered_entry, key)
    assert issue is not None
    assert set(_issues(hass)) == {issue.issue_id}
    assert issue.severity is severity
    assert issue.translation_key == (fixable_key if with_supervisor else key)
    assert issue.is_fixable is (with_supervisor and fixable_key != key)
    assert issue.learn_more_url == f"{DOCS_URL}#{key.replace('_', '-')}"


@pytest.mark.parametrize("with_supervisor", [False, True])
async def test_placeholders_cover_the_translations(  # noqa: PLR0917
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mock_config_entry: MockConfigEntry,
    discovered_entry: MockConfigEntry,
    mock_hasync_client: MagicMock,
    supervisor_client: MagicMock,
    with_supervisor: bool,
) -> None:
    """Every issue, raised for real, carries each placeholder its strings use."""
    entry = discovered_entry if with_supervisor else mock_config_entry
    broken = {
        **HIGH_MEMORY,
        "container.cpu_percent": 99.0,
        "frontend.present": False,
        "history.memory_growth_mib_per_hour": 30.0,
        "server.uptime_s": 7 * 3600,
        "errors.count_24h": 12,
        "errors.last_message": "sample not stored: database or disk is full",
    }
    mock_hasync_client.status.return_value = status_document(broken, BCRYPT_FAILED)
    await _setup(hass, entry, {CONF_MEMORY_MINUTES: 1, CONF_CPU_MINUTES: 1})
    await _tick(hass, freezer, times=3)
    mock_hasync_client.status.side_effect = REFUSED
    await _tick(hass, freezer, times=3)

    issues = _issues(hass)
    assert {issue.data["issue"] for issue in issues.values() if issue.data} == {
        spec.key for spec in repairs.ISSUES
    }
    for issue in issues.values():
        assert issue.translation_key is not None
        strings = STRINGS["issues"][issue.translation_key]
        texts = [strings["title"]]
        if issue.is_fixable:
            texts.append(strings["fix_flow"]["step"]["confirm"]["title"])
            texts.append(strings["fix_flow"]["step"]["confirm"]["description"])
        else:
            texts.append(strings["description"])
        used = {name for text in texts for name in re.findall(r"{(\w+)}", text)}
        assert used <= set(issue.translation_placeholders or {}), issue.translation_key
    fixable = {issue.translation_key for issue in issues.values() if issue.is_fixable}
    assert fixable == (
        {
            "unreachable_restart",
            "high_memory_restart",
            "native_module_failed_rebuild",
            "node_unsupported_update",
            "database_unavailable_restart",
            "memory_leak_suspected_restart",
        }
        if with_supervisor
        else set()
    )


# --- errors logged --------------------------------------------------------------------


async def test_errors_logged_shows_the_last_message_and_clears_below_the_threshold(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    mock_hasync_client: MagicMock,
    events: list[Event],
) -> None:
    """Raised at the threshold with the last message, kept while at it, cleared below it."""
    readonly = "sample not stored: attempt to write a readonly database"
    errors = {"errors.count_24h": 10, "errors.http_5xx_24h": 2, "errors.last_message": readonly}
    mock_hasync_client.status.return_value = status_document(errors)
    await _tick(hass, freezer)
    issue = _issue(hass, init_integration, "errors_logged")
    assert issue is not None
    assert issue.translation_placeholders == {
        "addon": TITLE,
        "count": "10",
        "fatal": "0",
        "http_5xx": "2",
        "threshold": "10",
        "last_message": readonly,
    }
    mock_hasync_client.status.return_value = status_document({**errors, "errors.count_24h": 11})
    await _tick(hass, freezer)
    mock_hasync_client.status.return_value = status_document({**errors, "errors.count_24h": 9})
    await _tick(hass, freezer)
    assert _issue(hass, init_integration, "errors_logged") is None
    assert [(e["issue"], e["active"], e["value"]) for e in _alerts(events)] == [
        ("errors_logged", True, 10),
        ("errors_logged", False, 9),
    ]


async def test_errors_logged_on_one_fatal_record_and_never_from_an_older_server(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    mock_hasync_client: MagicMock,
) -> None:
    """Any fatal record raises it; a server without the counts clears it (they are unknown)."""
    fatal = {"errors.count_24h": 1, "errors.fatal_24h": 1, "errors.last_message": "cannot start"}
    mock_hasync_client.status.return_value = status_document(fatal)
    await _tick(hass, freezer)
    assert _issue(hass, init_integration, "errors_logged") is not None
    older = status_json()
    del older["errors"]
    mock_hasync_client.status.return_value = StatusDocument.from_dict(older)
    await _tick(hass, freezer)
    assert _issue(hass, init_integration, "errors_logged") is None


# --- lifecycle ------------------------------------------------------------------------


async def test_ignore_is_respected_until_the_condition_clears(  # noqa: PLR0917
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    mock_hasync_client: MagicMock,
    events: list[Event],
    hass_ws_client: WebSocketGenerator,
) -> None:
    """An ignored issue stays ignored while it lasts; when it returns, it is shown again."""
    entry = init_integration
    mock_hasync_client.status.side_effect = REFUSED
    await _tick(hass, freezer, times=3)
    unreachable = issue_id(entry.entry_id, "unreachable")
    client = await hass_ws_client(hass)
    await client.send_json_auto_id(
        {"type": "repairs/ignore_issue", "domain": DOMAIN, "issue_id": unreachable, "ignore": True}
    )
    assert (await client.receive_json())["success"]
    await _tick(hass, freezer, times=3)
    issue = _issue(hass, entry, "unreachable")
    assert issue is not None
    assert issue.dismissed_version is not None
    assert len(events) == 1

    # Reloading while the server is down: the entry waits to set up, the issue stays ignored.
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY
    issue = _issue(hass, entry, "unreachable")
    assert issue is not None
    assert issue.dismissed_version is not None

    # The server is back: the retried setup clears the issue.
    mock_hasync_client.status.side_effect = None
    await _tick(hass, freezer, timedelta(minutes=1))
    assert entry.state is ConfigEntryState.LOADED
    assert _issue(hass, entry, "unreachable") is None
    assert [e["active"] for e in _alerts(events)] == [True, False]

    # It goes away again: a new issue, not ignored.
    mock_hasync_client.status.side_effect = REFUSED
    await _tick(hass, freezer, times=3)
    issue = _issue(hass, entry, "unreachable")
    assert issue is not None
    assert issue.dismissed_version is None
    assert [e["active"] for e in _alerts(events)] == [True, False, True]


def _stored(entry: MockConfigEntry, key: str, module: str | None = None) -> ir.IssueEntry:
    """Return an issue as the registry loads it after a restart of Home Assistant."""
    return ir.IssueEntry(
        active=False,
        breaks_in_ha_version=None,
        created=dt_util.utcnow(),
        data=None,
        dismissed_version="2026.10.4",
        domain=DOMAIN,
        is_fixable=None,
        is_persistent=False,
        issue_domain=None,
        issue_id=issue_id(entry.entry_id, key, module),
        learn_more_url=None,
        severity=None,
        translation_key=None,
        translation_placeholders=None,
    )


async def test_issues_kept_across_a_restart_of_home_assistant(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    mock_hasync_client: MagicMock,
    events: list[Event],
) -> None:
    """Stored issues come back (still ignored) if their condition holds, else they go."""
    entry = mock_config_entry
    registry = ir.async_get(hass)
    for key, module in [
        ("frontend_missing", None),
        ("database_unavailable", None),
        ("native_module_failed", "sharp"),
    ]:
        stored = _stored(entry, key, module)
        registry.issues[(DOMAIN, stored.issue_id)] = stored
    mock_hasync_client.status.return_value = status_document({"frontend.present": False})
    await _setup(hass, entry)

    issue = _issue(hass, entry, "frontend_missing")
    assert issue is not None
    assert issue.active
    assert issue.dismissed_version == "2026.10.4"  # ignored before the restart: still ignored
    assert set(_issues(hass)) == {issue.issue_id}
    assert sorted((e["issue"], e["active"], e.get("module")) for e in _alerts(events)) == [
        ("database_unavailable", False, None),
        ("frontend_missing", True, None),
        ("native_module_failed", False, "sharp"),  # only its slug survives a restart
    ]


async def test_reload_does_not_flap(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    mock_hasync_client: MagicMock,
    events: list[Event],
) -> None:
    """After a reload the history is empty: the issue stays until the new figures decide."""
    entry = init_integration
    mock_hasync_client.status.return_value = status_document(HIGH_MEMORY)
    await _tick(hass, freezer, times=11)
    assert _issue(hass, entry, "high_memory") is not None
    assert len(events) == 1

    hass.config_entries.async_update_entry(entry, options={CONF_MEMORY_THRESHOLD_MIB: 550})
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    issue = _issue(hass, entry, "high_memory")
    assert issue is not None
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["threshold"] == "500"  # cannot tell yet: untouched
    await _tick(hass, freezer, times=9)
    assert _issue(hass, entry, "high_memory") == issue
    await _tick(hass, freezer)  # five minutes of new figures: still above, now of 550
    issue = _issue(hass, entry, "high_memory")
    assert issue is not None
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["threshold"] == "550"
    assert len(events) == 1  # it never went away


async def test_switching_a_rule_off_deletes_its_issues(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    mock_hasync_client: MagicMock,
    events: list[Event],
) -> None:
    """A rule switched off in the options loses its issues, without an event."""
    mock_hasync_client.status.return_value = status_document({"frontend.present": False})
    await _setup(hass, mock_config_entry)
    assert _issue(hass, mock_config_entry, "frontend_missing") is not None
    hass.config_entries.async_update_entry(
        mock_config_entry, options={rule_option_key(RULE_FRONTEND): False}
    )
    await hass.config_entries.async_reload(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert not _issues(hass)
    assert len(events) == 1


async def test_unload_keeps_disable_and_removal_delete(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    mock_hasync_client: MagicMock,
) -> None:
    """Unloading keeps the issues; disabling or removing the entry deletes them."""
    mock_hasync_client.status.return_value = status_document(name=BCRYPT_FAILED)
    await _setup(hass, mock_config_entry)
    raised = set(_issues(hass))
    assert len(raised) == 3

    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)
    assert set(_issues(hass)) == raised
    assert not hasattr(mock_config_entry, "runtime_data")  # the issue manager went with it

    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert set(_issues(hass)) == raised
    await hass.config_entries.async_set_disabled_by(
        mock_config_entry.entry_id, ConfigEntryDisabler.USER
    )
    await hass.async_block_till_done()
    assert not _issues(hass)

    await hass.config_entries.async_set_disabled_by(mock_config_entry.entry_id, None)
    await hass.async_block_till_done()
    assert set(_issues(hass)) == raised
    other = replace(_stored(mock_config_entry, "frontend_missing"), issue_id="other_frontend")
    ir.async_get(hass).issues[(DOMAIN, other.issue_id)] = other
    await hass.config_entries.async_remove(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert set(_issues(hass)) == {"other_frontend"}  # only its own


# --- fix flows ------------------------------------------------------------------------


@pytest.fixture
async def discovered(
    hass: HomeAssistant,
    discovered_entry: MockConfigEntry,
    mock_hasync_client: MagicMock,
    supervisor_client: MagicMock,
) -> MockConfigEntry:
    """Set the discovered entry up, with Supervisor present."""
    await _setup(hass, discovered_entry)
    return discovered_entry


async def test_restart_fixes_unreachable(  # noqa: PLR0917
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    discovered: MockConfigEntry,
    mock_hasync_client: MagicMock,
    supervisor_client: MagicMock,
    events: list[Event],
) -> None:
    """The fix restarts the add-on; only failures after it can bring the issue back."""
    mock_hasync_client.status.side_effect = REFUSED
    await _tick(hass, freezer, times=3)
    issue = _issue(hass, discovered, "unreachable")
    assert issue is not None
    assert issue.is_fixable
    assert issue.translation_key == "unreachable_restart"

    result = await _fix(hass, discovered, "unreachable")
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "confirm"
    assert result["description_placeholders"] == issue.translation_placeholders
    result = await _confirm(hass, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    supervisor_client.addons.restart_addon.assert_awaited_once_with(ADDON_SLUG)
    assert _issue(hass, discovered, "unreachable") is None

    # Still unreachable after the restart: three new failures are needed, not one.
    await _tick(hass, freezer, times=2)
    assert _issue(hass, discovered, "unreachable") is None
    await _tick(hass, freezer)
    assert _issue(hass, discovered, "unreachable") is not None
    assert [e["active"] for e in _alerts(events)] == [True, True]


async def test_restart_then_recovery_is_announced(  # noqa: PLR0917
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    discovered: MockConfigEntry,
    mock_hasync_client: MagicMock,
    supervisor_client: MagicMock,
    events: list[Event],
) -> None:
    """When the server answers after the fix, the clearing is announced (the issue is gone)."""
    mock_hasync_client.status.side_effect = REFUSED
    await _tick(hass, freezer, times=3)
    await _confirm(hass, await _fix(hass, discovered, "unreachable"))
    mock_hasync_client.status.side_effect = None
    await _tick(hass, freezer)
    assert not _issues(hass)
    assert [(e["issue"], e["active"]) for e in _alerts(events)] == [
        ("unreachable", True),
        ("unreachable", False),
    ]


@pytest.mark.parametrize(
    ("error", "reason", "placeholders"),
    [
        (
            SupervisorError("addon is not installed"),
            "restart_failed",
            {"addon": "HAsync", "error": "addon is not installed"},
        ),
        (SupervisorTimeoutError(), "restart_failed", {"addon": "HAsync", "error": "SupervisorTimeoutError"}),
    ],
)  # fmt: skip
async def test_restart_fails(  # noqa: PLR0917
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    discovered: MockConfigEntry,
    mock_hasync_client: MagicMock,
    supervisor_client: MagicMock,
    error: Exception,
    reason: str,
    placeholders: dict[str, str],
) -> None:
    """A Supervisor error aborts with a translated reason; the issue stays."""
    supervisor_client.addons.restart_addon.side_effect = error
    mock_hasync_client.status.side_effect = REFUSED
    await _tick(hass, freezer, times=3)
    result = await _confirm(hass, await _fix(hass, discovered, "unreachable"))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == reason
    assert result["description_placeholders"] == placeholders
    assert _issue(hass, discovered, "unreachable") is not None


async def test_rebuild_fixes_a_native_module(
    hass: HomeAssistant,
    discovered: MockConfigEntry,
    supervisor_client: MagicMock,
    event_source: FakeEventSource,
    events: list[Event],
) -> None:
    """The rebuild runs; documents of the old server process cannot bring the issue back."""
    await _push(hass, event_source, {}, BCRYPT_FAILED)
    result = await _fix(hass, discovered, "native_module_failed")
    assert result["step_id"] == "confirm"
    result = await _confirm(hass, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    supervisor_client.addons.rebuild_addon.assert_awaited_once_with(ADDON_SLUG)
    assert _issue(hass, discovered, "native_module_failed", "bcrypt") is None

    await _push(hass, event_source, {}, BCRYPT_FAILED)  # the old process, still running
    assert _issue(hass, discovered, "native_module_failed", "bcrypt") is None
    await _push(hass, event_source, NEW_PROCESS, BCRYPT_FAILED)  # rebuilt, still failing
    assert _issue(hass, discovered, "native_module_failed", "bcrypt") is not None
    bcrypt = [e["active"] for e in _alerts(events) if e["issue"] == "native_module_failed"]
    assert bcrypt == [True, True]


@pytest.mark.parametrize(
    ("error", "reason", "placeholders"),
    [
        (SupervisorError("no build"), "rebuild_failed", {"addon": "HAsync", "error": "no build"}),
        (SupervisorTimeoutError("timeout"), "rebuild_running", {"addon": "HAsync"}),
    ],
)
async def test_rebuild_fails(  # noqa: PLR0917
    hass: HomeAssistant,
    discovered: MockConfigEntry,
    supervisor_client: MagicMock,
    event_source: FakeEventSource,
    error: Exception,
    reason: str,
    placeholders: dict[str, str],
) -> None:
    """A refused rebuild aborts; one that outlasts the request is reported as running."""
    supervisor_client.addons.rebuild_addon.side_effect = error
    await _push(hass, event_source, {}, BCRYPT_FAILED)
    result = await _confirm(hass, await _fix(hass, discovered, "native_module_failed"))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == reason
    assert result["description_placeholders"] == placeholders
    assert _issue(hass, discovered, "native_module_failed", "bcrypt") is not None


async def test_update_fixes_node(
    hass: HomeAssistant,
    discovered: MockConfigEntry,
    supervisor_client: MagicMock,
    event_source: FakeEventSource,
) -> None:
    """The update runs in the background, with a backup first; the new process decides."""
    node_18 = {"node.supported": False, "node.major": 18, "node.version": "18.20.4"}
    await _push(hass, event_source, node_18, "status.json")
    result = await _fix(hass, discovered, "node_unsupported")
    assert result["step_id"] == "confirm"
    result = await _confirm(hass, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    supervisor_client.store.update_addon.assert_awaited_once_with(
        ADDON_SLUG, StoreAddonUpdate(backup=True, background=True)
    )
    await _push(hass, event_source, node_18, "status.json")
    assert not _issues(hass)
    await _push(hass, event_source, NEW_PROCESS, "status.json")  # updated: Node 24
    assert not _issues(hass)


@pytest.mark.parametrize(
    ("info", "update", "reason", "placeholders"),
    [
        (MagicMock(update_available=False), None, "no_update_available", {"addon": "HAsync"}),
        (SupervisorError("busy"), None, "update_failed", {"addon": "HAsync", "error": "busy"}),
        (
            MagicMock(update_available=True),
            SupervisorError("not available on amd64"),
            "update_failed",
            {"addon": "HAsync", "error": "not available on amd64"},
        ),
    ],
)
async def test_update_fails(  # noqa: PLR0917
    hass: HomeAssistant,
    discovered: MockConfigEntry,
    supervisor_client: MagicMock,
    event_source: FakeEventSource,
    info: Any,
    update: Exception | None,
    reason: str,
    placeholders: dict[str, str],
) -> None:
    """No update to install, or Supervisor refusing, aborts with a translated reason."""
    supervisor_client.addons.addon_info.side_effect = [info]
    supervisor_client.store.update_addon.side_effect = update
    await _push(hass, event_source, {"node.supported": False, "node.major": 18}, "status.json")
    result = await _fix(hass, discovered, "node_unsupported")
    if result["type"] is FlowResultType.FORM:
        result = await _confirm(hass, result)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == reason
    assert result["description_placeholders"] == placeholders
    assert _issue(hass, discovered, "node_unsupported") is not None


async def test_fix_waits_for_new_evidence_at_most_fix_grace(  # noqa: PLR0917
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    discovered_entry: MockConfigEntry,
    mock_hasync_client: MagicMock,
    supervisor_client: MagicMock,
    events: list[Event],
) -> None:
    """A restart that never happens: the old process's figures count again after FIX_GRACE."""
    await _setup(hass, discovered_entry, {CONF_MEMORY_MINUTES: 1})
    mock_hasync_client.status.return_value = status_document(HIGH_MEMORY)
    await _tick(hass, freezer, times=3)
    assert _issue(hass, discovered_entry, "high_memory") is not None
    result = await _confirm(hass, await _fix(hass, discovered_entry, "high_memory"))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await _tick(hass, freezer, times=int(FIX_GRACE / SCAN))
    assert _issue(hass, discovered_entry, "high_memory") is None
    await _tick(hass, freezer)
    assert _issue(hass, discovered_entry, "high_memory") is not None
    assert [e["active"] for e in _alerts(events)] == [True, True]


async def test_fix_after_restart_needs_a_new_window(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    discovered_entry: MockConfigEntry,
    mock_hasync_client: MagicMock,
    supervisor_client: MagicMock,
) -> None:
    """After a restart still over the threshold, a whole window of new figures is needed."""
    await _setup(hass, discovered_entry, {CONF_MEMORY_MINUTES: 1})
    mock_hasync_client.status.return_value = status_document(HIGH_MEMORY)
    await _tick(hass, freezer, times=3)
    await _confirm(hass, await _fix(hass, discovered_entry, "high_memory"))
    mock_hasync_client.status.return_value = status_document({**HIGH_MEMORY, **NEW_PROCESS})
    await _tick(hass, freezer, times=2)
    assert _issue(hass, discovered_entry, "high_memory") is None
    await _tick(hass, freezer)
    assert _issue(hass, discovered_entry, "high_memory") is not None


async def test_fix_of_an_unloaded_entry(
    hass: HomeAssistant,
    discovered: MockConfigEntry,
    supervisor_client: MagicMock,
    event_source: FakeEventSource,
) -> None:
    """The issue outlives an unload; its fix still works."""
    await _push(hass, event_source, {"database.ok": False}, "status.json")
    assert await hass.config_entries.async_unload(discovered.entry_id)
    result = await _confirm(hass, await _fix(hass, discovered, "database_unavailable"))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    supervisor_client.addons.restart_addon.assert_awaited_once_with(ADDON_SLUG)
    assert not _issues(hass)


@pytest.mark.parametrize(
    "data",
    [None, {"entry_id": "x", "fix": "reinstall", "addon_slug": "s"}, {"fix": "restart"}],
)
async def test_unknown_issue_data_gets_a_plain_confirmation(
    hass: HomeAssistant, data: dict[str, str | int | float | None] | None
) -> None:
    """Data this version did not write: confirming only removes the issue."""
    flow = await repairs.async_create_fix_flow(hass, "some_issue", data)
    assert type(flow) is ConfirmRepairFlow


def test_learn_more_links_exist() -> None:
    """Each issue links to a troubleshooting section of DOCS.md, in the manifest's repository."""
    root = Path(__file__).parent.parent
    manifest = json.loads((root / "custom_components" / DOMAIN / "manifest.json").read_text())
    assert f"{manifest['documentation']}/blob/main/addon/DOCS.md" == DOCS_URL
    headings = re.findall(r"^#{2,4} (.+)$", (root / "addon" / "DOCS.md").read_text(), re.MULTILINE)
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", heading.lower()).replace(" ", "-") for heading in headings
    }
    for spec in repairs.ISSUES:
        assert spec.anchor in anchors, spec.key
        assert repairs.learn_more_url(spec) == f"{DOCS_URL}#{spec.anchor}"
