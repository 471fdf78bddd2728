"""Every failure the client reports reads as a short sentence about the server.

One case per client error class. The client raises each from a real condition where one can be
made on 127.0.0.1 (a closed port, https:// to a plain server, a stalled answer, a proxy's 502 …)
and from aiohttp's own exception where not (an unknown host name, no route to the host). The
integration then shows the class's translated sentence as the failed update's log line, its
exception, the setup error and the unreachable repair; the library's words ("Cannot connect to
host … ssl:default [Connect call failed …]") reach the debug log only.
"""

import asyncio
from collections.abc import AsyncGenerator
import contextlib
from dataclasses import dataclass
from datetime import timedelta
import errno
import json
import logging
from pathlib import Path
import re
import socket
from typing import Any
from unittest.mock import MagicMock, patch

import aiohttp
from aiohttp.client_reqrep import ConnectionKey
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_TOKEN, CONF_URL
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.hasync.client.client import HAsyncClient
from custom_components.hasync.client.errors import (
    HAsyncAuthError,
    HAsyncConnectionError,
    HAsyncConnectionRefusedError,
    HAsyncError,
    HAsyncHostNotFoundError,
    HAsyncHostUnreachableError,
    HAsyncInvalidResponseError,
    HAsyncProxyError,
    HAsyncRateLimitedError,
    HAsyncServiceUnavailableError,
    HAsyncTimeoutError,
    HAsyncTLSError,
    HAsyncUnsupportedVersionError,
    client_errors,
)
from custom_components.hasync.const import CONF_FAILURE_THRESHOLD, DOMAIN, ISSUE_UNREACHABLE
from custom_components.hasync.repairs import issue_id

from .common import wait_until
from .conftest import INSTANCE_ID, SERVER_URL, TITLE, TOKEN, load_json
from .fuzz.rawserver import RawHTTPServer, Reply, http_response
from .hasync_server import FakeHAsyncServer

EN: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "custom_components/hasync/translations/en.json").read_text()
)
LIBRARY_WORDING = ("ssl:default", "Connect call failed", "Cannot connect to host", "[Errno")
"""aiohttp's and the OS's words, which users never see."""
SCAN = timedelta(seconds=30)
_KEY = ConnectionKey("192.168.1.10", 8099, False, True, None, None, None, None)


@dataclass(frozen=True)
class Failure:
    """A client error as the client raises it, and what users read for it (SERVER_URL, 10 s).

    Home Assistant drops the final period of an exception's translated message.
    """

    error: HAsyncError
    sentence: str


def _library(message: str) -> str:
    return f"Cannot connect to host 192.168.1.10:8099 ssl:default [{message}]"


FAILURES: tuple[Failure, ...] = (
    Failure(
        HAsyncConnectionRefusedError(_library("Connect call failed ('192.168.1.10', 8099)")),
        "Nothing answers at 192.168.1.10:8099: the app is stopped or starting",
    ),
    Failure(
        HAsyncHostNotFoundError(_library("Domain name not found")),
        "The host name 192.168.1.10 is not known: check the address of the HAsync server",
    ),
    Failure(
        HAsyncHostUnreachableError(_library("No route to host")),
        "192.168.1.10 cannot be reached: the machine is off or not on a network Home Assistant "
        "can reach",
    ),
    Failure(
        HAsyncTLSError(_library("[SSL: WRONG_VERSION_NUMBER] wrong version number")),
        "The secure connection to 192.168.1.10:8099 failed: use http:// for the app, or a "
        "certificate Home Assistant trusts",
    ),
    Failure(
        HAsyncProxyError("HTTP 502 from a proxy in front of the server", 502),
        "The proxy at 192.168.1.10:8099 answered HTTP 502: the HAsync server behind it does not "
        "answer",
    ),
    Failure(
        HAsyncTimeoutError("no answer within 10 seconds"),
        "The HAsync server at 192.168.1.10:8099 did not answer within 10 seconds: it is "
        "overloaded, or a firewall drops the connection",
    ),
    Failure(
        HAsyncConnectionError("Server disconnected"),
        "The connection to 192.168.1.10:8099 broke off before a complete answer arrived",
    ),
    Failure(
        HAsyncAuthError("the server rejected the token: invalid token"),
        "The HAsync server at 192.168.1.10:8099 rejected the API token. Re-authenticate the "
        "integration with the current token",
    ),
    Failure(
        HAsyncRateLimitedError("rate limited: too many failed attempts", 45),
        "The HAsync server at 192.168.1.10:8099 refuses requests for a while after repeated "
        "wrong API tokens",
    ),
    Failure(
        HAsyncServiceUnavailableError("token store unavailable"),
        "The HAsync server at 192.168.1.10:8099 runs but cannot report its status: token store "
        "unavailable",
    ),
    Failure(
        HAsyncInvalidResponseError("status: unknown value 'x' (expected ok, degraded or error)"),
        "The answer from 192.168.1.10:8099 is not a valid HAsync status document: status: "
        "unknown value 'x' (expected ok, degraded or error)",
    ),
    Failure(
        HAsyncUnsupportedVersionError("unsupported schema_version 2: …", "2"),
        "The HAsync server at 192.168.1.10:8099 sends status documents of version 2, and this "
        "integration reads version 1: update the integration or the app so that they match",
    ),
    Failure(
        HAsyncError("something new"),
        "Unexpected error from the HAsync server at 192.168.1.10:8099: something new",
    ),
)


def _name(failure: Failure) -> str:
    return type(failure.error).__name__


def test_every_client_error_class_has_a_case() -> None:
    """A new error class in the client needs its sentence here too."""
    classes: set[type] = set()
    pending: list[type] = [HAsyncError]
    while pending:
        classes.add(kind := pending.pop())
        pending.extend(kind.__subclasses__())
    assert {type(failure.error) for failure in FAILURES} == classes


def _render(text: str, placeholders: dict[str, str]) -> str:
    return re.sub(r"{(\w+)}", lambda match: placeholders[match.group(1)], text)


def _no_library_wording(text: str) -> None:
    for words in LIBRARY_WORDING:
        assert words not in text, text


async def _tick(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    freezer.tick(SCAN)
    async_fire_time_changed(hass)
    await hass.async_block_till_done()


@pytest.mark.parametrize("failure", FAILURES, ids=_name)
async def test_failure_reads_as_a_sentence(  # noqa: PLR0917
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mock_config_entry: MockConfigEntry,
    mock_hasync_client: MagicMock,
    caplog: pytest.LogCaptureFixture,
    failure: Failure,
) -> None:
    """The log line, the exception and the unreachable repair say the class's sentence."""
    caplog.set_level(logging.DEBUG, logger="custom_components.hasync")
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(mock_config_entry, options={CONF_FAILURE_THRESHOLD: 1})
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    coordinator = mock_config_entry.runtime_data.coordinator
    caplog.clear()

    mock_hasync_client.status.side_effect = failure.error
    await _tick(hass, freezer)
    exception = coordinator.last_exception
    assert str(exception) == failure.sentence
    _no_library_wording(str(exception))
    assert getattr(exception, "translation_domain", None) == DOMAIN
    retry_after = (
        failure.error.retry_after if isinstance(failure.error, HAsyncRateLimitedError) else None
    )
    assert getattr(exception, "retry_after", None) == retry_after
    ours = [r for r in caplog.records if r.name.startswith("custom_components.hasync")]
    errors = [r.getMessage() for r in ours if r.levelno >= logging.WARNING]
    what = (
        "Authentication failed while fetching"
        if isinstance(failure.error, HAsyncAuthError)
        else "Error fetching"
    )
    assert errors == [f"{what} {TITLE} data: {failure.sentence}"]
    _no_library_wording(errors[0])
    # The client's own words are in the debug log, and nowhere else.
    debug = [r.getMessage() for r in ours if r.levelno == logging.DEBUG]
    assert any(str(failure.error) in message for message in debug), debug

    issue = ir.async_get(hass).async_get_issue(
        DOMAIN, issue_id(mock_config_entry.entry_id, ISSUE_UNREACHABLE)
    )
    assert issue is not None
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["error"] == failure.sentence
    description = _render(
        EN["issues"][ISSUE_UNREACHABLE]["description"], issue.translation_placeholders
    )
    assert failure.sentence in description
    _no_library_wording(description)
    # Said once, in words ("Cannot reach the HAsync server: Cannot connect to host …" before).
    assert description.count(failure.sentence) == 1
    assert "Cannot reach" not in description


@pytest.mark.parametrize("failure", FAILURES, ids=_name)
async def test_setup_error_reads_as_a_sentence(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    mock_hasync_client: MagicMock,
    failure: Failure,
) -> None:
    """A server failing at setup: the entry's reason (shown as "will retry") is the sentence."""
    mock_hasync_client.status.side_effect = failure.error
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    if isinstance(failure.error, HAsyncAuthError):
        assert mock_config_entry.state is ConfigEntryState.SETUP_ERROR
    else:
        assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY
    assert mock_config_entry.reason == failure.sentence
    _no_library_wording(mock_config_entry.reason or "")


# --- the real client: each class from a real condition ------------------------------------


@pytest.fixture
async def raw(socket_enabled: None) -> AsyncGenerator[RawHTTPServer]:
    """Run the raw HTTP server on a free port of 127.0.0.1."""
    server = RawHTTPServer()
    await server.start()
    yield server
    await server.stop()


def _answer(status: int, body: dict[str, Any] | str) -> Reply:
    data = body if isinstance(body, str) else json.dumps(body)
    return Reply.of(http_response(status, data.encode(), [("Content-Type", "application/json")]))


@dataclass(frozen=True)
class Condition:
    """How to make the client fail: a route's answer, a stopped server, https://, or aiohttp."""

    reply: Reply | None = None
    stopped: bool = False
    https: bool = False
    raises: Exception | None = None
    """aiohttp's exception, where 127.0.0.1 cannot produce it (no DNS, no routes)."""


CONDITIONS: dict[type[HAsyncError], Condition] = {
    HAsyncConnectionRefusedError: Condition(stopped=True),
    HAsyncHostNotFoundError: Condition(
        raises=aiohttp.ClientConnectorDNSError(_KEY, OSError("no such host"))
    ),
    HAsyncHostUnreachableError: Condition(
        raises=aiohttp.ClientConnectorError(_KEY, OSError(errno.EHOSTUNREACH, "No route to host"))
    ),
    HAsyncTLSError: Condition(https=True),
    HAsyncProxyError: Condition(Reply.of(http_response(502, b"<html>Bad Gateway</html>"))),
    HAsyncTimeoutError: Condition(
        Reply(
            [http_response(200, b"", [("Content-Type", "application/json")], content_length=100)],
            hold=True,
        )
    ),
    HAsyncConnectionError: Condition(Reply([b""])),
    HAsyncAuthError: Condition(_answer(401, {"error": "unauthorized", "reason": "invalid token"})),
    HAsyncRateLimitedError: Condition(_answer(429, {"reason": "slow down", "retry_after_s": 30})),
    HAsyncServiceUnavailableError: Condition(_answer(503, {"reason": "token store unavailable"})),
    HAsyncInvalidResponseError: Condition(_answer(200, "<html>a router's login page</html>")),
    HAsyncUnsupportedVersionError: Condition(
        _answer(200, {**load_json("status.json"), "schema_version": 2})
    ),
}


@pytest.mark.parametrize("kind", list(CONDITIONS), ids=lambda kind: kind.__name__)
async def test_client_raises_each_class(
    hass: HomeAssistant, raw: RawHTTPServer, kind: type[HAsyncError]
) -> None:
    """The real client, on Home Assistant's session, raises exactly this class for its condition."""
    condition = CONDITIONS[kind]
    if condition.reply is not None:
        raw.routes["/api/v1/status"] = condition.reply
    if condition.stopped:
        await raw.stop()
    url = raw.url
    if condition.https:
        # A plain HTTP server that answers whatever arrives, a TLS greeting included.
        plain = await asyncio.start_server(_plain_answer, "127.0.0.1", 0)
        url = f"https://127.0.0.1:{plain.sockets[0].getsockname()[1]}"
    client = HAsyncClient(url, TOKEN, async_get_clientsession(hass), request_timeout=0.5)
    with (
        patch.object(aiohttp.ClientSession, "get", side_effect=condition.raises)
        if condition.raises is not None
        else contextlib.nullcontext(),
        pytest.raises(HAsyncError) as raised,
    ):
        await client.status()
    if condition.https:
        plain.close()
        await plain.wait_closed()
    assert type(raised.value) is kind, repr(raised.value)
    assert TOKEN not in str(raised.value)


async def _plain_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(100)
    writer.write(http_response(400, b"plain HTTP here"))
    await writer.drain()
    writer.close()


def test_a_resolver_failure_outside_the_dns_error_is_an_unknown_host() -> None:
    """A resolver may fail with a plain gaierror inside ClientConnectorError (older aiohttp)."""
    with pytest.raises(HAsyncHostNotFoundError), client_errors("no answer", str):
        raise aiohttp.ClientConnectorError(_KEY, socket.gaierror(-2, "Name or service not known"))


# --- end to end: a stopped server, in the log, the repair, setup and the config flow ------


@pytest.fixture
async def server(socket_enabled: None) -> AsyncGenerator[FakeHAsyncServer]:
    """Run the stand-in server on a free port of 127.0.0.1."""
    fake = FakeHAsyncServer(TOKEN, load_json("status.json"))
    await fake.start()
    yield fake
    await fake.stop()


async def test_stopped_server_in_words(
    hass: HomeAssistant, server: FakeHAsyncServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A real refused connection: one sentence in the log and the repair, the library's in debug."""
    caplog.set_level(logging.DEBUG, logger="custom_components.hasync")
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=TITLE,
        unique_id=INSTANCE_ID,
        data={CONF_URL: server.url, CONF_TOKEN: TOKEN},
        options={CONF_FAILURE_THRESHOLD: 1},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    caplog.clear()
    await server.stop()
    sentence = f"Nothing answers at 127.0.0.1:{server.port}: the app is stopped or starting"
    unreachable = issue_id(entry.entry_id, ISSUE_UNREACHABLE)
    registry = ir.async_get(hass)
    await wait_until(lambda: registry.async_get_issue(DOMAIN, unreachable) is not None, 10)
    issue = registry.async_get_issue(DOMAIN, unreachable)
    assert issue is not None
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["error"] == sentence
    _no_library_wording(
        _render(EN["issues"][ISSUE_UNREACHABLE]["description"], issue.translation_placeholders)
    )
    shown = [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("custom_components.hasync") and r.levelno >= logging.INFO
    ]
    assert shown == [f"Error fetching {TITLE} data: {sentence}"]
    assert "Connect call failed" in caplog.text  # at debug level
    assert await hass.config_entries.async_unload(entry.entry_id)

    # Setting it up again while it is down: the entry waits, saying why.
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert entry.reason == sentence
    await hass.config_entries.async_unload(entry.entry_id)


async def test_config_flow_says_nothing_answers(
    hass: HomeAssistant, server: FakeHAsyncServer
) -> None:
    """The user step against a closed port names the address, in the form's words."""
    await server.stop()
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": "user"})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: server.url, CONF_TOKEN: TOKEN}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "connection_refused"}
    placeholders = result["description_placeholders"] or {}
    shown = _render(EN["config"]["error"]["connection_refused"], dict(placeholders))
    assert shown == f"Nothing answers at 127.0.0.1:{server.port}: the app is stopped or starting."
    assert SERVER_URL not in shown
