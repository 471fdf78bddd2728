"""Sensors: snapshot of every entity, and values taken from the fixture documents."""

from unittest.mock import MagicMock, patch

from homeassistant.const import STATE_UNKNOWN, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, snapshot_platform
from syrupy.assertion import SnapshotAssertion

from custom_components.hasync.client.models import StatusDocument
from custom_components.hasync.const import DOMAIN

from .conftest import INSTANCE_ID, load_json, load_status, status_document, status_json

ERROR_ATTRIBUTES = ("fatal_24h", "http_5xx_24h", "last_error_at", "last_message")
MIB = 1 << 20


async def _setup(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    with patch("custom_components.hasync.PLATFORMS", [Platform.SENSOR]):
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()


@pytest.mark.freeze_time("2026-11-25T23:00:00+00:00")
@pytest.mark.usefixtures("entity_registry_enabled_by_default", "mock_hasync_client")
async def test_snapshot(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """Every sensor with its registry entry and state."""
    await _setup(hass, mock_config_entry)
    await snapshot_platform(hass, entity_registry, snapshot, mock_config_entry.entry_id)


@pytest.mark.usefixtures("entity_registry_enabled_by_default", "mock_hasync_client")
async def test_values(hass: HomeAssistant, mock_config_entry: MockConfigEntry) -> None:
    """States are the document's figures, memory converted from bytes to MiB."""
    raw = load_json("status.json")
    await _setup(hass, mock_config_entry)

    def state(key: str) -> str:
        entity = hass.states.get(f"sensor.hasync_{key}")
        assert entity is not None, key
        return entity.state

    assert float(state("memory_used")) == pytest.approx(raw["container"]["memory_used_bytes"] / MIB)
    assert float(state("memory_usage")) == raw["container"]["memory_percent"]
    assert float(state("cpu_usage")) == raw["container"]["cpu_percent"]
    assert float(state("process_memory_rss")) == pytest.approx(raw["process"]["rss_bytes"] / MIB)
    assert float(state("heap_used")) == pytest.approx(raw["process"]["heap_used_bytes"] / MIB)
    assert float(state("event_loop_delay_p99")) == raw["process"]["event_loop_delay_p99_ms"]
    assert state("node_js_version") == raw["node"]["version"]
    assert state("server_version") == raw["server"]["version"]
    assert state("started") == "2026-11-25T22:00:00+00:00"
    assert float(state("availability_24_h")) == raw["history"]["availability_24h_percent"]
    assert float(state("availability_7_d")) == raw["history"]["availability_7d_percent"]
    assert float(state("memory_growth")) == raw["history"]["memory_growth_mib_per_hour"]
    assert float(state("database_size")) == pytest.approx(raw["database"]["size_bytes"] / MIB)
    assert float(state("response_time")) >= 0


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_unmeasured_values_are_unknown(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, mock_hasync_client: MagicMock
) -> None:
    """Without a cgroup and with too few samples, the figures are unknown, never 0.

    Memory used and CPU usage fall back to the process's figures, as the repair rules do.
    """
    raw = load_status("status_no_cgroup.json")
    mock_hasync_client.status.return_value = raw
    await _setup(hass, mock_config_entry)
    for key in (
        "memory_usage",
        "event_loop_delay_p99",
        "availability_24_h",
        "availability_7_d",
        "memory_growth",
    ):
        entity = hass.states.get(f"sensor.hasync_{key}")
        assert entity is not None
        assert entity.state == STATE_UNKNOWN, key
    for key in ("process_memory_rss", "memory_used"):
        entity = hass.states.get(f"sensor.hasync_{key}")
        assert entity is not None
        assert float(entity.state) == pytest.approx(48234496 / MIB), key
    cpu = hass.states.get("sensor.hasync_cpu_usage")
    assert cpu is not None
    assert float(cpu.state) == raw.process.cpu_percent


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_server_from_before_effective_figures(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, mock_hasync_client: MagicMock
) -> None:
    """A 0.1.0 server sends no ``effective`` block: the figures it decides are unknown, the rest work."""
    raw = status_json()
    del raw["effective"]
    mock_hasync_client.status.return_value = StatusDocument.from_dict(raw)
    await _setup(hass, mock_config_entry)
    for key in ("memory_used", "cpu_usage"):
        entity = hass.states.get(f"sensor.hasync_{key}")
        assert entity is not None
        assert entity.state == STATE_UNKNOWN, key
    rss = hass.states.get("sensor.hasync_process_memory_rss")
    assert rss is not None
    assert float(rss.state) == pytest.approx(raw["process"]["rss_bytes"] / MIB)


async def test_errors_24h(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, mock_hasync_client: MagicMock
) -> None:
    """The server's error count, with its details as attributes; unknown from an older server."""
    mock_hasync_client.status.return_value = status_document(
        {
            "errors.count_24h": 7,
            "errors.fatal_24h": 1,
            "errors.http_5xx_24h": 3,
            "errors.last_at": "2026-11-25T22:40:02.114Z",
            "errors.last_message": "uncaught exception: boom",
        }
    )
    await _setup(hass, mock_config_entry)
    state = hass.states.get("sensor.hasync_errors_24_h")
    assert state is not None
    assert state.state == "7"
    assert {key: state.attributes[key] for key in ERROR_ATTRIBUTES} == {
        "fatal_24h": 1,
        "http_5xx_24h": 3,
        "last_error_at": "2026-11-25T22:40:02.114000+00:00",
        "last_message": "uncaught exception: boom",
    }

    raw = status_json()
    del raw["errors"]
    mock_hasync_client.status.return_value = StatusDocument.from_dict(raw)
    await mock_config_entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    state = hass.states.get("sensor.hasync_errors_24_h")
    assert state is not None
    assert state.state == STATE_UNKNOWN
    assert {key: state.attributes[key] for key in ERROR_ATTRIBUTES} == dict.fromkeys(
        ERROR_ATTRIBUTES
    )


@pytest.mark.parametrize(
    ("covered", "day", "week"),
    [
        # A fresh server: 20 minutes of samples show no figure yet, only how far they are.
        ((0.333, 0.333), None, None),
        # Three hours: the 24 h figure is shown, the 7 d one waits for 24 h.
        ((3.0, 3.0), 63.1, None),
        # A day and a half: both, the 24 h window full.
        ((24.0, 36.0), 99.5, 99.7),
    ],
)
async def test_availability_of_windows_not_full_yet(  # noqa: PLR0917
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    mock_hasync_client: MagicMock,
    covered: tuple[float, float],
    day: float | None,
    week: float | None,
) -> None:
    """Unknown until the server covers enough of the window; the covered hours are an attribute."""
    mock_hasync_client.status.return_value = status_document(
        {
            "history.availability_24h_percent": day,
            "history.availability_7d_percent": week,
            "history.availability_24h_covered_hours": covered[0],
            "history.availability_7d_covered_hours": covered[1],
        }
    )
    await _setup(hass, mock_config_entry)
    for key, value, hours in (("24_h", day, covered[0]), ("7_d", week, covered[1])):
        entity = hass.states.get(f"sensor.hasync_availability_{key}")
        assert entity is not None
        assert entity.state == (STATE_UNKNOWN if value is None else str(value)), key
        assert entity.attributes["covered_hours"] == hours, key


async def test_availability_from_a_server_before_covered_hours(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, mock_hasync_client: MagicMock
) -> None:
    """A 0.1.0 server sends no covered hours: its figures are shown as sent, without the attribute."""
    raw = status_json()
    del raw["history"]["availability_24h_covered_hours"]
    del raw["history"]["availability_7d_covered_hours"]
    mock_hasync_client.status.return_value = StatusDocument.from_dict(raw)
    await _setup(hass, mock_config_entry)
    for key in ("24_h", "7_d"):
        entity = hass.states.get(f"sensor.hasync_availability_{key}")
        assert entity is not None
        assert float(entity.state) == raw["history"][f"availability_{key.replace('_', '')}_percent"]
        assert "covered_hours" not in entity.attributes


@pytest.mark.usefixtures("mock_hasync_client")
async def test_disabled_by_default(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, entity_registry: er.EntityRegistry
) -> None:
    """The noisy process figures and the database size start disabled."""
    await _setup(hass, mock_config_entry)
    disabled = {
        entry.unique_id.removeprefix(f"{INSTANCE_ID}_")
        for entry in er.async_entries_for_config_entry(entity_registry, mock_config_entry.entry_id)
        if entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    }
    assert disabled == {"process_rss", "heap_used", "event_loop_delay", "database_size"}
    assert entity_registry.async_get_entity_id("sensor", DOMAIN, f"{INSTANCE_ID}_memory_used")
