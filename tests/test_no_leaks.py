"""The API token never leaks on the Home Assistant side (issue 9, "No leaks").

Table-driven: every scenario (rows of SCENARIOS) runs against a raw HTTP server on 127.0.0.1,
with every logger at DEBUG, and then every surface (rows of SURFACES) is searched for the
token, the old one and the rotated one alike:

- the log, at debug level, tracebacks included;
- the diagnostics, as the HTTP API serves them;
- the client's errors: str, repr and traceback of each, down their chain of causes;
- the models (the status document, the stream state) and the config entry, as repr shows them;
- the issue registry: placeholders, data, the stored form;
- the ``hasync_alert`` events, the entities' states and attributes, the device, the flows.

Several scenarios make the server echo the token (in error reasons, in documents, as its
instance id): those must show the redaction marker, so the scan is known to look at the texts
that carried it. test_scan_finds_a_planted_token checks that every surface can fail.
"""

from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
import json
import logging
import traceback
from typing import Any, Final

from homeassistant.config_entries import SOURCE_REAUTH
from homeassistant.const import CONF_TOKEN, CONF_URL
from homeassistant.core import Event, HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr, entity_registry as er, issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.hasync.client.client import REDACTED
from custom_components.hasync.client.errors import HAsyncError
from custom_components.hasync.client.sse import MAX_EVENT_BYTES
from custom_components.hasync.const import CONF_SCAN_INTERVAL, DOMAIN, EVENT_ALERT, LOGGER
from custom_components.hasync.coordinator import HAsyncDataUpdateCoordinator

from .common import wait_until
from .conftest import INSTANCE_ID, TOKEN, status_json
from .fuzz.rawserver import SSE_HEAD, RawHTTPServer, Reply, http_response, sse_chunk

NEW_TOKEN: Final = "hasync-rotated-token-9c41d0e7aa52"  # noqa: S105 - a test token
SECRETS: Final = (TOKEN, NEW_TOKEN)
STATUS: Final = "/api/v1/status"
EVENTS: Final = "/api/v1/events"
TITLE: Final = "HAsync (127.0.0.1)"


def _json(document: Any) -> bytes:
    return json.dumps(document).encode()


def answer(status: int, body: Any, headers: list[tuple[str, str]] | None = None) -> Reply:
    """Return a JSON answer."""
    content = [("Content-Type", "application/json"), *(headers or [])]
    return Reply.of(http_response(status, _json(body), content))


def sse(*frames: bytes, hold: bool = True) -> Reply:
    """Return an event stream sending ``frames``."""
    return Reply([SSE_HEAD, *(sse_chunk(frame) for frame in frames)], hold=hold)


def status_frame(document: Any) -> bytes:
    """Return one status event."""
    return b"event: status\ndata: " + _json(document) + b"\n\n"


VALID: Final = answer(200, status_json())


@dataclass
class Harness:
    """One entry set up against the raw server, and what the scenarios left behind."""

    hass: HomeAssistant
    server: RawHTTPServer
    entry: MockConfigEntry
    caplog: pytest.LogCaptureFixture
    exceptions: list[BaseException] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    @property
    def coordinator(self) -> HAsyncDataUpdateCoordinator:
        """The entry's current coordinator (a reload replaces it)."""
        coordinator: HAsyncDataUpdateCoordinator = self.entry.runtime_data.coordinator
        return coordinator

    async def poll(self) -> None:
        """Poll once, keep the error, and fetch once more with the client itself."""
        coordinator = self.coordinator
        await coordinator.async_refresh()
        await self.hass.async_block_till_done()
        if coordinator.last_exception is not None:
            self.exceptions.append(coordinator.last_exception)
        try:
            await coordinator.client.status()
        except HAsyncError as err:
            self.exceptions.append(err)

    async def restream(self, *replies: Reply) -> None:
        """End the open stream; the listener reconnects to ``replies`` (the last repeats)."""
        self.server.routes[EVENTS] = list(replies)
        connections = self.server.count(EVENTS)
        self.server.close_connections()
        await wait_until(lambda: self.server.count(EVENTS) >= connections + len(replies))
        await self.hass.async_block_till_done()


# --- scenarios ----------------------------------------------------------------------------


async def setup_poll_and_push(h: Harness) -> None:
    """Set up, one push on connect, one poll."""
    await h.poll()
    assert h.coordinator.pushes >= 1


async def auth_failure_and_reauth(h: Harness) -> None:
    """401 on a poll starts reauthentication; a wrong token, then the rotated one."""
    h.server.routes[STATUS] = answer(401, {"error": "unauthorized", "reason": "invalid token"})
    await h.poll()
    flows = h.hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]
    flow_id = flows[0]["flow_id"]
    result = await h.hass.config_entries.flow.async_configure(flow_id, {CONF_TOKEN: "wrong"})
    assert result["errors"] == {"base": "invalid_auth"}
    h.server.routes[STATUS] = VALID
    result = await h.hass.config_entries.flow.async_configure(flow_id, {CONF_TOKEN: NEW_TOKEN})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await h.hass.async_block_till_done()
    assert h.entry.data[CONF_TOKEN] == NEW_TOKEN
    await h.poll()
    assert h.coordinator.last_update_success


async def errors_echo_the_token(h: Harness) -> None:
    """Answer with error reasons that quote the presented token (a server or a proxy)."""
    reason = {"error": "x", "reason": f"no such token: Bearer {TOKEN}"}
    for reply in (
        answer(500, reason),
        answer(503, reason),
        answer(429, {**reason, "retry_after_s": 1}),
        Reply.of(http_response(502, f"<html>upstream refused {TOKEN}</html>".encode())),
        answer(401, reason),
    ):
        h.server.routes[STATUS] = reply
        await h.poll()


async def documents_echo_the_token(h: Harness) -> None:
    """Put the token in documents: an invalid field, error texts, the instance id."""
    h.server.routes[STATUS] = answer(200, status_json({"status": TOKEN}))
    await h.poll()
    h.server.routes[STATUS] = answer(200, status_json({"server.instance_id": TOKEN}))
    await h.poll()
    carrying = status_json(
        {
            "database.ok": False,
            "database.error": f"cannot open with {TOKEN}",
            "native_modules.bcrypt.loaded": False,
            "native_modules.bcrypt.error": f"token {TOKEN} rejected",
        }
    )
    h.server.routes[STATUS] = answer(200, carrying)
    await h.poll()
    keys = {issue for domain, issue in ir.async_get(h.hass).issues if domain == DOMAIN}
    assert keys == {
        f"{h.entry.entry_id}_database_unavailable",
        f"{h.entry.entry_id}_native_module_failed_bcrypt",
    }


async def timeout(h: Harness) -> None:
    """Send headers and then nothing."""
    h.coordinator.client.request_timeout = 0.2
    head = http_response(200, b"", [("Content-Type", "application/json")], content_length=10)
    h.server.routes[STATUS] = Reply([head], hold=True)
    await h.poll()
    assert "did not answer within 0.2 seconds" in str(h.coordinator.last_exception)


async def unreachable_and_back(h: Harness) -> None:
    """Stop the server for three failed polls (``unreachable``), then bring it back."""
    await h.server.stop()
    for _ in range(3):
        await h.poll()
    issue = ir.async_get(h.hass).async_get_issue(DOMAIN, f"{h.entry.entry_id}_unreachable")
    assert issue is not None
    await h.server.start()
    await h.poll()
    assert h.coordinator.last_update_success


async def garbage_http(h: Harness) -> None:
    """Not HTTP: aiohttp's error carries the request, whose headers hold the token."""
    h.server.routes[STATUS] = Reply.of(b"HTTP/1.1 two hundred\r\n\r\n")
    await h.poll()
    assert h.exceptions


async def event_stream_trouble(h: Harness) -> None:
    """Pushes quoting the token, an oversized line, reconnects, then a 401 ends the stream."""
    quoting = status_frame(status_json({"status": TOKEN}))
    oversized = b"data: " + b"x" * (MAX_EVENT_BYTES + 1) + b"\n\n"
    rejected = answer(401, {"error": "unauthorized", "reason": f"invalid token {TOKEN}"})
    await h.restream(sse(quoting, hold=False), sse(oversized), rejected)
    await wait_until(lambda: h.coordinator.listener.state.stopped is not None)
    assert h.coordinator.listener.state.invalid_events >= 1


SCENARIOS: Final[dict[str, Callable[[Harness], Awaitable[None]]]] = {
    "setup, poll and push": setup_poll_and_push,
    "401, then reauthentication with a rotated token": auth_failure_and_reauth,
    "error reasons quoting the token (500, 503, 429, 502 page, 401)": errors_echo_the_token,
    "documents quoting the token (invalid field, errors, instance id)": documents_echo_the_token,
    "timeout": timeout,
    "unreachable for three polls, then back": unreachable_and_back,
    "garbage instead of HTTP": garbage_http,
    "event stream: quoting pushes, oversized line, reconnects, 401": event_stream_trouble,
}


# --- surfaces -----------------------------------------------------------------------------

FORMATTER: Final = logging.Formatter("%(levelname)s %(name)s %(message)s")


def _exception_texts(error: BaseException) -> list[str]:
    """Return what an error shows: str, repr, args, traceback, for it and the errors it chains.

    The chain is the one Python displays: the cause, else the context unless suppressed.
    """
    texts = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts += [str(current), repr(current), repr(current.args)]
        texts += traceback.format_exception(current)
        if current.__cause__ is not None:
            current = current.__cause__
        else:
            current = None if current.__suppress_context__ else current.__context__
    return texts


async def log_surface(h: Harness, hass_client: ClientSessionGenerator) -> str:
    """Return the log at debug level, with tracebacks."""
    return "\n".join(FORMATTER.format(record) for record in h.caplog.records)


async def diagnostics_surface(h: Harness, hass_client: ClientSessionGenerator) -> str:
    """Return the diagnostics download."""
    return json.dumps(await get_diagnostics_for_config_entry(h.hass, hass_client, h.entry))


async def exceptions_surface(h: Harness, hass_client: ClientSessionGenerator) -> str:
    """Return the client's and the coordinator's errors: str, repr, traceback, chain."""
    return "\n".join(text for error in h.exceptions for text in _exception_texts(error))


async def models_surface(h: Harness, hass_client: ClientSessionGenerator) -> str:
    """Return the models, the client and the config entry, as repr shows them."""
    coordinator = h.coordinator
    return "\n".join(
        [
            repr(coordinator.data),
            repr(coordinator.listener.state),
            repr(list(coordinator.samples)[-2:]),
            repr(coordinator.client),
            repr(h.entry),
            str(coordinator.last_error),
        ]
    )


async def issues_surface(h: Harness, hass_client: ClientSessionGenerator) -> str:
    """Every HAsync repair issue: placeholders, data, the stored form."""
    issues = [
        issue for (domain, _), issue in ir.async_get(h.hass).issues.items() if domain == DOMAIN
    ]
    return "\n".join(
        f"{issue!r} {json.dumps(issue.to_json(), default=str)} {issue.translation_placeholders}"
        for issue in issues
    )


async def events_surface(h: Harness, hass_client: ClientSessionGenerator) -> str:
    """Return the hasync_alert events."""
    return "\n".join(repr(event.data) for event in h.events)


async def states_surface(h: Harness, hass_client: ClientSessionGenerator) -> str:
    """Return the entities' states and attributes, and the device."""
    entities = er.async_entries_for_config_entry(er.async_get(h.hass), h.entry.entry_id)
    states = [h.hass.states.get(entity.entity_id) for entity in entities]
    devices = dr.async_entries_for_config_entry(dr.async_get(h.hass), h.entry.entry_id)
    return "\n".join([*(repr(state) for state in states), *(repr(device) for device in devices)])


async def flows_surface(h: Harness, hass_client: ClientSessionGenerator) -> str:
    """Return the config flows in progress."""
    return repr(h.hass.config_entries.flow.async_progress(include_uninitialized=True))


SURFACES: Final = {
    "log (debug, tracebacks)": log_surface,
    "diagnostics": diagnostics_surface,
    "client errors (str, repr, traceback, causes)": exceptions_surface,
    "models, client and config entry (repr)": models_surface,
    "issue registry (placeholders, data, stored)": issues_surface,
    "hasync_alert events": events_surface,
    "entity states, attributes and device": states_surface,
    "config flows": flows_surface,
}


def redactions(texts: dict[str, str]) -> int:
    """Count the redaction markers."""
    return sum(text.count(REDACTED) for text in texts.values())


@pytest.fixture
async def harness(
    hass: HomeAssistant, socket_enabled: None, caplog: pytest.LogCaptureFixture
) -> AsyncGenerator[Harness]:
    """Set the integration up against a raw server; every logger at DEBUG."""
    caplog.set_level(logging.DEBUG)
    server = RawHTTPServer()
    await server.start()
    server.routes[STATUS] = VALID
    server.routes[EVENTS] = sse(b"retry: 5000\n\n" + status_frame(status_json()))
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=TITLE,
        unique_id=INSTANCE_ID,
        data={CONF_URL: server.url, CONF_TOKEN: TOKEN},
        options={CONF_SCAN_INTERVAL: 300},
    )
    entry.add_to_hass(hass)
    h = Harness(hass, server, entry, caplog)
    hass.bus.async_listen(EVENT_ALERT, h.events.append)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await wait_until(lambda: h.coordinator.pushes >= 1)
    yield h
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    await server.stop()


ECHOING: Final = {errors_echo_the_token, documents_echo_the_token, event_stream_trouble}


@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=SCENARIOS.keys())
async def test_token_never_leaks(
    harness: Harness,
    hass_client: ClientSessionGenerator,
    scenario: Callable[[Harness], Awaitable[None]],
) -> None:
    """After the scenario, no surface holds the token (old or rotated)."""
    await scenario(harness)
    texts = {name: await surface(harness, hass_client) for name, surface in SURFACES.items()}
    leaks = {
        name: text[max(0, at - 150) : at + 50]
        for name, text in texts.items()
        for secret in SECRETS
        if (at := text.find(secret)) >= 0
    }
    assert not leaks, leaks
    assert texts["log (debug, tracebacks)"], "nothing was logged at debug level"
    if scenario in ECHOING:
        # The server did echo the token, and it was redacted where it went.
        assert redactions(texts) > 0


async def test_scan_finds_a_planted_token(
    harness: Harness, hass_client: ClientSessionGenerator
) -> None:
    """Each surface the scan reads can fail: a token planted there is found."""
    LOGGER.debug("planted %s", TOKEN)
    harness.exceptions.append(HAsyncError(f"planted {TOKEN}"))
    harness.hass.bus.async_fire(EVENT_ALERT, {"value": TOKEN})
    ir.async_create_issue(
        harness.hass,
        DOMAIN,
        "planted",
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key="unreachable",
        translation_placeholders={"error": TOKEN},
    )
    harness.coordinator.last_error = TOKEN
    entity_id = er.async_entries_for_config_entry(
        er.async_get(harness.hass), harness.entry.entry_id
    )[0].entity_id
    harness.hass.states.async_set(entity_id, "on", {"planted": TOKEN})
    await harness.hass.async_block_till_done()
    texts = {name: await surface(harness, hass_client) for name, surface in SURFACES.items()}
    found = {name for name, text in texts.items() if TOKEN in text}
    assert found == {
        "log (debug, tracebacks)",
        "client errors (str, repr, traceback, causes)",
        "hasync_alert events",
        "issue registry (placeholders, data, stored)",
        "models, client and config entry (repr)",
        "entity states, attributes and device",
    }
    ir.async_delete_issue(harness.hass, DOMAIN, "planted")
