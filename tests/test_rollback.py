"""The rollback repair: the healthy version kept in storage, and restoring it from a backup.

Only the API client and Supervisor's client (``get_supervisor_client``) are mocked. Supervisor's
answers are built with aiohasupervisor's own models from the JSON Supervisor sends.
"""

from collections.abc import Mapping
from datetime import timedelta
import json
from pathlib import Path
import re
from typing import Any
from unittest.mock import AsyncMock, MagicMock, patch

from aiohasupervisor import SupervisorBadRequestError, SupervisorError
from aiohasupervisor.models import Backup, BackupComplete, PartialRestoreOptions
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.repairs import RepairsFlowResult, repairs_flow_manager
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

from custom_components.hasync.client.models import StatusDocument
from custom_components.hasync.const import DOMAIN, EVENT_ALERT
from custom_components.hasync.repairs import issue_id
from custom_components.hasync.rollback import SAVE_DELAY

from .conftest import ADDON_SLUG, FakeEventSource, status_json

EN: dict[str, Any] = json.loads(
    (
        Path(__file__).parent.parent / "custom_components" / DOMAIN / "translations" / "en.json"
    ).read_text()
)
BCRYPT_FAILED = "status_bcrypt_failed.json"
OLD, NEW = "0.1.0", "0.2.0"
NEW_VERSION = {"server.version": NEW}
RESTORED = {"server.version": OLD, "server.started_at": "2026-11-26T00:00:00.000Z"}
NODE_18 = {"node.supported": False, "node.major": 18, "node.version": "18.20.4"}


@pytest.fixture(autouse=True)
async def setup_repairs(hass: HomeAssistant) -> None:
    """Load the repairs integration: its fix flows."""
    assert await async_setup_component(hass, "repairs", {})


def _storage(entry: MockConfigEntry, version: str) -> dict[str, Any]:
    return {
        "version": 1,
        "minor_version": 1,
        "key": f"{DOMAIN}.{entry.entry_id}",
        "data": {"healthy_version": version, "seen_at": "2026-11-20T10:00:00+00:00"},
    }


def _backup(slug: str, date: str, addons: Mapping[str, str], *, protected: bool = False) -> Any:
    """Return a backup as Supervisor lists it, and its details (the add-ons' versions)."""
    base = {
        "slug": slug,
        "name": f"Backup {slug}",
        "date": date,
        "type": "partial",
        "location_attributes": {".local": {"protected": protected, "size_bytes": 524288}},
        "compressed": True,
    }
    listed = Backup.from_dict(
        {**base, "content": {"homeassistant": False, "addons": list(addons), "folders": []}}
    )
    info = BackupComplete.from_dict(
        {
            **base,
            "supervisor_version": "2026.11.2",
            "homeassistant": None,
            "addons": [
                {"slug": addon, "name": addon, "version": version, "size": 0.5}
                for addon, version in addons.items()
            ],
            "repositories": [],
            "folders": [],
            "homeassistant_exclude_database": None,
            "extra": None,
        }
    )
    return listed, info


@pytest.fixture
def backups(supervisor_client: MagicMock) -> list[Any]:
    """Return the backups Supervisor has; list() and backup_info() answer from them."""
    held: list[Any] = []
    supervisor_client.backups.list = AsyncMock(side_effect=lambda: [b for b, _ in held])
    supervisor_client.backups.backup_info = AsyncMock(
        side_effect=lambda slug: next(info for b, info in held if b.slug == slug)
    )
    supervisor_client.backups.partial_restore = AsyncMock()
    return held


async def _setup(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    hass_storage: dict[str, Any],
    healthy: str | None = OLD,
) -> None:
    if healthy is not None:
        hass_storage[f"{DOMAIN}.{entry.entry_id}"] = _storage(entry, healthy)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def _push(
    hass: HomeAssistant,
    event_source: FakeEventSource,
    changes: Mapping[str, Any] | None = None,
    name: str = "status.json",
) -> None:
    event_source.push(status_json(changes, name))
    await hass.async_block_till_done()


def _bcrypt_issue(hass: HomeAssistant, entry: MockConfigEntry) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(
        DOMAIN, issue_id(entry.entry_id, "native_module_failed", "bcrypt")
    )


async def _fix(hass: HomeAssistant, issue: ir.IssueEntry) -> RepairsFlowResult:
    manager = repairs_flow_manager(hass)
    assert manager is not None
    return await manager.async_init(DOMAIN, context={"issue_id": issue.issue_id})


async def _next(
    hass: HomeAssistant, result: RepairsFlowResult, user_input: dict[str, Any] | None = None
) -> RepairsFlowResult:
    manager = repairs_flow_manager(hass)
    assert manager is not None
    return await manager.async_configure(result["flow_id"], user_input or {})


@pytest.fixture
def builds_locally() -> bool:
    """Whether Supervisor builds the add-on here (so the issue's own fix is a rebuild)."""
    return True


@pytest.fixture
async def broken(  # noqa: PLR0917
    hass: HomeAssistant,
    discovered_entry: MockConfigEntry,
    mock_hasync_client: MagicMock,
    supervisor_client: MagicMock,
    event_source: FakeEventSource,
    hass_storage: dict[str, Any],
    builds_locally: bool,
) -> ir.IssueEntry:
    """Set up a server last healthy at 0.1.0 whose 0.2.0 reports bcrypt failing; return the issue."""
    supervisor_client.addons.addon_info.return_value = MagicMock(build=builds_locally)
    await _setup(hass, discovered_entry, hass_storage)
    await _push(hass, event_source, NEW_VERSION, BCRYPT_FAILED)
    issue = _bcrypt_issue(hass, discovered_entry)
    assert issue is not None
    return issue


def _assert_texts_filled(issue: ir.IssueEntry, result: RepairsFlowResult) -> None:
    """Every placeholder of the texts this result shows is given (the frontend adds the issue's)."""
    assert issue.translation_key is not None
    flow = EN["issues"][issue.translation_key]["fix_flow"]
    match result["type"]:
        case FlowResultType.MENU:
            step = flow["step"][result["step_id"]]
            texts = [step["title"], step["description"], *step["menu_options"].values()]
            assert set(step["menu_options"]) == set(result["menu_options"] or [])
        case FlowResultType.FORM:
            step = flow["step"][result["step_id"]]
            texts = [step["title"], step["description"]]
        case FlowResultType.ABORT:
            texts = [flow["abort"][result["reason"]]]
        case _:
            texts = [flow["create_entry"][result["description"]]]
    given = {**(issue.translation_placeholders or {}), **(result["description_placeholders"] or {})}
    for text in texts:
        assert set(re.findall(r"{(\w+)}", text)) <= set(given), text


# --- the healthy version ------------------------------------------------------------------


async def test_the_last_healthy_version_is_stored(  # noqa: PLR0917
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    discovered_entry: MockConfigEntry,
    mock_hasync_client: MagicMock,
    supervisor_client: MagicMock,
    event_source: FakeEventSource,
    hass_storage: dict[str, Any],
) -> None:
    """A version is remembered once every critical check passes, not while one fails."""
    key = f"{DOMAIN}.{discovered_entry.entry_id}"
    await _setup(hass, discovered_entry, hass_storage, healthy=None)
    freezer.tick(timedelta(seconds=SAVE_DELAY + 1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass_storage[key]["data"]["healthy_version"] == OLD  # status.json: all pass

    await _push(hass, event_source, {**NEW_VERSION, "frontend.present": False})
    await _push(hass, event_source, NEW_VERSION, BCRYPT_FAILED)
    freezer.tick(timedelta(seconds=SAVE_DELAY + 1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    # The frontend check is not critical: 0.2.0 counted as healthy before bcrypt failed.
    assert hass_storage[key]["data"]["healthy_version"] == NEW
    await _push(hass, event_source, {"server.version": "0.3.0"}, BCRYPT_FAILED)
    freezer.tick(timedelta(seconds=SAVE_DELAY + 1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass_storage[key]["data"]["healthy_version"] == NEW

    # Removing the entry removes what it stored.
    assert await hass.config_entries.async_remove(discovered_entry.entry_id)
    await hass.async_block_till_done()
    assert key not in hass_storage


@pytest.mark.usefixtures("supervisor_client")
async def test_no_rollback_without_another_healthy_version(
    hass: HomeAssistant,
    discovered_entry: MockConfigEntry,
    mock_hasync_client: MagicMock,
    event_source: FakeEventSource,
    hass_storage: dict[str, Any],
) -> None:
    """A module that broke without a version change, or an unknown past: no rollback."""
    failing = StatusDocument.from_dict(status_json({"server.version": "0.3.0"}, BCRYPT_FAILED))
    mock_hasync_client.status.return_value = failing
    await _setup(hass, discovered_entry, hass_storage, healthy=None)
    await _push(hass, event_source, {"server.version": "0.3.0"}, BCRYPT_FAILED)
    issue = _bcrypt_issue(hass, discovered_entry)
    assert issue is not None
    assert issue.data is not None
    assert issue.data["rollback_version"] is None
    await _push(hass, event_source, {"server.version": "0.3.0"})
    await _push(hass, event_source, {"server.version": "0.3.0"}, BCRYPT_FAILED)
    issue = _bcrypt_issue(hass, discovered_entry)
    assert issue is not None
    assert issue.data is not None
    assert issue.data["rollback_version"] is None
    assert issue.translation_key == "native_module_failed_rebuild"


async def test_no_rollback_without_supervisor(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    mock_hasync_client: MagicMock,
    event_source: FakeEventSource,
    hass_storage: dict[str, Any],
) -> None:
    """A server added by URL (no slug) only gets the explaining issue."""
    await _setup(hass, mock_config_entry, hass_storage)
    await _push(hass, event_source, NEW_VERSION, BCRYPT_FAILED)
    issue = _bcrypt_issue(hass, mock_config_entry)
    assert issue is not None
    assert not issue.is_fixable
    assert issue.translation_key == "native_module_failed"


# --- the fix flow -----------------------------------------------------------------------


async def test_candidate_found_and_restored(
    hass: HomeAssistant,
    broken: ir.IssueEntry,
    supervisor_client: MagicMock,
    backups: list[Any],
    discovered_entry: MockConfigEntry,
) -> None:
    """The newest backup holding 0.1.0 is offered next to the rebuild, and only the app returns."""
    backups += [
        _backup("old01", "2026-11-01T03:00:00+00:00", {ADDON_SLUG: OLD}),
        _backup("upd02", "2026-11-20T03:00:00+00:00", {ADDON_SLUG: OLD}),
        _backup("full3", "2026-11-24T03:00:00+00:00", {ADDON_SLUG: NEW, "core_mosquitto": "6.5"}),
        _backup("mqtt4", "2026-11-25T03:00:00+00:00", {"core_mosquitto": "6.5"}),
    ]
    assert broken.is_fixable
    assert broken.translation_key == "native_module_failed_rebuild"
    assert broken.data is not None
    assert broken.data["rollback_version"] == OLD

    result = await _fix(hass, broken)
    _assert_texts_filled(broken, result)
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "choose"
    assert result["menu_options"] == ["rollback", "confirm"]
    placeholders = result["description_placeholders"] or {}
    backup_date = dt_util.as_local(dt_util.parse_datetime("2026-11-20T03:00:00+00:00"))
    assert placeholders["rollback_version"] == OLD
    assert placeholders["backup_date"] == backup_date.strftime("%Y-%m-%d %H:%M")
    assert placeholders["backup_name"] == "Backup upd02"
    assert placeholders["module"] == "bcrypt"
    # Newest first; the one holding the new version is read and passed over.
    infos = [call.args[0] for call in supervisor_client.backups.backup_info.await_args_list]
    assert infos == ["full3", "upd02"]

    result = await _next(hass, result, {"next_step_id": "rollback"})
    _assert_texts_filled(broken, result)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "rollback"
    result = await _next(hass, result)
    _assert_texts_filled(broken, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["description"] == "rollback_started"
    supervisor_client.backups.partial_restore.assert_awaited_once_with(
        "upd02", PartialRestoreOptions(addons={ADDON_SLUG}, password=None, background=True)
    )
    supervisor_client.addons.rebuild_addon.assert_not_awaited()
    assert _bcrypt_issue(hass, discovered_entry) is None


async def test_the_restored_server_clears_the_issue(
    hass: HomeAssistant,
    broken: ir.IssueEntry,
    backups: list[Any],
    discovered_entry: MockConfigEntry,
    event_source: FakeEventSource,
) -> None:
    """After the restore only the restored process decides; it passes, so the issue stays gone."""
    events: list[Event] = async_capture_events(hass, EVENT_ALERT)
    backups.append(_backup("upd02", "2026-11-20T03:00:00+00:00", {ADDON_SLUG: OLD}))
    result = await _next(hass, await _fix(hass, broken), {"next_step_id": "rollback"})
    assert (await _next(hass, result))["type"] is FlowResultType.CREATE_ENTRY

    await _push(hass, event_source, NEW_VERSION, BCRYPT_FAILED)  # the old process, stopping
    assert _bcrypt_issue(hass, discovered_entry) is None
    await _push(hass, event_source, RESTORED)
    assert _bcrypt_issue(hass, discovered_entry) is None
    assert [e.data["active"] for e in events if e.data["issue"] == "native_module_failed"] == [
        False
    ]


@pytest.mark.parametrize(
    "held",
    [
        pytest.param([], id="no backup at all"),
        pytest.param(
            [_backup("mqtt4", "2026-11-25T03:00:00+00:00", {"core_mosquitto": "6.5"})],
            id="only backups of other apps",
        ),
        pytest.param(
            [_backup("full3", "2026-11-24T03:00:00+00:00", {ADDON_SLUG: NEW})],
            id="a backup holding the wrong version",
        ),
    ],
)
async def test_no_candidate_offers_the_rebuild_and_says_why(
    hass: HomeAssistant,
    broken: ir.IssueEntry,
    supervisor_client: MagicMock,
    backups: list[Any],
    held: list[Any],
) -> None:
    """Without a backup of 0.1.0 the flow says so; the rebuild is still there."""
    backups += held
    result = await _fix(hass, broken)
    _assert_texts_filled(broken, result)
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "no_backup"
    assert result["menu_options"] == ["confirm"]
    assert (result["description_placeholders"] or {})["rollback_version"] == OLD
    result = await _next(hass, result, {"next_step_id": "confirm"})
    assert result["step_id"] == "confirm"
    assert (await _next(hass, result))["type"] is FlowResultType.CREATE_ENTRY
    supervisor_client.addons.rebuild_addon.assert_awaited_once_with(ADDON_SLUG)
    supervisor_client.backups.partial_restore.assert_not_awaited()


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (
            SupervisorBadRequestError("Invalid password for backup upd02"),
            "Invalid password for backup upd02",
        ),
        (SupervisorError(), "SupervisorError"),
    ],
)
async def test_a_restore_that_fails(  # noqa: PLR0917
    hass: HomeAssistant,
    broken: ir.IssueEntry,
    supervisor_client: MagicMock,
    backups: list[Any],
    discovered_entry: MockConfigEntry,
    error: Exception,
    message: str,
) -> None:
    """Supervisor refuses: the flow ends with its reason, and the issue stays for another try."""
    backups.append(_backup("upd02", "2026-11-20T03:00:00+00:00", {ADDON_SLUG: OLD}))
    supervisor_client.backups.partial_restore.side_effect = error
    result = await _next(hass, await _fix(hass, broken), {"next_step_id": "rollback"})
    result = await _next(hass, result)
    _assert_texts_filled(broken, result)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "rollback_failed"
    assert result["description_placeholders"] == {
        "addon": "HAsync",
        "rollback_version": OLD,
        "error": message,
    }
    assert _bcrypt_issue(hass, discovered_entry) is not None
    supervisor_client.addons.rebuild_addon.assert_not_awaited()


async def test_backups_that_cannot_be_listed(
    hass: HomeAssistant, broken: ir.IssueEntry, supervisor_client: MagicMock, backups: list[Any]
) -> None:
    """Supervisor failing to list or read its backups ends the flow before anything happens."""
    supervisor_client.backups.list.side_effect = SupervisorError("Supervisor is busy")
    result = await _fix(hass, broken)
    _assert_texts_filled(broken, result)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "backups_unavailable"
    assert result["description_placeholders"] == {
        "addon": "HAsync",
        "rollback_version": OLD,
        "error": "Supervisor is busy",
    }
    supervisor_client.backups.partial_restore.assert_not_awaited()
    supervisor_client.addons.rebuild_addon.assert_not_awaited()


@pytest.mark.parametrize(
    ("builds_locally", "backup_key"),
    [(False, "backup-key-1234"), (False, None)],
    ids=["with HA's backup key", "without the backup integration"],
)
async def test_an_image_install_gets_the_rollback_alone(
    hass: HomeAssistant,
    broken: ir.IssueEntry,
    supervisor_client: MagicMock,
    backups: list[Any],
    backup_key: str | None,
) -> None:
    """No rebuild for a pulled image: the rollback is the fix; a protected backup gets HA's key."""
    backups.append(_backup("upd02", "2026-11-20T03:00:00+00:00", {ADDON_SLUG: OLD}, protected=True))
    assert broken.is_fixable
    assert broken.translation_key == "native_module_failed_rollback"
    result = await _fix(hass, broken)
    _assert_texts_filled(broken, result)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "rollback"
    if backup_key is None:
        result = await _next(hass, result)  # the backup integration is not set up here
    else:
        manager = MagicMock()
        manager.config.data.create_backup.password = backup_key
        target = "custom_components.hasync.rollback.async_get_backup_manager"
        with patch(target, return_value=manager):
            result = await _next(hass, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    supervisor_client.backups.partial_restore.assert_awaited_once_with(
        "upd02", PartialRestoreOptions(addons={ADDON_SLUG}, password=backup_key, background=True)
    )


@pytest.mark.parametrize("builds_locally", [False])
async def test_an_image_install_without_a_backup(
    hass: HomeAssistant,
    broken: ir.IssueEntry,
    backups: list[Any],
    discovered_entry: MockConfigEntry,
) -> None:
    """Nothing to restore and nothing to rebuild: the flow says so and how to be ready next time."""
    result = await _fix(hass, broken)
    _assert_texts_filled(broken, result)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_backup"
    assert result["description_placeholders"] == {"addon": "HAsync", "rollback_version": OLD}
    assert _bcrypt_issue(hass, discovered_entry) is not None


@pytest.mark.parametrize(
    ("update_available", "held", "step_or_reason"),
    [
        (True, True, "choose"),
        (True, False, "no_backup"),
        (False, True, "rollback"),
        (False, False, "no_backup"),
    ],
)
@pytest.mark.usefixtures("mock_hasync_client")
async def test_node_offers_the_rollback_next_to_the_update(  # noqa: PLR0917
    hass: HomeAssistant,
    discovered_entry: MockConfigEntry,
    supervisor_client: MagicMock,
    backups: list[Any],
    event_source: FakeEventSource,
    hass_storage: dict[str, Any],
    update_available: bool,
    held: bool,
    step_or_reason: str,
) -> None:
    """Node.js below the minimum after an update: update, roll back, or both."""
    supervisor_client.addons.addon_info.return_value = MagicMock(
        build=True, update_available=update_available
    )
    if held:
        backups.append(_backup("upd02", "2026-11-20T03:00:00+00:00", {ADDON_SLUG: OLD}))
    await _setup(hass, discovered_entry, hass_storage)
    await _push(hass, event_source, {**NEW_VERSION, **NODE_18})
    issue = ir.async_get(hass).async_get_issue(
        DOMAIN, issue_id(discovered_entry.entry_id, "node_unsupported")
    )
    assert issue is not None
    assert issue.translation_key == "node_unsupported_update"
    result = await _fix(hass, issue)
    _assert_texts_filled(issue, result)
    if result["type"] is FlowResultType.ABORT:
        assert result["reason"] == step_or_reason
    else:
        assert result["step_id"] == step_or_reason
    if step_or_reason == "choose":
        result = await _next(hass, result, {"next_step_id": "confirm"})
        assert (await _next(hass, result))["type"] is FlowResultType.CREATE_ENTRY
        supervisor_client.store.update_addon.assert_awaited_once()
