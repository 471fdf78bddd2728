"""Diagnostics: the document and statistics, with the token and the address redacted."""

import json
from unittest.mock import MagicMock

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion

from custom_components.hasync.client.errors import HAsyncConnectionError

from .conftest import SERVER_URL, TOKEN


@pytest.mark.freeze_time("2026-11-25T23:00:00+00:00")
async def test_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    init_integration: MockConfigEntry,
    snapshot: SnapshotAssertion,
) -> None:
    """The diagnostics hold the last document, the statistics and the stream state."""
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, init_integration)
    assert diagnostics == snapshot


async def test_secrets_are_redacted(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    mock_hasync_client: MagicMock,
) -> None:
    """Neither the token nor the server address appears anywhere, errors included."""
    mock_hasync_client.status.side_effect = HAsyncConnectionError(
        f"Cannot connect to host 192.168.1.10:8099 ({SERVER_URL}) token={TOKEN}"
    )
    freezer.tick(30)
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, init_integration)
    text = json.dumps(diagnostics)
    assert TOKEN not in text
    assert "192.168.1.10" not in text
    assert diagnostics["entry"]["data"] == {"url": "**REDACTED**", "token": "**REDACTED**"}
    assert diagnostics["coordinator"]["consecutive_failures"] == 1
    assert diagnostics["coordinator"]["last_error"].startswith(
        "HAsyncConnectionError: Cannot connect to host **REDACTED**"
    )
    assert diagnostics["status"]["server"]["instance_id"] == init_integration.unique_id
