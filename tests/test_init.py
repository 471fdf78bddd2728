"""Setting the integration up and unloading it."""

import asyncio
from unittest.mock import MagicMock

from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.loader import async_get_integration
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.hasync.client.errors import (
    HAsyncAuthError,
    HAsyncConnectionError,
    HAsyncInvalidResponseError,
)
from custom_components.hasync.const import DOMAIN

from .conftest import FakeEventSource


async def test_manifest(hass: HomeAssistant) -> None:
    """Home Assistant reads the manifest of the custom integration."""
    assert await async_setup_component(hass, DOMAIN, {})
    integration = await async_get_integration(hass, DOMAIN)
    assert not integration.is_built_in
    assert integration.version is not None
    assert integration.config_flow
    assert integration.iot_class == "local_push"
    assert integration.integration_type == "service"
    assert integration.after_dependencies == ["backup", "hassio"]


async def test_setup_and_unload(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    event_source: FakeEventSource,
) -> None:
    """Setup loads the entry and opens the push stream; unload closes it and leaves no task."""
    entry = init_integration
    assert entry.state is ConfigEntryState.LOADED
    assert event_source.current.opened
    assert entry.runtime_data.coordinator.listener.state.connected
    assert entry._background_tasks  # the listener

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert not entry._background_tasks
    assert event_source.current.closed
    assert not [
        task
        for task in asyncio.all_tasks()
        if task.get_name().startswith(f"{DOMAIN} ") and not task.done()
    ]


@pytest.mark.parametrize(
    "error", [HAsyncConnectionError("refused"), HAsyncInvalidResponseError("bad")]
)
async def test_setup_retries_while_unreachable(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    mock_hasync_client: MagicMock,
    error: Exception,
) -> None:
    """A server that cannot be read at setup puts the entry into setup retry."""
    mock_hasync_client.status.side_effect = error
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY


async def test_setup_auth_failure_starts_reauth(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, mock_hasync_client: MagicMock
) -> None:
    """A rejected token at setup fails the entry and starts reauthentication."""
    mock_hasync_client.status.side_effect = HAsyncAuthError("invalid token")
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]
