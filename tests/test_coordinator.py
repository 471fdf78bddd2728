"""The coordinator: failures and recovery over time, push, statistics and history."""

import asyncio
from datetime import timedelta
import itertools
import logging
from unittest.mock import MagicMock

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_REAUTH
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.hasync.client.errors import (
    HAsyncAuthError,
    HAsyncConnectionError,
)
from custom_components.hasync.client.models import StatusDocument
from custom_components.hasync.const import CONF_SCAN_INTERVAL, DOMAIN, HISTORY_MAX_AGE
from custom_components.hasync.coordinator import HAsyncDataUpdateCoordinator

from .conftest import INSTANCE_ID, TITLE, FakeEventSource, load_json, load_status

SCAN = timedelta(seconds=30)


def _coordinator(entry: MockConfigEntry) -> HAsyncDataUpdateCoordinator:
    coordinator: HAsyncDataUpdateCoordinator = entry.runtime_data.coordinator
    return coordinator


def _messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Return what the integration logged at info and above."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith("custom_components.hasync") and record.levelno >= logging.INFO
    ]


async def _tick(hass: HomeAssistant, freezer: FrozenDateTimeFactory, delta: timedelta) -> None:
    freezer.tick(delta)
    async_fire_time_changed(hass)
    await hass.async_block_till_done()


def _state(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


async def test_failure_and_recovery(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    mock_hasync_client: MagicMock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failing poll makes entities unavailable and connected off, logged once; then back."""
    coordinator = _coordinator(init_integration)
    assert _state(hass, "binary_sensor.hasync_connected") == STATE_ON
    caplog.clear()

    mock_hasync_client.status.side_effect = HAsyncConnectionError("Connection refused")
    await _tick(hass, freezer, SCAN)
    assert _state(hass, "binary_sensor.hasync_connected") == STATE_OFF
    assert _state(hass, "sensor.hasync_memory_used") == STATE_UNAVAILABLE
    assert _state(hass, "binary_sensor.hasync_problem") == STATE_UNAVAILABLE
    assert coordinator.consecutive_failures == 1
    assert coordinator.last_error == "HAsyncConnectionError: Connection refused"

    await _tick(hass, freezer, SCAN)
    await _tick(hass, freezer, SCAN)
    assert coordinator.consecutive_failures == 3
    broke_off = "The connection to 192.168.1.10:8099 broke off before a complete answer arrived"
    assert _messages(caplog) == [f"Error fetching {TITLE} data: {broke_off}"]
    last_success = coordinator.last_success_at
    assert last_success is not None
    assert coordinator.last_failure_at == dt_util.utcnow()

    caplog.clear()
    mock_hasync_client.status.side_effect = None
    await _tick(hass, freezer, SCAN)
    assert _state(hass, "binary_sensor.hasync_connected") == STATE_ON
    assert _state(hass, "sensor.hasync_memory_used") == "61.0"
    assert coordinator.consecutive_failures == 0
    assert coordinator.last_success_at == dt_util.utcnow()
    assert coordinator.last_success_at > last_success
    assert coordinator.last_error is None
    assert _messages(caplog) == [f"Fetching {TITLE} data recovered"]


async def test_auth_failure_starts_reauth(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    mock_hasync_client: MagicMock,
) -> None:
    """A 401 after setup makes the entities unavailable and starts reauthentication."""
    mock_hasync_client.status.side_effect = HAsyncAuthError("invalid token")
    await _tick(hass, freezer, SCAN)
    assert _state(hass, "sensor.hasync_server_version") == STATE_UNAVAILABLE
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]
    exception = _coordinator(init_integration).last_exception
    assert getattr(exception, "translation_key", None) == "authentication_failed"


async def test_other_instance_is_a_failure(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    mock_hasync_client: MagicMock,
) -> None:
    """A different server now answering at the URL is not taken for ours."""
    raw = load_json("status.json")
    raw["server"]["instance_id"] = "00000000-0000-4000-8000-000000000000"
    mock_hasync_client.status.return_value = StatusDocument.from_dict(raw)
    await _tick(hass, freezer, SCAN)
    coordinator = _coordinator(init_integration)
    assert not coordinator.last_update_success
    assert str(coordinator.last_exception) == (
        "The server at this address is another HAsync instance "
        "(00000000-0000-4000-8000-000000000000). Reconfigure the integration with the right address"
    )
    assert coordinator.consecutive_failures == 1


async def test_push_is_applied_without_polling(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    mock_hasync_client: MagicMock,
    event_source: FakeEventSource,
) -> None:
    """A pushed document updates the entities at once; no poll happens."""
    coordinator = _coordinator(init_integration)
    assert _state(hass, "binary_sensor.hasync_bcrypt") == STATE_OFF
    event_source.push(load_json("status_bcrypt_failed.json"))
    await hass.async_block_till_done()
    assert _state(hass, "binary_sensor.hasync_bcrypt") == STATE_ON
    assert _state(hass, "binary_sensor.hasync_problem") == STATE_ON
    assert mock_hasync_client.status.await_count == 1  # only the first refresh
    assert coordinator.pushes == 1
    assert coordinator.polls == 1
    assert coordinator.last_push_at == coordinator.last_success_at
    assert [sample.document for sample in coordinator.samples] == [
        load_status(),
        load_status("status_bcrypt_failed.json"),
    ]


async def test_push_of_other_instance_is_ignored(
    hass: HomeAssistant, init_integration: MockConfigEntry, event_source: FakeEventSource
) -> None:
    """A document with another instance id does not replace ours."""
    raw = load_json("status_bcrypt_failed.json")
    raw["server"]["instance_id"] = "00000000-0000-4000-8000-000000000000"
    event_source.push(raw)
    await hass.async_block_till_done()
    assert _state(hass, "binary_sensor.hasync_bcrypt") == STATE_OFF
    assert _coordinator(init_integration).pushes == 0


async def test_stream_end_polls_at_once(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    mock_hasync_client: MagicMock,
    event_source: FakeEventSource,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """When the stream ends the coordinator polls right away, without waiting for the timer."""
    caplog.clear()
    mock_hasync_client.status.side_effect = HAsyncConnectionError("Connection refused")
    event_source.end()
    await hass.async_block_till_done()
    assert mock_hasync_client.status.await_count == 2
    assert _state(hass, "binary_sensor.hasync_connected") == STATE_OFF
    assert _state(hass, "sensor.hasync_cpu_usage") == STATE_UNAVAILABLE
    assert len(_messages(caplog)) == 1


async def test_stream_end_while_up_reconnects(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    mock_hasync_client: MagicMock,
    event_source: FakeEventSource,
) -> None:
    """A closed stream of a healthy server: the poll succeeds and the stream reopens at once."""
    event_source.end()
    await hass.async_block_till_done()
    assert mock_hasync_client.status.await_count == 2
    assert len(event_source.streams) == 2
    assert _coordinator(init_integration).listener.state.connected


async def test_recovery_by_push(  # noqa: PLR0917
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    mock_hasync_client: MagicMock,
    event_source: FakeEventSource,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Push can bring the server back before the next poll; that is logged once too."""
    mock_hasync_client.status.side_effect = HAsyncConnectionError("Connection refused")
    await _tick(hass, freezer, SCAN)
    assert _state(hass, "binary_sensor.hasync_connected") == STATE_OFF
    caplog.clear()
    event_source.push(load_json("status.json"))
    await hass.async_block_till_done()
    assert _state(hass, "binary_sensor.hasync_connected") == STATE_ON
    assert _state(hass, "sensor.hasync_server_version") == "0.1.0"
    assert _coordinator(init_integration).consecutive_failures == 0
    assert _messages(caplog) == [f"Fetching {TITLE} data recovered"]


async def test_history_is_pruned_by_age(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, init_integration: MockConfigEntry
) -> None:
    """Samples older than the longest window go, except one that anchors the window."""
    coordinator = _coordinator(init_integration)
    step = timedelta(minutes=10)
    for _ in range(int(HISTORY_MAX_AGE / step) + 6):
        await _tick(hass, freezer, step)
    samples = list(coordinator.samples)
    cutoff = dt_util.utcnow() - HISTORY_MAX_AGE
    assert samples[0].received_at <= cutoff < samples[1].received_at
    assert samples[-1].received_at == dt_util.utcnow()
    assert all(a.received_at < b.received_at for a, b in itertools.pairwise(samples))


async def test_response_time_is_measured(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    mock_hasync_client: MagicMock,
) -> None:
    """The response time is the time the status request took."""

    async def slow_status() -> StatusDocument:
        freezer.tick(timedelta(milliseconds=250))
        return load_status()

    mock_hasync_client.status.side_effect = slow_status
    await _tick(hass, freezer, SCAN)
    assert _coordinator(init_integration).last_response_time_ms == 250.0
    assert _state(hass, "sensor.hasync_response_time") == "250.0"


async def test_device_follows_server_version(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    event_source: FakeEventSource,
    device_registry: dr.DeviceRegistry,
) -> None:
    """After an add-on update the device shows the new server version."""
    device = device_registry.async_get_device_by_identifier(
        (DOMAIN, INSTANCE_ID), init_integration.entry_id
    )
    assert device is not None
    assert device.sw_version == "0.1.0"
    raw = load_json("status.json")
    raw["server"]["version"] = "0.2.0"
    event_source.push(raw)
    await hass.async_block_till_done()
    device = device_registry.async_get_device_by_identifier(
        (DOMAIN, INSTANCE_ID), init_integration.entry_id
    )
    assert device is not None
    assert device.sw_version == "0.2.0"


async def test_scan_interval_option(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, mock_hasync_client: MagicMock
) -> None:
    """The polling interval comes from the options."""
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(mock_config_entry, options={CONF_SCAN_INTERVAL: 120})
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    coordinator = _coordinator(mock_config_entry)
    assert coordinator.update_interval == timedelta(seconds=120)
    assert coordinator.options.failure_threshold == 3
    assert coordinator.options.rule_enabled("unreachable")
    assert coordinator.addon_slug is None


async def test_observers_hear_every_outcome(  # noqa: PLR0917
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    mock_hasync_client: MagicMock,
    event_source: FakeEventSource,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Observers run after each poll (repeated failures too) and each push."""
    coordinator = _coordinator(init_integration)
    failures: list[int] = []
    remove = coordinator.async_add_observer(
        lambda: failures.append(coordinator.consecutive_failures)
    )

    def broken() -> None:
        raise RuntimeError("observer bug")

    coordinator.async_add_observer(broken)
    mock_hasync_client.status.side_effect = HAsyncConnectionError("refused")
    for _ in range(3):
        await _tick(hass, freezer, SCAN)
    event_source.push(load_json("status.json"))
    await hass.async_block_till_done()
    assert failures == [1, 2, 3, 0]
    assert "Error in a HAsync update observer" in caplog.text
    remove()
    remove()  # removing twice is harmless
    await _tick(hass, freezer, SCAN)
    assert failures == [1, 2, 3, 0]


async def test_polling_continues_while_pushing(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    mock_hasync_client: MagicMock,
    event_source: FakeEventSource,
) -> None:
    """Pushes do not postpone the poll: it still runs every scan interval."""
    coordinator = _coordinator(init_integration)
    for _ in range(4):
        freezer.tick(timedelta(seconds=20))
        event_source.push(load_json("status.json"))
        async_fire_time_changed(hass)
        await hass.async_block_till_done()
    # 80 s with a push every 20 s: polls still run (due at 30 s, then 30 s after each).
    # Had each push restarted the timer, no poll would have run after the first refresh.
    assert coordinator.pushes == 4
    assert mock_hasync_client.status.await_count == 1 + 2
    assert coordinator.polls == 3


async def test_lost_stream_counts_as_one_failure(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    mock_hasync_client: MagicMock,
    event_source: FakeEventSource,
) -> None:
    """Both checks after a lost stream find the same outage: one failure; polls add the rest."""
    coordinator = _coordinator(init_integration)
    mock_hasync_client.status.side_effect = HAsyncConnectionError("Connection refused")
    mock_hasync_client.event_stream.side_effect = HAsyncConnectionError("Connection refused")
    event_source.end()
    await hass.async_block_till_done()
    assert mock_hasync_client.status.await_count == 2  # the first check
    assert coordinator.consecutive_failures == 1
    coordinator.listener.reconnect_now()  # skip the backoff: reopening fails, second check
    for _ in range(5):  # the listener is a background task: let it run
        await asyncio.sleep(0)
    await hass.async_block_till_done()
    assert mock_hasync_client.status.await_count == 3
    assert coordinator.consecutive_failures == 1
    assert coordinator.last_error == "HAsyncConnectionError: Connection refused"
    await _tick(hass, freezer, SCAN)
    assert coordinator.consecutive_failures == 2
    await _tick(hass, freezer, SCAN)
    assert coordinator.consecutive_failures == 3
