"""Diagnostics of the HAsync integration."""

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import REDACTED, async_redact_data
from homeassistant.const import CONF_HOST, CONF_TOKEN, CONF_URL
from homeassistant.core import HomeAssistant
from yarl import URL

from .client.models import redact_json
from .data import HAsyncConfigEntry

TO_REDACT = {CONF_TOKEN, CONF_URL, CONF_HOST}


def _scrubber(secrets: list[str]) -> Callable[[str], str]:
    """Return a function that removes the server's address and token from a text."""

    def scrub(text: str) -> str:
        for secret in secrets:
            text = text.replace(secret, REDACTED)
        return text

    return scrub


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: HAsyncConfigEntry
) -> dict[str, Any]:
    """Return the entry (token and address redacted), the last document and the statistics."""
    coordinator = entry.runtime_data.coordinator
    url = URL(entry.data[CONF_URL])
    # The server may echo a secret in any text, and errors quote the address.
    scrub = _scrubber([secret for secret in (entry.data[CONF_TOKEN], str(url), url.host) if secret])
    listener = coordinator.listener.state
    samples = coordinator.samples
    return {
        "entry": {
            "title": scrub(entry.title),
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
            "last_error": redact_json(coordinator.last_error, scrub),
            "last_response_time_ms": coordinator.last_response_time_ms,
            "polls": coordinator.polls,
            "pushes": coordinator.pushes,
            "last_push_at": coordinator.last_push_at,
            "samples": len(samples),
            "oldest_sample_at": samples[0].received_at if samples else None,
        },
        "event_stream": {
            **asdict(listener),
            "last_error": redact_json(listener.last_error, scrub),
        },
        "status": redact_json(asdict(coordinator.data), scrub) if coordinator.data else None,
    }
