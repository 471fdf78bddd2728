"""Button of the HAsync integration: restart the add-on through Supervisor."""

from typing import override

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.components.button.const import ButtonDeviceClass
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import HAsyncConfigEntry
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
    coordinator = entry.runtime_data
    if async_supervisor_available(hass, coordinator.addon_slug):
        async_add_entities([HAsyncRestartButton(coordinator, RESTART)])


class HAsyncRestartButton(HAsyncEntity, ButtonEntity):
    """Restarts the HAsync add-on."""

    @property
    @override
    def available(self) -> bool:
        """Stay available while the server is down: that is when a restart helps most."""
        return True

    @override
    async def async_press(self) -> None:
        """Ask Supervisor to restart the add-on."""
        if (slug := self.coordinator.addon_slug) is not None:  # always, or no button exists
            await async_restart_addon(self.hass, slug)
