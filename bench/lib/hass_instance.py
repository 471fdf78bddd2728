"""A Home Assistant test instance (phcc's) in the bench process, with the integration set up.

The benches run outside pytest, so they apply by hand what phcc's fixtures would: custom
integrations enabled, every entity enabled, no zeroconf resolver for the aiohttp session.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
import tempfile
import time
from typing import Any
from unittest.mock import PropertyMock, patch

from aiohttp.resolver import ThreadedResolver
from homeassistant import loader
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.const import CONF_TOKEN, CONF_URL
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_test_home_assistant,
)

from custom_components.hasync.const import DOMAIN


@asynccontextmanager
async def test_hass() -> AsyncIterator[HomeAssistant]:
    """Yield a running test instance of Home Assistant with a temporary config dir."""
    with (
        tempfile.TemporaryDirectory() as config_dir,
        patch(
            "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
            return_value=True,
            new_callable=PropertyMock,
        ),
        patch(
            "homeassistant.helpers.aiohttp_client._async_make_resolver",
            side_effect=lambda *_: ThreadedResolver(),
        ),
    ):
        async with async_test_home_assistant(config_dir=config_dir) as hass:
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)
            yield hass


async def add_entry(
    hass: HomeAssistant,
    url: str,
    token: str,
    instance_id: str,
    options: Mapping[str, Any] | None = None,
) -> ConfigEntry:
    """Add and set up an entry for the server at url, as the config flow would create it."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="HAsync (bench)",
        unique_id=instance_id,
        data={CONF_URL: url, CONF_TOKEN: token},
        options=dict(options or {}),
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    if entry.state is not ConfigEntryState.LOADED:
        raise RuntimeError(f"the entry did not load: {entry.state} {entry.reason}")
    return entry


async def until(predicate: Callable[[], bool], limit: float, what: str) -> float:
    """Let the loop run until predicate() holds; return the seconds it took."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > limit:
            raise TimeoutError(f"not within {limit:g} s: {what}")
        await asyncio.sleep(0.005)
    return time.monotonic() - started
