"""Diagnostics of the HAsync integration."""

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import REDACTED, async_redact_data
from homeassistant.const import CONF_HOST, CONF_TOKEN, CONF_URL
from homeassistant.core import HomeAssistant
from yarl import URL

from .coordinator import HAsyncConfigEntry

TO_REDACT = {CONF_TOKEN, CONF_URL, CONF_HOST}


def _scrub(text: str | None, secrets: list[str]) -> str | None:
    """Remove the server's address and token from a free-text error message."""
    if text is None:
        return None
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


def _scrub_all(value: Any, secrets: list[str]) -> Any:
    """Scrub every string in a structure (the server may echo a secret in any text field)."""
    if isinstance(value, str):
        return _scrub(value, secrets)
    if isinstance(value, dict):
        return {key: _scrub_all(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_scrub_all(item, secrets) for item in value)
    return value


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: HAsyncConfigEntry
) -> dict[str, Any]:
    """Return the entry (token and address redacted), the last document and the statistics."""
    coordinator = entry.runtime_data
    url = URL(entry.data[CONF_URL])
    secrets = [secret for secret in (entry.data[CONF_TOKEN], str(url), url.host) if secret]
    listener = coordinator.listener.state
    samples = coordinator.samples
    return {
        "entry": {
            "title": _scrub(entry.title, secrets),
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            "options": async_redact_data(dict(entry.options), TO_REDACT),
        },
        "coordinator": {
            "last_update_success": coordinator.last_update_success,
            "update_interval_s": (
                coordinator.update_interval.total_seconds() if coordinator.update_interval else None
            ),
            "consecutive_failures": coordinator.consecutive_failures,
            "last_success_at": coordinator.last_success_at,
            "last_failure_at": coordinator.last_failure_at,
            "last_error": _scrub(coordinator.last_error, secrets),
            "last_response_time_ms": coordinator.last_response_time_ms,
            "polls": coordinator.polls,
            "pushes": coordinator.pushes,
            "last_push_at": coordinator.last_push_at,
            "samples": len(samples),
            "oldest_sample_at": samples[0].received_at if samples else None,
        },
        "event_stream": {
            **asdict(listener),
            "last_error": _scrub(listener.last_error, secrets),
        },
        "status": _scrub_all(asdict(coordinator.data), secrets) if coordinator.data else None,
    }
