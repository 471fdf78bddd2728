"""The API client on its own: parsing, HTTP errors, SSE decoding and the push listener.

HTTP tests talk to a real aiohttp server on 127.0.0.1 (tests/hasync_server.py).
"""

import asyncio
from collections.abc import AsyncGenerator, Callable
import copy
from datetime import UTC, datetime
import json
import logging
from typing import Any
from unittest.mock import AsyncMock

import aiohttp
from aiohttp import web
import pytest

from custom_components.hasync.client.client import HAsyncClient
from custom_components.hasync.client.errors import (
    HAsyncAuthError,
    HAsyncConnectionError,
    HAsyncError,
    HAsyncInvalidResponseError,
    HAsyncRateLimitedError,
    HAsyncServiceUnavailableError,
    HAsyncTimeoutError,
)
from custom_components.hasync.client.models import (
    OverallStatus,
    StatusDocument,
    parse_json,
    parse_status,
)
from custom_components.hasync.client.sse import HAsyncEventStream, SSEDecoder, SSEEvent
from custom_components.hasync.push import UNREACHABLE_RETRY_S, HAsyncEventListener

from .common import wait_until
from .conftest import INSTANCE_ID, TOKEN, load_json
from .hasync_server import FakeHAsyncServer, frame


@pytest.fixture
async def session() -> AsyncGenerator[aiohttp.ClientSession]:
    """Return a plain aiohttp session, as Home Assistant would inject its own."""
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
async def server(socket_enabled: None) -> AsyncGenerator[FakeHAsyncServer]:
    """Run the stand-in server, serving status.json."""
    fake = FakeHAsyncServer(TOKEN, load_json("status.json"))
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def client(server: FakeHAsyncServer, session: aiohttp.ClientSession) -> HAsyncClient:
    """Return a client for the stand-in server."""
    return HAsyncClient(server.url, TOKEN, session)


# --- parsing ------------------------------------------------------------------------------


def test_parse_status_fixture() -> None:
    """Every field of the document lands in the model with its type."""
    raw = load_json("status.json")
    document = StatusDocument.from_dict(raw)
    assert document.schema_version == 1
    assert document.server.version == raw["server"]["version"]
    assert document.server.instance_id == INSTANCE_ID
    assert document.server.started_at == datetime(2026, 11, 25, 22, 0, tzinfo=UTC)
    assert document.server.uptime_s == raw["server"]["uptime_s"]
    assert document.status is OverallStatus.OK
    assert [check.name for check in document.checks] == [c["name"] for c in raw["checks"]]
    assert document.checks[4].critical is False
    assert document.node.major == 24
    assert document.node.supported is True
    assert set(document.native_modules) == {"bcrypt", "better-sqlite3"}
    assert document.native_modules["bcrypt"].version == "6.0.0"
    assert document.native_modules["bcrypt"].error is None
    assert document.process.rss_bytes == raw["process"]["rss_bytes"]
    assert isinstance(document.process.rss_bytes, int)
    assert document.process.event_loop_delay_p99_ms == 11.2
    assert document.container.memory_limit_bytes == 536870912
    assert document.container.memory_percent == 11.9
    assert document.database.size_bytes == 245760
    assert document.database.journal_mode == "wal"
    assert document.frontend.build_id == "1a2b3c4d"
    assert document.history.availability_7d_percent == 99.2
    assert document.history.samples == 2160
    assert document.failing_checks == []
    assert document.check("bcrypt") is document.checks[1]
    assert document.check("no-such-check") is None


def test_parse_nulls_stay_none() -> None:
    """What the server does not measure stays None, never 0."""
    document = StatusDocument.from_dict(load_json("status_no_cgroup.json"))
    assert document.status is OverallStatus.DEGRADED
    assert document.container.cgroup is None
    assert document.container.memory_used_bytes is None
    assert document.container.cpu_percent is None
    assert document.process.event_loop_delay_p99_ms is None
    assert document.history.availability_24h_percent is None
    assert document.frontend.built_at is None
    assert document.failing_checks == ["frontend"]


def test_parse_failures() -> None:
    """A failed module keeps its error text; null self_test_ok is kept as None."""
    document = StatusDocument.from_dict(load_json("status_bcrypt_failed.json"))
    bcrypt = document.native_modules["bcrypt"]
    assert bcrypt.loaded is False
    assert bcrypt.self_test_ok is None
    assert bcrypt.error == "Cannot find module '../build/Release/bcrypt_lib.node'"
    assert document.failing_checks == ["bcrypt", "database"]
    assert document.node.supported is False


def test_unknown_fields_are_tolerated() -> None:
    """A newer server may add fields anywhere."""
    raw = load_json("status.json")
    raw["future"] = {"anything": [1, 2]}
    raw["server"]["pid"] = 4242
    raw["checks"][0]["duration_ms"] = 1.5
    raw["native_modules"]["sharp"] = {"loaded": True, "self_test_ok": True}
    raw["history"]["samples_1h"] = 120
    document = StatusDocument.from_dict(raw)
    assert document == StatusDocument.from_dict(raw)
    assert document.native_modules["sharp"].version is None


def test_missing_nullable_fields_are_none() -> None:
    """A nullable field the server leaves out reads as None."""
    raw = load_json("status.json")
    del raw["process"]["event_loop_delay_p99_ms"]
    del raw["history"]["samples"]
    document = StatusDocument.from_dict(raw)
    assert document.process.event_loop_delay_p99_ms is None
    assert document.history.samples is None


def test_integral_float_is_an_int() -> None:
    """JavaScript has one number type: 52428800.0 is the integer 52428800."""
    raw = load_json("status.json")
    raw["process"]["rss_bytes"] = 52428800.0
    raw["node"]["major"] = 24.0
    document = StatusDocument.from_dict(raw)
    assert document.process.rss_bytes == 52428800
    assert isinstance(document.process.rss_bytes, int)
    assert isinstance(document.node.major, int)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(raw: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = raw
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        key: Any = int(last) if last.isdigit() else last
        if value is KeyError:
            del target[key]
        else:
            target[key] = value

    return mutate


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_set("schema_version", 2), "unsupported schema_version 2"),
        (_set("schema_version", "1"), "schema_version: expected a number, got string"),
        (_set("server.version", 1), "server.version: expected a string, got number"),
        (_set("server.version", None), "server.version: must not be null"),
        (_set("server.uptime_s", KeyError), "server.uptime_s: missing"),
        (_set("node", KeyError), "node: missing"),
        (_set("checks.0.ok", "yes"), "checks[0].ok: expected a boolean, got string"),
        (_set("checks", {}), "checks: expected an array, got object"),
        (_set("checks.1", "bcrypt"), "checks[1]: expected an object, got string"),
        (_set("process.rss_bytes", "52"), "process.rss_bytes: expected a number, got string"),
        (_set("process.rss_bytes", 1.5), "process.rss_bytes: expected an integer"),
        (_set("process.rss_bytes", True), "process.rss_bytes: expected a number, got boolean"),
        (_set("process.cpu_percent", [1]), "process.cpu_percent: expected a number, got array"),
        (_set("container.cpu_percent", float("nan")), "container.cpu_percent: not a finite"),
        (_set("history.availability_24h_percent", float("inf")), "not a finite number"),
        (_set("status", "maintenance"), "status: unknown value 'maintenance'"),
        (_set("server.started_at", "yesterday"), "server.started_at: not an ISO-8601 time"),
        (_set("server.started_at", "2026-11-25T22:00:00"), "time without a time zone"),
        (_set("native_modules.bcrypt", []), "native_modules.bcrypt: expected an object"),
        (_set("native_modules.bcrypt.error", 5), "native_modules.bcrypt.error: expected a string"),
        (_set("database.ok", None), "database.ok: must not be null"),
        (_set("frontend.present", 1), "frontend.present: expected a boolean, got number"),
        (_set("history.samples", {}), "history.samples: expected a number, got object"),
    ],
)
def test_invalid_documents(mutate: Callable[[dict[str, Any]], None], message: str) -> None:
    """A wrong type anywhere is an invalid response that names the path."""
    raw = load_json("status.json")
    mutate(raw)
    with pytest.raises(HAsyncInvalidResponseError, match=message.replace("[", r"\[")):
        StatusDocument.from_dict(raw)


@pytest.mark.parametrize("body", [[], "ok", None, 1])
def test_document_must_be_an_object(body: Any) -> None:
    """The top level must be an object."""
    with pytest.raises(HAsyncInvalidResponseError, match="document: expected an object"):
        StatusDocument.from_dict(body)


@pytest.mark.parametrize("body", [b'{"a": NaN}', b'{"a": -Infinity}', b"{", b"\xff\xfe", b""])
def test_parse_json_is_strict(body: bytes) -> None:
    """NaN/Infinity literals, broken JSON and broken UTF-8 are invalid responses."""
    with pytest.raises(HAsyncInvalidResponseError, match="not valid JSON"):
        parse_json(body)


def test_parse_status_text() -> None:
    """parse_status accepts the JSON text of a document."""
    text = json.dumps(load_json("status.json"))
    assert parse_status(text) == parse_status(text.encode())


# --- SSE decoding -------------------------------------------------------------------------

DOCUMENT_TEXT = json.dumps(load_json("status.json"))
API_STREAM = f"retry: 5000\n\nid: 1\nevent: status\ndata: {DOCUMENT_TEXT}\n\n"


def test_decoder_reads_the_api_stream() -> None:
    """The stream API.md describes: retry first, then id/event/data frames."""
    decoder = SSEDecoder()
    events = decoder.feed(API_STREAM.encode())
    assert events == [SSEEvent("status", DOCUMENT_TEXT, "1")]
    assert decoder.retry_ms == 5000
    assert decoder.last_event_id == "1"


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_decoder_line_endings(newline: str) -> None:
    """LF, CRLF and CR all end lines."""
    decoder = SSEDecoder()
    events = decoder.feed(API_STREAM.replace("\n", newline).encode())
    assert events == [SSEEvent("status", DOCUMENT_TEXT, "1")]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_decoder_byte_by_byte(newline: str) -> None:
    """Chunks may split lines, CRLF pairs and multi-byte characters anywhere."""
    text = f"data: héllo ✓{newline}data: 2nd{newline}{newline}" + API_STREAM.replace("\n", newline)
    decoder = SSEDecoder()
    events: list[SSEEvent] = []
    for byte in text.encode():
        events.extend(decoder.feed(bytes([byte])))
    assert events == [
        SSEEvent("message", "héllo ✓\n2nd", None),
        SSEEvent("status", DOCUMENT_TEXT, "1"),
    ]


def test_decoder_fields() -> None:
    """Comments, colon-less fields, unknown fields, ids and retry values, per WHATWG."""
    decoder = SSEDecoder()
    stream = (
        "\ufeff: a comment\n"  # BOM, then a comment
        "event: ping\n"
        "\n"  # an event without data is not dispatched, and its type is dropped
        "data\n"  # a field without a colon has an empty value
        "\n"
        "data:no-space\n"
        "data:  two spaces\n"
        "unknown: ignored\n"
        "id: 7\n"
        "retry: soon\n"  # not digits: ignored
        "\n"
        "id: bad\0id\n"  # an id with NUL is ignored
        "retry: 250\n"
        "data: x\n"
        "\n"
        "data: incomplete"  # no blank line yet: not dispatched
    )
    events = decoder.feed(stream.encode())
    assert events == [
        SSEEvent("message", "", None),
        SSEEvent("message", "no-space\n two spaces", "7"),
        SSEEvent("message", "x", "7"),
    ]
    assert decoder.retry_ms == 250
    assert decoder.feed(b"\n\n") == [SSEEvent("message", "incomplete", "7")]


def test_decoder_limits() -> None:
    """An endless line or event is a protocol error, not unbounded memory."""
    with pytest.raises(HAsyncInvalidResponseError, match="line exceeds"):
        SSEDecoder(max_size=100).feed(b"data: " + b"x" * 200)
    decoder = SSEDecoder(max_size=100)
    with pytest.raises(HAsyncInvalidResponseError, match="data exceeds"):
        decoder.feed(b"data: " + b"x" * 60 + b"\ndata: " + b"y" * 60 + b"\n")


# --- HTTP ---------------------------------------------------------------------------------


async def test_status(client: HAsyncClient, server: FakeHAsyncServer) -> None:
    """The client sends the token and parses the document."""
    document = await client.status()
    assert document == StatusDocument.from_dict(load_json("status.json"))
    assert server.status_calls == 1


def test_client_urls(session: aiohttp.ClientSession) -> None:
    """The base URL may carry a path prefix; the API paths are joined below it."""
    client = HAsyncClient("http://host:8099/prefix/?q=1#f", TOKEN, session)
    assert client.url == "http://host:8099/prefix"
    assert str(client._url("api/v1/status")) == "http://host:8099/prefix/api/v1/status"
    assert HAsyncClient("https://host", TOKEN, session).url == "https://host"
    with pytest.raises(ValueError, match="http"):
        HAsyncClient("ftp://host", TOKEN, session)
    with pytest.raises(ValueError, match="http"):
        HAsyncClient("host:8099", TOKEN, session)


async def test_wrong_token(server: FakeHAsyncServer, session: aiohttp.ClientSession) -> None:
    """A 401 is an authentication error carrying the server's reason."""
    client = HAsyncClient(server.url, "wrong", session)
    with pytest.raises(HAsyncAuthError, match="invalid token"):
        await client.status()


def _answer(
    status: int, body: str | dict[str, Any] = "", headers: dict[str, str] | None = None
) -> Callable[[web.Request], Any]:
    async def handler(request: web.Request) -> web.Response:
        if isinstance(body, dict):
            return web.json_response(body, status=status, headers=headers)
        return web.Response(status=status, text=body, headers=headers)

    return handler


@pytest.mark.parametrize(
    ("status", "body", "headers", "error", "message"),
    [
        (403, {"error": "forbidden", "reason": "ingress only"}, None, HAsyncAuthError, "ingress only"),
        (503, {"error": "unavailable", "reason": "token store unavailable"}, None, HAsyncServiceUnavailableError, "token store unavailable"),
        (503, {"error": "unavailable"}, None, HAsyncServiceUnavailableError, "unavailable"),
        (503, {"reason": 5}, None, HAsyncServiceUnavailableError, "no reason given"),
        (502, "Bad Gateway", None, HAsyncConnectionError, "HTTP 502 from a proxy"),
        (504, "", None, HAsyncConnectionError, "HTTP 504"),
        (500, {"error": "internal", "reason": "boom"}, None, HAsyncInvalidResponseError, "unexpected HTTP status 500: boom"),
        (404, "Not Found", None, HAsyncInvalidResponseError, "unexpected HTTP status 404: Not Found"),
        (302, "", {"Location": "http://elsewhere/"}, HAsyncInvalidResponseError, "unexpected HTTP status 302: empty body"),
        (200, "<html>", None, HAsyncInvalidResponseError, "not valid JSON"),
        (200, {"schema_version": 2}, None, HAsyncInvalidResponseError, "unsupported schema_version 2"),
    ],
)  # fmt: skip
async def test_http_errors(  # noqa: PLR0917
    client: HAsyncClient,
    server: FakeHAsyncServer,
    status: int,
    body: str | dict[str, Any],
    headers: dict[str, str] | None,
    error: type[HAsyncError],
    message: str,
) -> None:
    """Each kind of answer maps to its error, with a message that says why."""
    server.status_handler = _answer(status, body, headers)
    with pytest.raises(error, match=message) as raised:
        await client.status()
    assert TOKEN not in str(raised.value)


@pytest.mark.parametrize(
    ("body", "headers", "retry_after"),
    [
        ({"error": "too_many_requests", "reason": "slow down", "retry_after_s": 12}, None, 12.0),
        ({"error": "too_many_requests", "retry_after_s": -3}, None, 0.0),
        ("Too Many Requests", {"Retry-After": "30"}, 30.0),
        ({"retry_after_s": True}, {"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}, None),
    ],
)
async def test_rate_limited(
    client: HAsyncClient,
    server: FakeHAsyncServer,
    body: str | dict[str, Any],
    headers: dict[str, str] | None,
    retry_after: float | None,
) -> None:
    """A 429 carries the delay from retry_after_s, else from a Retry-After in seconds."""
    server.status_handler = _answer(429, body, headers)
    with pytest.raises(HAsyncRateLimitedError, match="rate limited") as raised:
        await client.status()
    assert raised.value.retry_after == retry_after


async def test_body_too_large(client: HAsyncClient, server: FakeHAsyncServer) -> None:
    """A body past the limit is not a status document."""
    server.status_handler = _answer(200, "x" * ((1 << 20) + 1))
    with pytest.raises(HAsyncInvalidResponseError, match="larger than"):
        await client.status()


async def test_timeout(server: FakeHAsyncServer, session: aiohttp.ClientSession) -> None:
    """A server that does not answer in time is a timeout (a connection error)."""

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response()  # pragma: no cover - the client gives up first

    server.status_handler = slow
    client = HAsyncClient(server.url, TOKEN, session, request_timeout=0.05)
    with pytest.raises(HAsyncTimeoutError, match=r"no answer within 0\.05 seconds"):
        await client.status()
    assert issubclass(HAsyncTimeoutError, HAsyncConnectionError)


async def test_connection_refused(server: FakeHAsyncServer, session: aiohttp.ClientSession) -> None:
    """A stopped server is a connection error."""
    url = server.url
    await server.stop()
    with pytest.raises(HAsyncConnectionError, match=r"127\.0\.0\.1"):
        await HAsyncClient(url, TOKEN, session).status()


# --- event stream -------------------------------------------------------------------------


async def test_event_stream(client: HAsyncClient, server: FakeHAsyncServer) -> None:
    """The stream yields the initial document and pushed ones, then None at its end."""
    async with client.event_stream() as stream:
        first = await stream.next_event()
        assert first is not None
        assert first.event == "status"
        assert parse_status(first.data) == StatusDocument.from_dict(load_json("status.json"))
        assert stream.decoder.retry_ms == 5000
        changed = load_json("status_bcrypt_failed.json")
        server.push(changed)
        second = await stream.next_event()
        assert second is not None
        assert json.loads(second.data) == changed
        assert second.id == "2"
        server.end_streams()
        assert await stream.next_event() is None


async def test_event_stream_needs_open(client: HAsyncClient) -> None:
    """Reading a stream that is not open is a programming error."""
    with pytest.raises(RuntimeError, match="not open"):
        await client.event_stream().next_event()


async def test_event_stream_wrong_token(
    server: FakeHAsyncServer, session: aiohttp.ClientSession
) -> None:
    """A 401 on the stream is an authentication error."""
    with pytest.raises(HAsyncAuthError, match="invalid token"):
        async with HAsyncClient(server.url, "wrong", session).event_stream():
            pass  # pragma: no cover


async def test_event_stream_not_sse(client: HAsyncClient, server: FakeHAsyncServer) -> None:
    """A 200 that is not text/event-stream is an invalid response."""
    server.events_handler = _answer(200, {"status": "ok"})
    with pytest.raises(HAsyncInvalidResponseError, match="expected text/event-stream"):
        async with client.event_stream():
            pass  # pragma: no cover


async def test_event_stream_idle_timeout(client: HAsyncClient, server: FakeHAsyncServer) -> None:
    """Silence longer than the idle timeout ends the stream with a timeout."""
    server.send_initial = False
    async with client.event_stream(idle_timeout=0.05) as stream:
        with pytest.raises(HAsyncTimeoutError, match="no data on the event stream"):
            await stream.next_event()


async def test_event_stream_open_timeout(
    server: FakeHAsyncServer, session: aiohttp.ClientSession
) -> None:
    """A server that does not open the stream in time is a timeout."""

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response()  # pragma: no cover - the client gives up first

    server.events_handler = slow
    client = HAsyncClient(server.url, TOKEN, session, request_timeout=0.05)
    with pytest.raises(HAsyncTimeoutError, match="did not open"):
        async with client.event_stream():
            pass  # pragma: no cover


async def test_event_stream_refused(
    server: FakeHAsyncServer, session: aiohttp.ClientSession
) -> None:
    """A stopped server cannot open a stream."""
    url = server.url
    await server.stop()
    with pytest.raises(HAsyncConnectionError):
        async with HAsyncClient(url, TOKEN, session).event_stream():
            pass  # pragma: no cover


async def test_event_stream_broken(client: HAsyncClient, server: FakeHAsyncServer) -> None:
    """A connection that breaks in the middle of a chunked body is a connection error."""

    async def broken(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"data: partial")
        assert request.transport is not None
        request.transport.close()
        return response

    server.events_handler = broken
    async with client.event_stream() as stream:
        with pytest.raises(HAsyncConnectionError):
            await stream.next_event()


# --- listener -----------------------------------------------------------------------------


class Recorder:
    """Collects what the listener hands to its callbacks."""

    def __init__(self) -> None:
        """Nothing yet."""
        self.documents: list[StatusDocument] = []
        self.disconnects = 0
        self.changed = asyncio.Event()

    def on_status(self, document: StatusDocument) -> None:
        """Record a document."""
        self.documents.append(document)
        self.changed.set()

    def on_disconnect(self) -> None:
        """Record the end of a stream."""
        self.disconnects += 1
        self.changed.set()

    async def wait(self, predicate: Callable[[], bool], limit: float = 5.0) -> None:
        """Wait until the predicate holds."""
        async with asyncio.timeout(limit):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


def _listener(client: HAsyncClient, recorder: Recorder, **kwargs: Any) -> HAsyncEventListener:
    return HAsyncEventListener(
        client, on_status=recorder.on_status, on_disconnect=recorder.on_disconnect, **kwargs
    )


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_listener_delivers_and_reconnects(
    client: HAsyncClient, server: FakeHAsyncServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Documents arrive; bad frames are skipped; a closed stream is reported once and reopened."""
    caplog.set_level(logging.DEBUG, logger="custom_components.hasync")
    recorder = Recorder()
    listener = _listener(client, recorder, min_backoff=0.01)
    task = asyncio.create_task(listener.run())
    await recorder.wait(lambda: len(recorder.documents) == 1)
    assert listener.state.connected
    assert listener.state.server_retry_ms == 5000

    server.send_raw("event: status\ndata: {not json\n\n")
    server.send_raw(frame({**load_json("status.json"), "schema_version": 2}, 50))
    server.send_raw("event: hello\ndata: {}\n\n")
    server.send_raw(": keep-alive comment\n\n")
    changed = load_json("status_bcrypt_failed.json")
    server.push(changed)
    await recorder.wait(lambda: len(recorder.documents) == 2)
    assert recorder.documents[1] == StatusDocument.from_dict(changed)
    assert listener.state.invalid_events == 2
    assert listener.state.events == 5
    assert listener.state.last_event_id == str(server._event_id)
    assert "Skipping an invalid pushed status document" in caplog.text
    assert "unsupported schema_version 2" in caplog.text

    server.end_streams()
    await recorder.wait(lambda: recorder.disconnects == 1)
    await recorder.wait(lambda: len(recorder.documents) == 3)  # reconnected: initial document
    assert listener.state.connections == 2
    assert listener.state.disconnects == 1
    assert recorder.disconnects == 1
    await _stop(task)
    assert recorder.disconnects == 1  # cancelling is not a disconnect


async def test_listener_backoff(
    client: HAsyncClient, server: FakeHAsyncServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Failed attempts back off exponentially up to the cap; a good connection resets it."""
    recorder = Recorder()
    listener = _listener(client, recorder, min_backoff=1.0, max_backoff=4.0)
    waits: list[float] = []

    async def one_document(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(frame(load_json("status.json"), 1).encode())
        return response

    script: list[Callable[[], None]] = [
        lambda: None,
        lambda: None,
        lambda: None,
        lambda: None,
        lambda: setattr(server, "events_handler", one_document),  # back, then closes
        lambda: setattr(server, "events_handler", _answer(503, {"reason": "busy"})),
    ]

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)
        if not script:
            raise asyncio.CancelledError
        script.pop(0)()

    monkeypatch.setattr(listener, "_sleep", fake_sleep)
    server.events_handler = _answer(503, {"error": "unavailable", "reason": "starting"})
    with pytest.raises(asyncio.CancelledError):
        await listener.run()
    # Five failures: 1, 2, 4, then capped at 4. The connection that delivered a document
    # resets the backoff to 1, and it grows again from there.
    assert waits == [1.0, 2.0, 4.0, 4.0, 4.0, 1.0, 2.0]
    assert len(recorder.documents) == 1
    assert recorder.disconnects == 1
    assert listener.state.last_error == "busy"


async def test_listener_reports_a_gone_server(
    client: HAsyncClient, server: FakeHAsyncServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The end of the stream is reported, and once more when reopening it finds no server.

    However long the server stays away, the next attempt is at most 3 s off: each one is a
    refused connect, and the first after the server is back finds it.
    """
    recorder = Recorder()
    listener = _listener(client, recorder)
    attempts: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        attempts.append(seconds)
        if len(attempts) == 12:
            raise asyncio.CancelledError

    monkeypatch.setattr(listener, "_sleep", fake_sleep)
    task = asyncio.create_task(listener.run())
    await recorder.wait(lambda: len(recorder.documents) == 1)
    await server.stop()
    with pytest.raises(asyncio.CancelledError):
        await task
    # Stream end + first refused attempt; the later refused attempts stay quiet.
    assert recorder.disconnects == 2
    assert listener.state.disconnects == 1
    assert attempts == [1.0, 2.0, *[UNREACHABLE_RETRY_S] * 10]
    assert UNREACHABLE_RETRY_S == 3.0


async def test_listener_unreachable_wait_is_capped(
    client: HAsyncClient, server: FakeHAsyncServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only an unreachable server is retried within seconds; one that answers wrongly backs off."""
    listener = _listener(client, Recorder())
    waits: list[float] = []
    server.events_handler = _answer(503, {"reason": "starting"})

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:
            await server.stop()
        elif len(waits) == 5:
            await server.start()
        elif len(waits) == 6:
            raise asyncio.CancelledError

    monkeypatch.setattr(listener, "_sleep", fake_sleep)
    with pytest.raises(asyncio.CancelledError):
        await listener.run()
    # 503 three times (1, 2, 4), refused twice (capped), then 503 again: the backoff went on.
    assert waits == [1.0, 2.0, 4.0, 3.0, 3.0, 32.0]


async def test_listener_stops_on_auth_error(
    server: FakeHAsyncServer, session: aiohttp.ClientSession
) -> None:
    """A rejected token ends the listener: retrying would feed the rate limiter."""
    recorder = Recorder()
    listener = _listener(HAsyncClient(server.url, "wrong", session), recorder)
    async with asyncio.timeout(5):
        await listener.run()
    assert listener.state.stopped == "the server rejected the token"
    assert "invalid token" in (listener.state.last_error or "")
    assert recorder.disconnects == 0  # it never connected


async def test_listener_auth_error_after_connection(
    client: HAsyncClient, server: FakeHAsyncServer
) -> None:
    """When the token is rotated while connected, the drop is reported, then it stops."""
    recorder = Recorder()
    listener = _listener(client, recorder, min_backoff=0.01)
    task = asyncio.create_task(listener.run())
    await recorder.wait(lambda: len(recorder.documents) == 1)
    server.token = "rotated"  # noqa: S105
    server.end_streams()
    async with asyncio.timeout(5):
        await task
    assert recorder.disconnects == 1
    assert listener.state.stopped is not None


async def test_listener_honours_retry_after(
    client: HAsyncClient, server: FakeHAsyncServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 429 waits at least as long as the server asks."""
    listener = _listener(client, Recorder())
    sleep = AsyncMock(side_effect=asyncio.CancelledError)
    monkeypatch.setattr(listener, "_sleep", sleep)
    server.events_handler = _answer(429, {"reason": "slow down", "retry_after_s": 7})
    with pytest.raises(asyncio.CancelledError):
        await listener.run()
    sleep.assert_awaited_once_with(7.0)
    assert listener.state.last_error == "rate limited: slow down"


async def test_listener_reconnect_now(client: HAsyncClient, server: FakeHAsyncServer) -> None:
    """reconnect_now cuts a long backoff wait short; it does nothing while connected."""
    recorder = Recorder()
    listener = _listener(client, recorder, min_backoff=60.0)
    server.events_handler = _answer(503, {"reason": "starting"})
    task = asyncio.create_task(listener.run())
    await wait_until(lambda: listener.state.next_attempt_in_s is not None)
    assert listener.state.next_attempt_in_s == 60.0
    server.events_handler = None
    listener.reconnect_now()
    await recorder.wait(lambda: len(recorder.documents) == 1)
    assert listener.state.connected
    listener.reconnect_now()  # connected: no effect
    assert not listener._wake.is_set()
    await _stop(task)


async def test_listener_survives_callback_errors(
    client: HAsyncClient, server: FakeHAsyncServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A failing callback is logged; the listener keeps going."""
    calls: list[StatusDocument] = []
    reconnected = asyncio.Event()

    def on_status(document: StatusDocument) -> None:
        calls.append(document)
        if len(calls) == 2:
            reconnected.set()
        raise ValueError("callback bug")

    def on_disconnect() -> None:
        raise ValueError("disconnect bug")

    listener = HAsyncEventListener(
        client, on_status=on_status, on_disconnect=on_disconnect, min_backoff=0.01
    )
    task = asyncio.create_task(listener.run())
    await wait_until(lambda: bool(calls))
    server.end_streams()
    async with asyncio.timeout(5):
        await reconnected.wait()
    await _stop(task)
    assert "Error handling a pushed HAsync status document" in caplog.text
    assert "Error handling the end of the HAsync event stream" in caplog.text


async def test_listener_survives_unexpected_errors(
    client: HAsyncClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An unexpected exception is logged with its traceback and the listener retries."""
    listener = HAsyncEventListener(client, on_status=lambda _: None)
    sleep = AsyncMock(side_effect=[None, asyncio.CancelledError])
    monkeypatch.setattr(listener, "_sleep", sleep)

    def broken(**kwargs: Any) -> HAsyncEventStream:
        raise RuntimeError("bug")

    monkeypatch.setattr(client, "event_stream", broken)
    with pytest.raises(asyncio.CancelledError):
        await listener.run()
    assert sleep.await_count == 2
    assert listener.state.last_error == "RuntimeError('bug')"
    assert "Unexpected error on the HAsync event stream" in caplog.text


async def test_listener_real_sleep_times_out(client: HAsyncClient) -> None:
    """The backoff wait ends by itself after its delay."""
    listener = HAsyncEventListener(client, on_status=lambda _: None)
    async with asyncio.timeout(1):
        await listener._sleep(0.01)


def test_copy_is_not_needed() -> None:
    """Models are frozen: sharing them between samples and entities is safe."""
    document = StatusDocument.from_dict(load_json("status.json"))
    with pytest.raises(AttributeError):
        document.status = OverallStatus.ERROR  # type: ignore[misc]
    assert copy.copy(document) == document
