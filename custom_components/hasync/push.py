"""Push: keeps the server's event stream open and hands every valid document to the coordinator.

The client opens one stream (``HAsyncClient.event_stream``); how to reconnect, and what an ended
stream means, is decided here, on the Home Assistant side, as python-wled's ``listen`` and the
wled coordinator divide it.
"""

import asyncio
from collections.abc import Callable
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from .client.client import DEFAULT_IDLE_TIMEOUT, HAsyncClient
from .client.errors import (
    HAsyncAuthError,
    HAsyncConnectionError,
    HAsyncError,
    HAsyncInvalidResponseError,
    HAsyncRateLimitedError,
)
from .client.models import StatusDocument, parse_status
from .client.sse import SSEEvent
from .const import LOGGER

UNREACHABLE_RETRY_S: Final = 3.0
"""The longest wait before trying again to reach a server that was not there.

One attempt is a TCP connect to a host on the LAN (refused at once while the app is stopped), so
trying every few seconds costs nothing, and a server that is back is found within this time
however long it was away: an app update takes minutes, and that is when users look.
"""


@dataclass(slots=True, kw_only=True)
class ListenerState:
    """What the push listener knows about its stream, for diagnostics."""

    connected: bool = False
    connections: int = 0
    disconnects: int = 0
    events: int = 0
    invalid_events: int = 0
    last_event_at: datetime | None = None
    last_event_id: str | None = None
    server_retry_ms: int | None = None
    last_error: str | None = None
    next_attempt_in_s: float | None = None
    stopped: str | None = None


class HAsyncEventListener:
    """Keeps a push stream open and hands every valid status document to a callback.

    After a connection ends or fails it waits with exponential backoff (``min_backoff`` doubling
    up to ``max_backoff``; back to ``min_backoff`` after a connection that delivered a valid
    document) and connects again, until it is cancelled. When the server could not be reached
    at all (refused, unreachable, timed out), the wait is at most ``max_unreachable_backoff``:
    that attempt cost one connect, and the next one finds the server as soon as it is back.
    A server that answered wrongly waits out the full backoff (a poll that succeeds cuts it
    short), a 429 at least its Retry-After, and a 401 ends the listener: retrying a rejected
    token only feeds the server's rate limiter.

    ``on_disconnect`` tells the owner that the server may be gone, so it can check at once: it
    runs when an open stream ends, and once more if the first attempt to reopen it cannot reach
    the server (a server shutting down may end its streams a moment before it stops answering).
    It runs again only after a stream was open again, so it cannot loop.
    """

    def __init__(
        self,
        client: HAsyncClient,
        *,
        on_status: Callable[[StatusDocument], None],
        on_disconnect: Callable[[], None] | None = None,
        min_backoff: float = 1.0,
        max_backoff: float = 60.0,
        max_unreachable_backoff: float = UNREACHABLE_RETRY_S,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        redact: Callable[[str], str] | None = None,
    ) -> None:
        """Set the callbacks and the backoff policy; ``redact`` defaults to the client's."""
        self._client = client
        self._redact = client.redact if redact is None else redact
        self._on_status = on_status
        self._on_disconnect = on_disconnect
        self._backoff = (min_backoff, max_backoff)
        self._max_unreachable_backoff = max_unreachable_backoff
        self._idle_timeout = idle_timeout
        self._wake = asyncio.Event()
        self._delivered = False
        self._armed = False
        self.state = ListenerState()

    def reconnect_now(self) -> None:
        """Cut a backoff wait short, e.g. because a poll just reached the server."""
        if not self.state.connected:
            self._wake.set()

    async def run(self) -> None:
        """Listen until cancelled, or until the server rejects the token."""
        state, (min_backoff, max_backoff) = self.state, self._backoff
        delay = min_backoff
        while True:
            extra_delay = 0.0
            unreachable = False
            self._wake.clear()
            self._delivered = False
            try:
                await self._listen_once()
                state.last_error = "the server closed the stream"
            except HAsyncError as err:
                state.last_error = str(err)
                if isinstance(err, HAsyncAuthError):
                    self._stream_ended()
                    state.stopped = "the server rejected the token"
                    LOGGER.debug("Stopping the HAsync event stream: %s", err)
                    return
                if isinstance(err, HAsyncRateLimitedError):
                    extra_delay = err.retry_after or 0.0
                elif isinstance(err, HAsyncConnectionError):
                    unreachable = True
                    if not state.connected and self._armed:
                        # The first attempt to reopen a lost stream cannot reach the server.
                        self._armed = False
                        self._notify_disconnect()
            except Exception as err:
                # A bug here must not end push for good; report it and carry on.
                LOGGER.exception("Unexpected error on the HAsync event stream")
                state.last_error = repr(err)
            self._stream_ended()
            if self._delivered:
                delay = min_backoff
            wait = min(delay, self._max_unreachable_backoff) if unreachable else delay
            wait = max(wait, extra_delay)
            LOGGER.debug(
                "HAsync event stream down (%s); reconnecting in %.1f s", state.last_error, wait
            )
            state.next_attempt_in_s = wait
            await self._sleep(wait)
            state.next_attempt_in_s = None
            delay = min(delay * 2, max_backoff)

    async def _sleep(self, seconds: float) -> None:
        """Wait out the backoff delay, or less if reconnect_now() is called."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()

    async def _listen_once(self) -> None:
        async with self._client.event_stream(idle_timeout=self._idle_timeout) as stream:
            self.state.connected = self._armed = True
            self.state.connections += 1
            self.state.last_error = None
            LOGGER.debug("HAsync event stream open")
            while (event := await stream.next_event()) is not None:
                self.state.server_retry_ms = stream.decoder.retry_ms
                self._handle(event)

    def _handle(self, event: SSEEvent) -> None:
        self.state.events += 1
        self.state.last_event_at = datetime.now(UTC)
        self.state.last_event_id = event.id
        if event.event != "status":
            LOGGER.debug("Ignoring HAsync event of type %r", event.event)
            return
        try:
            document = parse_status(event.data, self._redact)
        except HAsyncInvalidResponseError as err:
            self.state.invalid_events += 1
            LOGGER.debug("Skipping an invalid pushed status document: %s", self._redact(str(err)))
            return
        self._delivered = True
        try:
            self._on_status(document)
        except Exception:
            LOGGER.exception("Error handling a pushed HAsync status document")

    def _stream_ended(self) -> None:
        if self.state.connected:
            self.state.connected = False
            self.state.disconnects += 1
            self._notify_disconnect()

    def _notify_disconnect(self) -> None:
        if self._on_disconnect is not None:
            try:
                self._on_disconnect()
            except Exception:
                LOGGER.exception("Error handling the end of the HAsync event stream")
