"""Server-Sent Events: an incremental decoder, and one open ``/api/v1/events`` stream."""

import asyncio
import codecs
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
import io
import re
from typing import Final, Self

import aiohttp

from .errors import HAsyncInvalidResponseError, Redact, client_errors

MAX_EVENT_BYTES: Final = 1 << 20  # the longest line or event data the decoder buffers
_LINE_END: Final = re.compile(r"\r\n|\r|\n")
type Connect = Callable[[], Awaitable[aiohttp.ClientResponse]]  # opens the response, or raises


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched Server-Sent Event."""

    event: str
    data: str
    id: str | None


class SSEDecoder:
    """Incremental Server-Sent Events parser, following the WHATWG rules."""

    def __init__(self, max_size: int = MAX_EVENT_BYTES) -> None:
        """Start with empty buffers; utf-8-sig drops a leading byte order mark, as WHATWG says."""
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
        self._max_size = max_size
        self._pending = io.StringIO()  # an unfinished line
        self._skip_lf = False
        self._event = ""
        self._data = io.StringIO()  # each data line with a newline
        self.last_event_id: str | None = None
        self.retry_ms: int | None = None
        self._error: HAsyncInvalidResponseError | None = None

    def raise_for_error(self) -> None:
        """Raise the error that ended the stream, if one did."""
        if self._error is not None:
            raise self._error

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Decode a chunk; return the events it completed. A trickling line costs linear time.

        A line or an event's data over the size limit ends the stream: the events before it are
        returned, and this call (if none) or the next raises, however the bytes are split.
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
        if text:  # else the chunk ended inside a UTF-8 sequence: nothing decoded yet
            text = text.removeprefix("\n") if self._skip_lf else text
            self._skip_lf = text.endswith("\r")  # the LF of a CRLF may open the next chunk
        pieces = _LINE_END.split(text)
        for index, piece in enumerate(pieces):
            self._pending.write(piece)
            if self._pending.tell() > self._max_size:
                raise HAsyncInvalidResponseError("an event stream line exceeds the size limit")
            if index < len(pieces) - 1:  # a line end follows: the line is complete
                line, self._pending = self._pending.getvalue(), io.StringIO()
                if (event := self._line(line)) is not None:
                    events.append(event)

    def _line(self, line: str) -> SSEEvent | None:
        if not line:  # dispatch
            event_type, data = self._event or "message", self._data.getvalue()
            self._event, self._data = "", io.StringIO()
            return SSEEvent(event_type, data[:-1], self.last_event_id) if data else None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")  # empty without a colon
        if name == "data":
            self._data.write(f"{value}\n")
            if self._data.tell() > self._max_size:
                raise HAsyncInvalidResponseError("an event's data exceeds the size limit")
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self.last_event_id = value
        elif name == "retry" and value.isascii() and value.isdigit() and len(value) <= 10:
            self.retry_ms = int(value)
        return None  # a comment (empty name), or a field without an event yet


class HAsyncEventStream:
    """An ``/api/v1/events`` response, read event by event; ``async with`` opens and closes it."""

    def __init__(self, connect: Connect, *, idle_timeout: float, redact: Redact) -> None:
        """Take how to connect, how long silence may last, and how to clean error messages."""
        self._connect = connect
        self._idle_timeout = idle_timeout
        self._redact = redact
        self._response: aiohttp.ClientResponse | None = None
        self.decoder = SSEDecoder()
        self._pending: Iterator[SSEEvent] = iter(())  # of the last chunk's events

    async def __aenter__(self) -> Self:
        """Connect; raise the client's errors if the server does not open a stream."""
        self._response = await self._connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Close the connection (an endless response never goes back to the pool)."""
        if self._response is not None:
            self._response.close()
            self._response = None

    async def next_event(self) -> SSEEvent | None:
        """Return the next event, or None when the server closed the stream."""
        if self._response is None:
            raise RuntimeError("the event stream is not open")
        while (event := next(self._pending, None)) is None:
            self.decoder.raise_for_error()
            silence = f"no data on the event stream for {self._idle_timeout:g} seconds"
            with client_errors(silence, self._redact):
                async with asyncio.timeout(self._idle_timeout):
                    chunk = await self._response.content.readany()
            if not chunk:
                return None
            self._pending = iter(self.decoder.feed(chunk))
        return event
