"""Base entity of the HAsync integration."""

from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DEVICE_NAME, DOMAIN, MANUFACTURER, MODEL
from .coordinator import HAsyncDataUpdateCoordinator


class HAsyncEntity(CoordinatorEntity[HAsyncDataUpdateCoordinator]):
    """An entity of the HAsync server device."""

    _attr_has_entity_name = True

    def __init__(
        self, coordinator: HAsyncDataUpdateCoordinator, description: EntityDescription
    ) -> None:
        """Attach the entity to the server's device."""
        super().__init__(coordinator)
        self.entity_description = description
        self._attr_unique_id = f"{coordinator.instance_id}_{description.key}"
        if slug := coordinator.addon_slug:
            # The add-on's own address is only reachable inside Docker; its page is on ingress.
            configuration_url = f"homeassistant://hassio/ingress/{slug}"
        else:
            configuration_url = coordinator.client.url
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, coordinator.instance_id)},
            name=DEVICE_NAME,
            manufacturer=MANUFACTURER,
            model=MODEL,
            sw_version=coordinator.data.server.version,
            configuration_url=configuration_url,
            entry_type=DeviceEntryType.SERVICE,
        )
