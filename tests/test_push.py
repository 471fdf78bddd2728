"""Push end to end in Home Assistant: the real client and listener against a local server.

No mocks: the integration connects over HTTP and SSE to tests/hasync_server.py on 127.0.0.1.
"""

from collections.abc import AsyncGenerator
import logging

from homeassistant.const import CONF_TOKEN, CONF_URL, STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.hasync.const import DOMAIN
from custom_components.hasync.coordinator import HAsyncDataUpdateCoordinator

from .common import wait_until
from .conftest import INSTANCE_ID, TOKEN, load_json
from .hasync_server import FakeHAsyncServer


@pytest.fixture
async def server(socket_enabled: None) -> AsyncGenerator[FakeHAsyncServer]:
    """Run the stand-in server on a free port of 127.0.0.1."""
    fake = FakeHAsyncServer(TOKEN, load_json("status.json"))
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def entry(hass: HomeAssistant, server: FakeHAsyncServer) -> MockConfigEntry:
    """Set the integration up against the server and wait for its stream."""
    config_entry = MockConfigEntry(
        domain=DOMAIN,
        title="HAsync (127.0.0.1)",
        unique_id=INSTANCE_ID,
        data={CONF_URL: server.url, CONF_TOKEN: TOKEN},
    )
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    coordinator: HAsyncDataUpdateCoordinator = config_entry.runtime_data.coordinator
    await wait_until(lambda: coordinator.pushes == 1)  # the document sent on connect
    return config_entry


def _state(hass: HomeAssistant, entity_id: str) -> str | None:
    state = hass.states.get(entity_id)
    return None if state is None else state.state


def _messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith("custom_components.hasync") and record.levelno >= logging.INFO
    ]


async def test_push_is_applied_without_polling(
    hass: HomeAssistant, server: FakeHAsyncServer, entry: MockConfigEntry
) -> None:
    """A pushed document reaches the entities at once; no extra poll is made."""
    polls = server.status_calls
    assert polls == 1  # the first refresh
    assert _state(hass, "binary_sensor.hasync_database") == STATE_OFF

    server.push(load_json("status_bcrypt_failed.json"))
    await wait_until(lambda: _state(hass, "binary_sensor.hasync_database") == STATE_ON)
    assert _state(hass, "binary_sensor.hasync_bcrypt") == STATE_ON
    assert _state(hass, "binary_sensor.hasync_node_js_support") == STATE_ON
    problem = hass.states.get("binary_sensor.hasync_problem")
    assert problem is not None
    assert problem.attributes["failing_checks"] == ["bcrypt", "database"]
    assert server.status_calls == polls
    assert entry.runtime_data.coordinator.pushes == 2


async def test_server_stop_and_restart(
    hass: HomeAssistant,
    server: FakeHAsyncServer,
    entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Stopping the server is noticed within 3 s with one log line; a restart recovers."""
    caplog.clear()
    started = hass.loop.time()
    await server.stop()
    await wait_until(lambda: _state(hass, "binary_sensor.hasync_connected") == STATE_OFF, 3)
    assert hass.loop.time() - started < 3
    assert _state(hass, "sensor.hasync_memory_used") == STATE_UNAVAILABLE
    assert _state(hass, "binary_sensor.hasync_problem") == STATE_UNAVAILABLE
    await hass.async_block_till_done()
    messages = _messages(caplog)
    assert len(messages) == 1, messages
    nothing = f"Nothing answers at 127.0.0.1:{server.port}: the app is stopped or starting"
    assert messages == [f"Error fetching HAsync (127.0.0.1) data: {nothing}"]

    caplog.clear()
    await server.start()  # same port
    await wait_until(lambda: _state(hass, "binary_sensor.hasync_connected") == STATE_ON, 10)
    assert _state(hass, "sensor.hasync_memory_used") == "61.0"
    assert _messages(caplog) == ["Fetching HAsync (127.0.0.1) data recovered"]
    assert await hass.config_entries.async_unload(entry.entry_id)
