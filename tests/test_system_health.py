"""System health: reachability, version and last update of the server."""

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry, get_system_health_info
from pytest_homeassistant_custom_component.test_util.aiohttp import AiohttpClientMocker

from custom_components.hasync.const import DOMAIN

from .conftest import SERVER_URL


async def test_system_health(
    hass: HomeAssistant, aioclient_mock: AiohttpClientMocker, init_integration: MockConfigEntry
) -> None:
    """A loaded server reports whether /health answers, its version and the last update."""
    aioclient_mock.get(f"{SERVER_URL}/health", json={"status": "ok"})
    assert await async_setup_component(hass, "system_health", {})
    await hass.async_block_till_done()
    info = await get_system_health_info(hass, DOMAIN)
    info = {
        key: await value if hasattr(value, "__await__") else value for key, value in info.items()
    }
    coordinator = init_integration.runtime_data.coordinator
    assert info == {
        "loaded_servers": 1,
        "can_reach_server": "ok",
        "server_version": "0.1.0",
        "last_update": coordinator.last_success_at.isoformat(),
        "push_connected": True,
    }
    assert [str(call[1]) for call in aioclient_mock.mock_calls] == [f"{SERVER_URL}/health"]


async def test_system_health_unreachable(
    hass: HomeAssistant, aioclient_mock: AiohttpClientMocker, init_integration: MockConfigEntry
) -> None:
    """An unreachable /health is reported as such."""
    aioclient_mock.get(f"{SERVER_URL}/health", exc=TimeoutError)
    assert await async_setup_component(hass, "system_health", {})
    await hass.async_block_till_done()
    info = await get_system_health_info(hass, DOMAIN)
    assert await info["can_reach_server"] == {"type": "failed", "error": "timeout"}


async def test_system_health_nothing_loaded(hass: HomeAssistant) -> None:
    """Without a loaded entry there is nothing to report but that."""
    assert await async_setup_component(hass, DOMAIN, {})
    assert await async_setup_component(hass, "system_health", {})
    await hass.async_block_till_done()
    assert await get_system_health_info(hass, DOMAIN) == {"loaded_servers": 0}
