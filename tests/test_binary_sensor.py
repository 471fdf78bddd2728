"""Binary sensors: snapshot, problem verdicts from the fixture documents, connectivity."""

from unittest.mock import MagicMock, patch

from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNKNOWN, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, snapshot_platform
from syrupy.assertion import SnapshotAssertion

from custom_components.hasync.client.models import StatusDocument
from custom_components.hasync.const import ATTR_FAILING_CHECKS

from .conftest import load_json, load_status

PROBLEM_SENSORS = {
    "bcrypt": "bcrypt",
    "better_sqlite3": "better-sqlite3",
    "database": "database",
    "frontend": "frontend",
}


async def _setup(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    with patch("custom_components.hasync.PLATFORMS", [Platform.BINARY_SENSOR]):
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()


def _state(hass: HomeAssistant, key: str) -> str:
    state = hass.states.get(f"binary_sensor.hasync_{key}")
    assert state is not None, key
    return state.state


@pytest.mark.usefixtures("entity_registry_enabled_by_default", "mock_hasync_client")
async def test_snapshot(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """Every binary sensor with its registry entry and state."""
    await _setup(hass, mock_config_entry)
    await snapshot_platform(hass, entity_registry, snapshot, mock_config_entry.entry_id)


@pytest.mark.parametrize(
    "fixture", ["status.json", "status_no_cgroup.json", "status_bcrypt_failed.json"]
)
async def test_verdicts(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    mock_hasync_client: MagicMock,
    fixture: str,
) -> None:
    """Each problem sensor is on exactly when the server's check of that name fails."""
    raw = load_json(fixture)
    mock_hasync_client.status.return_value = load_status(fixture)
    await _setup(hass, mock_config_entry)
    checks = {check["name"]: check["ok"] for check in raw["checks"]}
    for key, check in PROBLEM_SENSORS.items():
        assert _state(hass, key) == (STATE_OFF if checks[check] else STATE_ON), key
    assert _state(hass, "node_js_support") == (STATE_OFF if raw["node"]["supported"] else STATE_ON)
    assert _state(hass, "problem") == (STATE_OFF if raw["status"] == "ok" else STATE_ON)
    problem = hass.states.get("binary_sensor.hasync_problem")
    assert problem is not None
    failing = [check["name"] for check in raw["checks"] if not check["ok"]]
    assert problem.attributes[ATTR_FAILING_CHECKS] == failing
    assert _state(hass, "connected") == STATE_ON


async def test_unreported_check_is_unknown(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, mock_hasync_client: MagicMock
) -> None:
    """A check the server does not report leaves its sensor unknown."""
    raw = load_json("status.json")
    raw["checks"] = [check for check in raw["checks"] if check["name"] != "frontend"]
    mock_hasync_client.status.return_value = StatusDocument.from_dict(raw)
    await _setup(hass, mock_config_entry)
    assert _state(hass, "frontend") == STATE_UNKNOWN
    assert _state(hass, "bcrypt") == STATE_OFF
