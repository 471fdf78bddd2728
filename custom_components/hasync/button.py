"""Button of the HAsync integration: restart the add-on through Supervisor."""

from typing import override

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.components.button.const import ButtonDeviceClass
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import HAsyncDataUpdateCoordinator
from .data import HAsyncConfigEntry
from .entity import HAsyncEntity
from .supervisor import async_restart_addon, async_supervisor_available

# One restart at a time.
PARALLEL_UPDATES = 1

RESTART = ButtonEntityDescription(
    key="restart",
    device_class=ButtonDeviceClass.RESTART,
    entity_category=EntityCategory.CONFIG,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: HAsyncConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the restart button when Supervisor can restart the add-on."""
    coordinator = entry.runtime_data.coordinator
    slug = coordinator.addon_slug
    if slug is not None and async_supervisor_available(hass, slug):
        async_add_entities([HAsyncRestartButton(coordinator, slug)])


class HAsyncRestartButton(HAsyncEntity, ButtonEntity):
    """Restarts the HAsync add-on."""

    def __init__(self, coordinator: HAsyncDataUpdateCoordinator, addon_slug: str) -> None:
        """Remember which add-on to restart."""
        super().__init__(coordinator, RESTART)
        self._addon_slug = addon_slug

    @property
    @override
    def available(self) -> bool:
        """Stay available while the server is down: that is when a restart helps most."""
        return True

    @override
    async def async_press(self) -> None:
        """Ask Supervisor to restart the add-on."""
        await async_restart_addon(self.hass, self._addon_slug)
