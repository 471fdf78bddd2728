"""System health of the HAsync integration."""

from typing import Any

from homeassistant.components import system_health
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, callback

from .const import DOMAIN
from .data import HAsyncConfigEntry


@callback
def async_register(hass: HomeAssistant, register: system_health.SystemHealthRegistration) -> None:
    """Register the system health callback."""
    register.async_register_info(system_health_info)


async def system_health_info(hass: HomeAssistant) -> dict[str, Any]:
    """Report on the first loaded server: reachable, version, last update, push state."""
    entries: list[HAsyncConfigEntry] = [
        entry
        for entry in hass.config_entries.async_entries(DOMAIN)
        if entry.state is ConfigEntryState.LOADED
    ]
    if not entries:
        return {"loaded_servers": 0}
    coordinator = entries[0].runtime_data.coordinator
    return {
        "loaded_servers": len(entries),
        # /health needs no token and is never rate limited; any answer proves reachability.
        "can_reach_server": system_health.async_check_can_reach_url(
            hass, f"{coordinator.client.url}/health"
        ),
        "server_version": coordinator.data.server.version,
        "last_update": (
            coordinator.last_success_at.isoformat() if coordinator.last_success_at else None
        ),
        "push_connected": coordinator.listener.state.connected,
    }
