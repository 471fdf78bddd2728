"""Server-Sent Events: an incremental decoder, and one open ``/api/v1/events`` stream."""

import asyncio
import codecs
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
import re
from types import TracebackType
from typing import Final, Self

import aiohttp
from yarl import URL

from .errors import (
    HAsyncError,
    HAsyncInvalidResponseError,
    HAsyncTimeoutError,
    connection_error,
    raise_for_status,
    read_limited,
    redact_error,
)

MAX_BODY_BYTES: Final = 1 << 20
"""A status document is a few KiB; anything past this is not one."""
MAX_EVENT_BYTES: Final = 1 << 20
"""Longest SSE line or event data the decoder buffers before giving up on the stream."""
_LINE_END: Final = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched Server-Sent Event."""

    event: str
    data: str
    id: str | None


class SSEDecoder:
    """Incremental Server-Sent Events parser, following the WHATWG rules.

    Lines end in CRLF, LF or CR (also when a CRLF pair is split across chunks); ``:`` starts a
    comment; ``data`` lines join with newlines; ``id`` and ``retry`` are remembered; an event is
    dispatched at a blank line and only if it has data.
    """

    def __init__(self, max_size: int = MAX_EVENT_BYTES) -> None:
        """Start with empty buffers."""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._max_size = max_size
        self._pending: list[str] = []
        """The start of an unfinished line, in the pieces it arrived in."""
        self._pending_size = 0
        self._skip_lf = False
        self._started = False
        self._event = ""
        self._data: list[str] = []
        self._data_size = 0
        self.last_event_id: str | None = None
        self.retry_ms: int | None = None
        self._error: HAsyncInvalidResponseError | None = None

    def raise_for_error(self) -> None:
        """Raise the error that ended the stream, if one did."""
        if self._error is not None:
            raise self._error

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Decode a chunk; return the events it completed.

        Only the new text is scanned and an unfinished line is joined once it ends, so a line
        trickling in by small chunks costs linear time. A line or an event's data over the size
        limit ends the stream: the events completed before it are returned, and this call (if it
        completed none) or the next raises. So how the bytes are split never changes the outcome.
        """
        self.raise_for_error()
        events: list[SSEEvent] = []
        try:
            self._feed(self._decoder.decode(chunk), events)
        except HAsyncInvalidResponseError as err:
            self._error = err
            if not events:
                raise
        return events

    def _feed(self, text: str, events: list[SSEEvent]) -> None:
        if not self._started and text:
            self._started = True
            text = text.removeprefix("\ufeff")
        if self._skip_lf and text:
            self._skip_lf = False
            text = text.removeprefix("\n")
        position = 0
        for match in _LINE_END.finditer(text):
            line = text[position : match.start()]
            if self._pending:
                line = "".join((*self._pending, line))
                self._pending, self._pending_size = [], 0
            if len(line) > self._max_size:
                raise HAsyncInvalidResponseError("an event stream line exceeds the size limit")
            if (event := self._line(line)) is not None:
                events.append(event)
            position = match.end()
            if match.group() == "\r" and position == len(text):
                self._skip_lf = True  # the LF of a CRLF may open the next chunk
        if position < len(text):
            self._pending.append(text[position:])
            self._pending_size += len(text) - position
            if self._pending_size > self._max_size:
                raise HAsyncInvalidResponseError("an event stream line exceeds the size limit")

    def _line(self, line: str) -> SSEEvent | None:
        if not line:  # dispatch
            event_type, data = self._event or "message", self._data
            self._event, self._data, self._data_size = "", [], 0
            return SSEEvent(event_type, "\n".join(data), self.last_event_id) if data else None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._data_size += len(value) + 1
            if self._data_size > self._max_size:
                raise HAsyncInvalidResponseError("an event's data exceeds the size limit")
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self.last_event_id = value
        elif name == "retry" and value.isascii() and value.isdigit() and len(value) <= 10:
            self.retry_ms = int(value)
        return None  # a comment (empty name), or a field without an event yet


async def _check_stream(response: aiohttp.ClientResponse) -> None:
    if response.status != 200:
        body = await read_limited(response, MAX_BODY_BYTES)
        raise_for_status(response.status, response.headers, body)
    if (kind := response.content_type) != "text/event-stream":
        raise HAsyncInvalidResponseError(f"expected text/event-stream, got {kind}")


class HAsyncEventStream:
    """An open ``/api/v1/events`` response, read event by event."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: URL,
        headers: dict[str, str],
        *,
        connect_timeout: float,
        idle_timeout: float,
        redact: Callable[[str], str] = str,
    ) -> None:
        """Prepare the request; ``async with`` opens it; ``redact`` cleans error messages."""
        self._request = (session, url, headers)
        self._connect_timeout = connect_timeout
        self._idle_timeout = idle_timeout
        self._redact = redact
        self._response: aiohttp.ClientResponse | None = None
        self.decoder = SSEDecoder()
        self._pending: deque[SSEEvent] = deque()

    async def __aenter__(self) -> Self:
        """Connect; raise the client's errors if the server does not open a stream."""
        try:
            self._response = await self._open()
        except HAsyncError as err:
            redact_error(err, self._redact)
            raise
        return self

    async def _open(self) -> aiohttp.ClientResponse:
        session, url, headers = self._request
        try:
            async with asyncio.timeout(self._connect_timeout):
                response = await session.get(
                    url,
                    headers=headers,
                    allow_redirects=False,
                    # The stream is endless: only connecting is bounded here, and silence
                    # is bounded per read by the idle timeout.
                    timeout=aiohttp.ClientTimeout(total=None, sock_connect=self._connect_timeout),
                )
                try:
                    await _check_stream(response)
                except BaseException:
                    response.close()
                    raise
        except TimeoutError as err:
            raise HAsyncTimeoutError(
                f"the event stream did not open within {self._connect_timeout:g} seconds"
            ) from err
        except aiohttp.ClientError as err:
            raise connection_error(err) from err
        return response

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the connection (an endless response never goes back to the pool)."""
        if self._response is not None:
            self._response.close()
            self._response = None

    async def next_event(self) -> SSEEvent | None:
        """Return the next event, or None when the server closed the stream."""
        if self._response is None:
            raise RuntimeError("the event stream is not open")
        while not self._pending:
            self.decoder.raise_for_error()
            try:
                async with asyncio.timeout(self._idle_timeout):
                    chunk = await self._response.content.readany()
            except TimeoutError as err:
                raise HAsyncTimeoutError(
                    f"no data on the event stream for {self._idle_timeout:g} seconds"
                ) from err
            except aiohttp.ClientError as err:
                error = connection_error(err)
                redact_error(error, self._redact)
                raise error from err
            if not chunk:
                return None
            self._pending.extend(self.decoder.feed(chunk))
        return self._pending.popleft()
