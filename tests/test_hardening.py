"""Regression tests for what the fuzzing found (issue 9), one deterministic case each.

Before the fixes, each of these escaped as something other than HAsyncError, showed a value
the schema forbids, logged a multi-line or unbounded line, stalled the event loop, or turned a
valid document of a server without its database into an outage.
"""

import asyncio
import json
import time
from typing import Any
from unittest.mock import MagicMock

import aiohttp
from homeassistant.config_entries import SOURCE_HASSIO, SOURCE_USER
from homeassistant.const import CONF_TOKEN, CONF_URL, STATE_OFF, STATE_ON
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.service_info.hassio import HassioServiceInfo
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.hasync.client.client import HAsyncClient
from custom_components.hasync.client.errors import (
    MAX_RETRY_AFTER,
    HAsyncConnectionError,
    HAsyncError,
    HAsyncInvalidResponseError,
    HAsyncRateLimitedError,
    HAsyncServiceUnavailableError,
)
from custom_components.hasync.client.models import StatusDocument, parse_json, parse_status
from custom_components.hasync.client.sse import MAX_EVENT_BYTES, SSEDecoder, SSEEvent
from custom_components.hasync.const import DOMAIN
from custom_components.hasync.coordinator import HAsyncDataUpdateCoordinator

from .conftest import SERVER_URL, TOKEN, FakeEventSource, status_json
from .fuzz.rawserver import SSE_HEAD, RawHTTPServer, Reply, http_response, sse_chunk


def _invalid(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(HAsyncInvalidResponseError, match=message) as raised:
        StatusDocument.from_dict(status_json(changes))
    assert len(str(raised.value)) <= 200
    assert str(raised.value).isprintable()


# --- numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        # float(10**400) raised OverflowError out of the parser
        ({"process.rss_bytes": 10**400}, "process.rss_bytes: not a finite number"),
        ({"process.cpu_percent": 10**400}, "process.cpu_percent: not a finite number"),
        # beyond what a JavaScript number holds exactly (and what orjson can write)
        ({"process.rss_bytes": 2**53}, "process.rss_bytes: beyond the integers"),
        ({"node.major": 1e300}, "node.major: beyond the integers"),
        ({"schema_version": 10**300}, "schema_version: beyond the integers"),
        # the schema's bounds
        ({"process.rss_bytes": -1}, r"process.rss_bytes: -1 is out of range \(at least 0\)"),
        ({"container.cpu_percent": 100.5}, r"container.cpu_percent: 100.5 is out of range \(0 to 100\)"),
        ({"history.availability_7d_percent": -0.1}, "out of range"),
        ({"history.growth_window_hours": 25}, r"out of range \(0 to 24\)"),
        ({"server.uptime_s": -5}, "server.uptime_s: -5 is out of range"),
    ],
)  # fmt: skip
def test_numbers_out_of_the_schema(changes: dict[str, Any], message: str) -> None:
    """Huge, inexact or out-of-range numbers are an invalid document, never shown."""
    _invalid(changes, message)


def test_numbers_at_the_bounds() -> None:
    """The bounds themselves, and a negative growth (no bound), are valid."""
    document = StatusDocument.from_dict(
        status_json(
            {
                "process.rss_bytes": 2**53 - 1,
                "container.cpu_percent": 100,
                "history.availability_24h_percent": 0,
                "history.memory_growth_mib_per_hour": -1e300,
                "history.growth_window_hours": 24,
            }
        )
    )
    assert document.process.rss_bytes == 2**53 - 1
    assert document.history.memory_growth_mib_per_hour == -1e300


# --- times, text, names -------------------------------------------------------------------


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
def test_times_beyond_the_utc_range(moment: str) -> None:
    """astimezone(UTC) raised OverflowError out of the parser."""
    _invalid({"server.started_at": moment}, "server.started_at: outside the years 1 to 9999")


def test_lone_surrogates_are_invalid() -> None:
    """JSON may escape half a UTF-16 pair; Home Assistant's JSON encoder would fail on it."""
    _invalid({"node.version": "\ud800"}, "node.version: not valid Unicode text")
    text = json.dumps(status_json({"database.error": "a\udfffb"}))
    with pytest.raises(HAsyncInvalidResponseError, match=r"database\.error: not valid Unicode"):
        parse_status(text)


def test_versions_and_names_are_bounded() -> None:
    """A version becomes an entity state (255 characters at most); HA logged an error per update."""
    _invalid({"server.version": "x" * 256}, "server.version: longer than 255 characters")
    raw = status_json()
    raw["checks"][0]["name"] = "x" * 256
    with pytest.raises(HAsyncInvalidResponseError, match=r"checks\[0\]\.name: longer than 255"):
        StatusDocument.from_dict(raw)
    assert StatusDocument.from_dict(status_json({"node.version": "x" * 255})).node.version


def test_unknown_status_is_quoted_briefly() -> None:
    """The error quotes an excerpt of the value: the log line stays short."""
    _invalid({"status": "x" * 100_000}, r"status: unknown value 'x{38}…")


def test_unknown_native_modules_are_best_effort() -> None:
    """Known modules are strict; other entries count only as valid modules with a sane name."""
    raw = status_json()
    raw["native_modules"].update(
        {
            "future_flag": True,
            "sharp": {"loaded": "yes"},
            "x" * 65: {"loaded": False},
            "a b": {"loaded": False},
            "@img/sharp": {"loaded": False, "self_test_ok": None},
        }
    )
    document = StatusDocument.from_dict(raw)
    assert sorted(document.native_modules) == ["@img/sharp", "bcrypt", "better-sqlite3"]
    raw["native_modules"]["bcrypt"] = True
    with pytest.raises(HAsyncInvalidResponseError, match=r"native_modules\.bcrypt: expected an"):
        StatusDocument.from_dict(raw)


# --- bodies and errors --------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"a":' * 100_000])
def test_deep_nesting(body: bytes) -> None:
    """Json raised RecursionError out of the parser and out of the error-body reader."""
    with pytest.raises(HAsyncInvalidResponseError, match="nested too deeply"):
        parse_json(body)


async def _status_error[E: HAsyncError](answer: bytes, expected: type[E]) -> E:
    """Ask a raw server that sends ``answer`` for the status; return the error the client raised."""
    raw = RawHTTPServer()
    await raw.start()
    raw.routes["/api/v1/status"] = Reply.of(answer)
    try:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(expected) as raised:
                await HAsyncClient(raw.url, TOKEN, session).status()
    finally:
        await raw.stop()
    return raised.value


@pytest.mark.parametrize(
    ("headers", "body", "retry_after"),
    [
        ({"Retry-After": "²"}, b"{}", None),  # str.isdigit, then float("²") raised ValueError
        ({"Retry-After": "9" * 400}, b"{}", MAX_RETRY_AFTER),  # was inf: polling stopped
        ({}, b'{"retry_after_s": 1' + b"0" * 400 + b"}", MAX_RETRY_AFTER),  # OverflowError
        ({"Retry-After": "5"}, b'{"retry_after_s": NaN}', 5.0),
        ({}, b'{"retry_after_s": 86400}', MAX_RETRY_AFTER),
        ({}, b"[" * 100_000, None),  # RecursionError
    ],
)
async def test_rate_limit_delays_are_bounded(
    socket_enabled: None, headers: dict[str, str], body: bytes, retry_after: float | None
) -> None:
    """A 429 waits at most MAX_RETRY_AFTER, whatever the server says."""
    error = await _status_error(
        http_response(429, body, list(headers.items())), HAsyncRateLimitedError
    )
    assert error.retry_after == retry_after


async def test_error_pages_become_one_line(socket_enabled: None) -> None:
    """An HTML error page (newlines, escape codes) is quoted as one short printable line."""
    page = b"<html>\n<body>\x1b[31m  Service\n\nUnavailable " + b"y" * 1000 + b"</body></html>"
    error = await _status_error(http_response(503, page), HAsyncServiceUnavailableError)
    message = str(error)
    assert message.startswith("<html> <body> [31m Service Unavailable yyy")
    assert message.isprintable()
    assert len(message) <= 200


async def test_aiohttp_errors_become_one_line(socket_enabled: None) -> None:
    """Aiohttp's decoding errors span lines ("400, message:", newline, "Can not decode")."""
    error = await _status_error(
        http_response(200, b"\x1f\x8bgarbage", [("Content-Encoding", "gzip")]),
        HAsyncConnectionError,
    )
    assert "\n" not in str(error)
    assert str(error).isprintable()


async def test_chained_aiohttp_error_drops_the_request_headers(socket_enabled: None) -> None:
    """ClientResponseError's repr and args held the request, Authorization header included."""
    error = await _status_error(b"HTTP/1.1 two hundred\r\n\r\n", HAsyncConnectionError)
    cause = error.__cause__
    assert isinstance(cause, aiohttp.ClientResponseError)
    assert TOKEN not in repr(cause)
    assert TOKEN not in repr(cause.args)
    assert cause.request_info.url.path == "/api/v1/status"  # still useful for debugging


# --- event streams ------------------------------------------------------------------------


def test_sse_retry_with_huge_digits_is_ignored() -> None:
    """int() of 5,000 digits raised ValueError (the int/str conversion limit)."""
    decoder = SSEDecoder()
    assert decoder.feed(b"retry: " + b"9" * 5000 + b"\nretry: 250\n") == []
    assert decoder.retry_ms == 250


def test_sse_slow_line_costs_linear_time() -> None:
    """A 1 MiB line in 256-byte pieces cost seconds of event loop (quadratic rescans)."""
    decoder = SSEDecoder()
    line = b"data: " + b"x" * (MAX_EVENT_BYTES - 100)
    started = time.process_time()
    for start in range(0, len(line), 256):
        decoder.feed(line[start : start + 256])
    assert decoder.feed(b"\n\n") == [SSEEvent("message", "x" * (MAX_EVENT_BYTES - 100), None)]
    assert time.process_time() - started < 1.0  # about 0.03 s; was 10 s


@pytest.mark.parametrize("line", [b": " + b"c" * 200, b"data: " + b"d" * 200])
def test_sse_limit_does_not_depend_on_the_split(line: bytes) -> None:
    """An oversized line breaks the stream split or not; the events before it are kept."""
    stream = b"data: first\n\n" + line + b"\n\n"
    whole = SSEDecoder(max_size=100)
    assert whole.feed(stream) == [SSEEvent("message", "first", None)]
    with pytest.raises(HAsyncInvalidResponseError, match="exceeds"):
        whole.feed(b"")
    with pytest.raises(HAsyncInvalidResponseError, match="exceeds"):
        whole.raise_for_error()
    split = SSEDecoder(max_size=100)
    events: list[SSEEvent] = []
    broken = False
    for byte in stream:
        try:
            events += split.feed(bytes([byte]))
        except HAsyncInvalidResponseError:
            broken = True
            break
    assert broken
    assert events == [SSEEvent("message", "first", None)]


async def test_stream_ends_after_the_events_before_an_oversized_line(socket_enabled: None) -> None:
    """The stream hands out the events it completed, then fails instead of waiting for more."""
    raw = RawHTTPServer()
    await raw.start()
    oversized = b"data: " + b"x" * (MAX_EVENT_BYTES + 1) + b"\n\n"
    raw.routes["/api/v1/events"] = Reply(
        [SSE_HEAD, sse_chunk(b"event: status\ndata: 1\n\n" + oversized)], hold=True
    )
    try:
        async with aiohttp.ClientSession() as session:
            client = HAsyncClient(raw.url, TOKEN, session)
            async with client.event_stream(idle_timeout=30) as stream:
                assert await stream.next_event() == SSEEvent("status", "1", None)
                async with asyncio.timeout(5):
                    with pytest.raises(HAsyncInvalidResponseError, match="exceeds"):
                        await stream.next_event()
    finally:
        await raw.stop()


# --- a server without its database -------------------------------------------------------

NO_DATABASE = {
    "server.instance_id": None,
    "status": "error",
    "database.ok": False,
    "database.error": "SQLITE_FULL: database or disk is full",
}


def no_database(**changes: Any) -> dict[str, Any]:
    """Return the document of a server whose database is unavailable (check failing too)."""
    raw = status_json({**NO_DATABASE, **changes})
    raw["checks"][3] = {**raw["checks"][3], "ok": raw["database"]["ok"]}
    return raw


async def test_document_without_instance_id_is_taken(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    mock_hasync_client: MagicMock,
    event_source: FakeEventSource,
) -> None:
    """A null instance id (database unavailable, as the schema allows) is a valid document.

    It was an invalid response: an outage and, after three polls, ``unreachable`` instead of
    the database issue.
    """
    coordinator: HAsyncDataUpdateCoordinator = init_integration.runtime_data.coordinator
    mock_hasync_client.status.return_value = StatusDocument.from_dict(no_database())
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert coordinator.last_update_success
    assert coordinator.consecutive_failures == 0
    assert hass.states.get("binary_sensor.hasync_database").state == STATE_ON
    issues = {issue for domain, issue in ir.async_get(hass).issues if domain == DOMAIN}
    assert issues == {f"{init_integration.entry_id}_database_unavailable"}

    event_source.push(no_database(**{"database.ok": True, "status": "ok"}))
    await hass.async_block_till_done()
    assert coordinator.pushes == 1
    assert hass.states.get("binary_sensor.hasync_database").state == STATE_OFF


@pytest.fixture
def no_instance_id(mock_hasync_client: MagicMock) -> MagicMock:
    """Answer without an instance id."""
    mock_hasync_client.status.return_value = StatusDocument.from_dict(no_database())
    return mock_hasync_client


@pytest.mark.usefixtures("mock_setup_entry", "no_instance_id")
async def test_setup_waits_for_an_instance_id(hass: HomeAssistant) -> None:
    """Without an instance id the server cannot be identified: set up later, not now."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: SERVER_URL, CONF_TOKEN: TOKEN}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "instance_unknown"}
    assert result["description_placeholders"] == {"address": "192.168.1.10:8099"}

    discovery = HassioServiceInfo(
        config={"host": "local-hasync", "port": 8099, "token": TOKEN},
        name="HAsync",
        slug="local_hasync",
        uuid="7b3e1f",
    )
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_HASSIO}, data=discovery
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "instance_unknown"


async def test_short_tokens_do_not_garble_documents(socket_enabled: None) -> None:
    """Redacting a token "ok" from documents would rewrite every status; it is left alone."""
    raw = RawHTTPServer()
    await raw.start()
    raw.routes["/api/v1/status"] = Reply.of(
        http_response(
            200, json.dumps(status_json()).encode(), [("Content-Type", "application/json")]
        )
    )
    try:
        async with aiohttp.ClientSession() as session:
            document = await HAsyncClient(raw.url, "ok", session).status()
            echoed = HAsyncClient(raw.url, TOKEN, session).redact(f"bad token {TOKEN}")
    finally:
        await raw.stop()
    assert document.status == "ok"
    assert echoed == "bad token **REDACTED**"
