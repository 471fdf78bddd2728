"""Home Assistant side of the fuzz targets: the entry against the raw server, and what it shows."""

from collections.abc import AsyncGenerator
from typing import Final

from homeassistant.const import CONF_TOKEN, CONF_URL
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.hasync.const import CONF_SCAN_INTERVAL, DOMAIN
from custom_components.hasync.coordinator import HAsyncDataUpdateCoordinator
from tests.common import wait_until
from tests.conftest import INSTANCE_ID, TOKEN

from .documents import dumps, encode, fixture
from .rawserver import SSE_HEAD, RawHTTPServer, Reply, http_response, sse_chunk

STATUS_PATH: Final = "/api/v1/status"
EVENTS_PATH: Final = "/api/v1/events"
TITLE: Final = "HAsync (127.0.0.1)"
VALID: Final = encode(dumps(fixture()))


def json_reply(body: bytes, status: int = 200) -> Reply:
    """Answer with a JSON body."""
    return Reply.of(http_response(status, body, [("Content-Type", "application/json")]))


async def setup_entry(
    hass: HomeAssistant,
    raw_server: RawHTTPServer,
) -> AsyncGenerator[MockConfigEntry]:
    """Set the integration up against the raw server, every entity enabled.

    The stream stays open and quiet, so only the polls this test makes change anything; the
    scan interval is the longest allowed, so no scheduled poll runs in between.
    """
    raw_server.routes[STATUS_PATH] = json_reply(VALID)
    raw_server.routes[EVENTS_PATH] = Reply([SSE_HEAD, sse_chunk(b"retry: 5000\n\n")], hold=True)
    config_entry = MockConfigEntry(
        domain=DOMAIN,
        title=TITLE,
        unique_id=INSTANCE_ID,
        data={CONF_URL: raw_server.url, CONF_TOKEN: TOKEN},
        options={CONF_SCAN_INTERVAL: 300},
    )
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    coordinator: HAsyncDataUpdateCoordinator = config_entry.runtime_data.coordinator
    await wait_until(lambda: coordinator.listener.state.connected)
    yield config_entry
    assert await hass.config_entries.async_unload(config_entry.entry_id)
    await hass.async_block_till_done()


def issue_keys(hass: HomeAssistant, entry_id: str) -> set[str]:
    """Return the HAsync repair issues of the entry, without the entry id prefix."""
    prefix = f"{entry_id}_"
    return {
        issue.removeprefix(prefix)
        for domain, issue in ir.async_get(hass).issues
        if domain == DOMAIN
    }


def states(hass: HomeAssistant) -> dict[str, State]:
    """Return the entities' states by description key."""
    registry = er.async_get(hass)
    result: dict[str, State] = {}
    for entity in registry.entities.values():
        if entity.platform != DOMAIN:
            continue
        key = entity.unique_id.removeprefix(f"{INSTANCE_ID}_")
        state = hass.states.get(entity.entity_id)
        assert state is not None, entity.entity_id
        result[key] = state
    return result


async def poll(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Run one poll, as the scan interval would, and let its effects settle."""
    coordinator: HAsyncDataUpdateCoordinator = entry.runtime_data.coordinator
    await coordinator.async_refresh()
    await hass.async_block_till_done()
