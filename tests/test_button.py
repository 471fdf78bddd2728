"""The restart button: only with Supervisor and a known add-on slug."""

from datetime import timedelta
from unittest.mock import MagicMock, patch

from aiohasupervisor import SupervisorError
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.button import DOMAIN as BUTTON_DOMAIN, SERVICE_PRESS
from homeassistant.const import ATTR_ENTITY_ID, STATE_UNKNOWN, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.hasync.client.errors import HAsyncConnectionError
from custom_components.hasync.const import DOMAIN

from .conftest import ADDON_SLUG as SLUG

BUTTON = "button.hasync_restart"


async def _setup(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    with patch("custom_components.hasync.PLATFORMS", [Platform.BUTTON]):
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()


@pytest.mark.usefixtures("mock_hasync_client", "supervisor_client")
async def test_snapshot(
    hass: HomeAssistant,
    discovered_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """With Supervisor and a slug, the restart button exists."""
    await _setup(hass, discovered_entry)
    await snapshot_platform(hass, entity_registry, snapshot, discovered_entry.entry_id)


@pytest.mark.usefixtures("mock_hasync_client")
async def test_press_restarts_the_addon(
    hass: HomeAssistant, discovered_entry: MockConfigEntry, supervisor_client: MagicMock
) -> None:
    """Pressing asks Supervisor to restart the add-on by its slug."""
    await _setup(hass, discovered_entry)
    await hass.services.async_call(
        BUTTON_DOMAIN, SERVICE_PRESS, {ATTR_ENTITY_ID: BUTTON}, blocking=True
    )
    supervisor_client.addons.restart_addon.assert_awaited_once_with(SLUG)


@pytest.mark.usefixtures("mock_hasync_client")
async def test_press_fails(
    hass: HomeAssistant, discovered_entry: MockConfigEntry, supervisor_client: MagicMock
) -> None:
    """A Supervisor error becomes a translated HomeAssistantError."""
    supervisor_client.addons.restart_addon.side_effect = SupervisorError("addon is not running")
    await _setup(hass, discovered_entry)
    with pytest.raises(HomeAssistantError) as raised:
        await hass.services.async_call(
            BUTTON_DOMAIN, SERVICE_PRESS, {ATTR_ENTITY_ID: BUTTON}, blocking=True
        )
    assert raised.value.translation_domain == DOMAIN
    assert raised.value.translation_key == "restart_failed"
    assert str(raised.value) == f"Could not restart the add-on {SLUG}: addon is not running"


@pytest.mark.usefixtures("supervisor_client")
async def test_available_while_server_is_down(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    discovered_entry: MockConfigEntry,
    mock_hasync_client: MagicMock,
) -> None:
    """The button stays usable when the server is unreachable: then it helps most."""
    await _setup(hass, discovered_entry)
    mock_hasync_client.status.side_effect = HAsyncConnectionError("refused")
    freezer.tick(timedelta(seconds=30))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    state = hass.states.get(BUTTON)
    assert state is not None
    assert state.state == STATE_UNKNOWN  # a button's state: available, never pressed


@pytest.mark.usefixtures("mock_hasync_client")
async def test_no_button_without_supervisor(
    hass: HomeAssistant, discovered_entry: MockConfigEntry
) -> None:
    """Without Supervisor (Container/Core installs) there is nothing to restart."""
    with patch("custom_components.hasync.supervisor.is_hassio", return_value=False):
        await _setup(hass, discovered_entry)
    assert hass.states.get(BUTTON) is None


@pytest.mark.usefixtures("mock_hasync_client", "supervisor_client")
async def test_no_button_without_slug(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    """A manually added server has no known add-on slug, so no button."""
    await _setup(hass, mock_config_entry)
    assert hass.states.get(BUTTON) is None
