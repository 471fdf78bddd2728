"""The client of one HAsync server: its status document on request, or as a stream of events."""

import asyncio
import contextlib
from typing import Any, Final

import aiohttp
from aiohttp.client import _RequestContextManager
from yarl import URL

from .errors import HAsyncInvalidResponseError, client_errors, read_answer
from .models import StatusDocument, parse_status
from .sse import HAsyncEventStream

DEFAULT_TIMEOUT: Final = 10.0
DEFAULT_IDLE_TIMEOUT: Final = 75.0  # the server sends at least every 30 s
REDACTED: Final = "**REDACTED**"
MIN_REDACTED_LENGTH: Final = 8  # a shorter token is no secret: replacing "ok" would garble texts


def redact_token(text: str, token: str) -> str:
    """Return ``text`` without ``token`` (unless the token is too short to be a secret)."""
    return text if len(token) < MIN_REDACTED_LENGTH else text.replace(token, REDACTED)


class HAsyncClient:
    """Client for one HAsync server; it takes an aiohttp session (Home Assistant's shared one)."""

    def __init__(
        self,
        url: str,
        token: str,
        session: aiohttp.ClientSession,
        *,
        request_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """Create a client for the server at ``url`` (http or https, any path prefix)."""
        base = URL(url).with_query(None).with_fragment(None)
        if base.scheme not in ("http", "https") or not base.host:
            raise ValueError("the URL must be http:// or https:// with a host")
        self._base = base.with_path(base.path.rstrip("/") + "/")
        self.url = str(self._base).rstrip("/")  # without a trailing slash
        self._token = token
        self._session = session
        self.request_timeout = request_timeout

    def _url(self, path: str) -> URL:
        return self._base.join(URL(path))

    def _get(self, path: str, accept: str, **kwargs: Any) -> _RequestContextManager:
        # Never redirected: the token would go along to wherever the redirect points.
        headers = {"Authorization": f"Bearer {self._token}", "Accept": accept}
        return self._session.get(self._url(path), headers=headers, allow_redirects=False, **kwargs)

    def redact(self, text: str) -> str:
        """Return ``text`` without the token (a server or a proxy may echo it back)."""
        return redact_token(text, self._token)

    async def status(self) -> StatusDocument:
        """Fetch and validate the status document."""
        with client_errors(f"no answer within {self.request_timeout:g} seconds", self.redact):
            async with asyncio.timeout(self.request_timeout):
                async with self._get("api/v1/status", "application/json") as response:
                    body = await read_answer(response)
            return parse_status(body, self.redact)

    def event_stream(self, *, idle_timeout: float = DEFAULT_IDLE_TIMEOUT) -> HAsyncEventStream:
        """Return the push stream; use it as ``async with client.event_stream() as stream``."""
        return HAsyncEventStream(self._open_events, idle_timeout=idle_timeout, redact=self.redact)

    async def _open_events(self) -> aiohttp.ClientResponse:
        timeout = self.request_timeout
        opening = f"the event stream did not open within {timeout:g} seconds"
        with client_errors(opening, self.redact):
            async with asyncio.timeout(timeout):
                # Endless: only connecting is bounded; the idle timeout bounds silence.
                endless = aiohttp.ClientTimeout(total=None, sock_connect=timeout)
                response = await self._get("api/v1/events", "text/event-stream", timeout=endless)
                if (kind := response.content_type) != "text/event-stream" or response.status != 200:
                    with contextlib.closing(response):
                        if response.status != 200:
                            await read_answer(response)  # raises the server's error
                    raise HAsyncInvalidResponseError(f"expected text/event-stream, got {kind}")
        return response
