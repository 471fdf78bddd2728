"""The HAsync integration: health of the HAsync add-on as entities and repairs."""

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant

from .coordinator import HAsyncDataUpdateCoordinator
from .data import HAsyncConfigEntry, HAsyncData
from .repairs import HAsyncRepairs, async_delete_entry_issues
from .rollback import HealthyVersion

PLATFORMS = [Platform.BINARY_SENSOR, Platform.BUTTON, Platform.SENSOR]


async def async_setup_entry(hass: HomeAssistant, entry: HAsyncConfigEntry) -> bool:
    """Set up HAsync from a config entry."""
    coordinator = HAsyncDataUpdateCoordinator(hass, entry)
    await coordinator.async_config_entry_first_refresh()
    repairs = HAsyncRepairs(hass, entry, coordinator)
    entry.runtime_data = HAsyncData(coordinator=coordinator, repairs=repairs)
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    await repairs.async_setup()
    coordinator.async_start_push()
    return True


async def async_unload_entry(hass: HomeAssistant, entry: HAsyncConfigEntry) -> bool:
    """Unload a config entry; the push listener is cancelled with the entry's tasks.

    The repair issues stay across a reload, so it does not make them flap; disabling the
    entry deletes them, since nothing would clear them any more.
    """
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded and entry.disabled_by is not None:
        async_delete_entry_issues(hass, entry.entry_id)
    return unloaded


async def async_remove_entry(hass: HomeAssistant, entry: HAsyncConfigEntry) -> None:
    """Delete the repair issues and the stored healthy version of a removed entry."""
    async_delete_entry_issues(hass, entry.entry_id)
    await HealthyVersion(hass, entry.entry_id).async_remove()
