"""Test that the integration loads in Home Assistant."""

from homeassistant.core import HomeAssistant
from homeassistant.loader import async_get_integration
from homeassistant.setup import async_setup_component

from custom_components.hasync.const import DOMAIN


async def test_component_loads(hass: HomeAssistant) -> None:
    """The component sets up and HA reads its manifest."""
    assert await async_setup_component(hass, DOMAIN, {})
    assert DOMAIN in hass.config.components
    integration = await async_get_integration(hass, DOMAIN)
    assert not integration.is_built_in
    assert integration.version is not None
