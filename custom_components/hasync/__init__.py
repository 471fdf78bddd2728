"""The HAsync integration: health of the HAsync add-on as entities and repairs."""

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant

from .coordinator import HAsyncConfigEntry, HAsyncDataUpdateCoordinator

PLATFORMS = [Platform.BINARY_SENSOR, Platform.BUTTON, Platform.SENSOR]


async def async_setup_entry(hass: HomeAssistant, entry: HAsyncConfigEntry) -> bool:
    """Set up HAsync from a config entry."""
    coordinator = HAsyncDataUpdateCoordinator(hass, entry)
    await coordinator.async_config_entry_first_refresh()
    entry.runtime_data = coordinator
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    coordinator.async_start_push()
    return True


async def async_unload_entry(hass: HomeAssistant, entry: HAsyncConfigEntry) -> bool:
    """Unload a config entry; the push listener is cancelled with the entry's tasks."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
