"""The device every entity of a server belongs to."""

from unittest.mock import MagicMock

from homeassistant.const import CONF_TOKEN, CONF_URL
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.hasync.const import CONF_ADDON_SLUG, DOMAIN

from .conftest import INSTANCE_ID, SERVER_URL


async def test_device(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    """One service device per server, keyed by its instance id, linking to the server."""
    device = device_registry.async_get_device_by_identifier(
        (DOMAIN, INSTANCE_ID), init_integration.entry_id
    )
    assert device is not None
    assert device.name == "HAsync"
    assert device.manufacturer == "HAsync"
    assert device.model == "HAsync server"
    assert device.sw_version == "0.1.0"
    assert device.configuration_url == SERVER_URL
    assert device.entry_type is dr.DeviceEntryType.SERVICE
    entities = er.async_entries_for_config_entry(entity_registry, init_integration.entry_id)
    assert entities
    assert {entity.device_id for entity in entities} == {device.id}
    assert all(entity.unique_id.startswith(f"{INSTANCE_ID}_") for entity in entities)


async def test_device_of_discovered_addon(
    hass: HomeAssistant, mock_hasync_client: MagicMock, device_registry: dr.DeviceRegistry
) -> None:
    """A discovered add-on links to its ingress page, not to its internal address."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="HAsync",
        unique_id=INSTANCE_ID,
        data={
            CONF_URL: "http://local-hasync:8099",
            CONF_TOKEN: "t",
            CONF_ADDON_SLUG: "local_hasync",
        },
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    device = device_registry.async_get_device_by_identifier((DOMAIN, INSTANCE_ID), entry.entry_id)
    assert device is not None
    assert device.configuration_url == "homeassistant://hassio/ingress/local_hasync"
