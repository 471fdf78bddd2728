"""The client's errors, and how an HTTP answer that is not a document becomes one.

Whatever the server sends, the client raises only these (or returns a valid document). Their
messages are one short line: they quote the server's values in excerpts, carry no control
characters and never the token (see ``redact_error``).
"""

from collections.abc import Callable, Mapping
import json
import math
from typing import Any, Final

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy

MAX_RETRY_AFTER: Final = 300.0
"""Longest wait a 429 can impose, in seconds (the server blocks an address for 60 s)."""
MAX_REASON_LENGTH: Final = 200
"""Longest excerpt of an error body quoted in an error message."""


class HAsyncError(Exception):
    """Base class for every error of the HAsync client."""


class HAsyncConnectionError(HAsyncError):
    """The server could not be reached, or the connection broke."""


class HAsyncTimeoutError(HAsyncConnectionError):
    """The server did not answer in time."""


class HAsyncAuthError(HAsyncError):
    """The server rejected the token (HTTP 401/403)."""


class HAsyncRateLimitedError(HAsyncError):
    """The server is rate limiting this client (HTTP 429)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        """Store the delay the server asked for, in seconds, if it gave one."""
        super().__init__(message)
        self.retry_after = retry_after


class HAsyncServiceUnavailableError(HAsyncError):
    """The server is up but cannot serve the request now (HTTP 503)."""


class HAsyncInvalidResponseError(HAsyncError):
    """The server answered with something that is not a valid v1 response."""


def excerpt(value: Any, limit: int = 40) -> str:
    """Quote a value the server sent, shortened: error messages stay one short line."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def one_line(text: str, limit: int = MAX_REASON_LENGTH) -> str:
    """Return ``text`` as one line of printable characters, at most ``limit`` long."""
    printable = "".join(char if char.isprintable() else " " for char in text[: limit * 4])
    line = " ".join(printable.split())
    return line if len(line) <= limit else f"{line[: limit - 1]}…"


def redact_error(err: HAsyncError, redact: Callable[[str], str]) -> None:
    """Remove the token from the message of an error, in place."""
    err.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in err.args)


def connection_error(err: aiohttp.ClientError) -> HAsyncConnectionError:
    """Wrap an aiohttp error; drop the request headers its repr shows (the token) from it.

    Raise the result ``from err``: the aiohttp error stays chained for debugging.
    """
    if isinstance(err, aiohttp.ClientResponseError):
        info = err.request_info
        err.request_info = aiohttp.RequestInfo(
            info.url, info.method, CIMultiDictProxy(CIMultiDict()), info.real_url
        )
        err.args = (err.request_info, *err.args[1:])
    return HAsyncConnectionError(one_line(str(err)) or type(err).__name__)


async def read_limited(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """Read a body, refusing one larger than ``limit`` bytes."""
    body = bytearray()
    async for chunk in response.content.iter_chunked(1 << 16):
        body += chunk
        if len(body) > limit:
            raise HAsyncInvalidResponseError(f"the response is larger than {limit} bytes")
    return bytes(body)


def _error_details(body: bytes) -> tuple[str, dict[str, Any]]:
    """Return the reason text of an error body and the body as an object (or empty)."""
    try:
        data = json.loads(body)
    except ValueError, RecursionError:
        data = None
    if isinstance(data, dict):
        reason = data.get("reason") or data.get("error")
        if isinstance(reason, str) and (line := one_line(reason)):
            return line, data
        return "no reason given", data
    text = one_line(body[: MAX_REASON_LENGTH * 4].decode("utf-8", "replace"))
    return (text or "empty body"), {}


def _retry_after(headers: Mapping[str, str], data: Mapping[str, Any]) -> float | None:
    """Return the delay a 429 asks for, between 0 and MAX_RETRY_AFTER seconds, if it gives one."""
    value = data.get("retry_after_s")
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:
            seconds = math.inf
        if math.isnan(seconds):
            seconds = None
    if seconds is None:
        header = headers.get("Retry-After", "").strip()
        # Delta-seconds only: ASCII digits (str.isdigit also takes "²" and other scripts).
        if header.isascii() and header.isdigit():
            seconds = float(header) if len(header) < 10 else math.inf
    return None if seconds is None else min(max(0.0, seconds), MAX_RETRY_AFTER)


def raise_for_status(status: int, headers: Mapping[str, str], body: bytes) -> None:
    """Map a non-200 answer of the server to the client's errors."""
    if status == 200:
        return
    reason, data = _error_details(body)
    if status in (401, 403):
        raise HAsyncAuthError(f"the server rejected the token: {reason}")
    if status == 429:
        raise HAsyncRateLimitedError(f"rate limited: {reason}", _retry_after(headers, data))
    if status == 503:
        raise HAsyncServiceUnavailableError(reason)
    if status in (502, 504):
        raise HAsyncConnectionError(f"HTTP {status} from a proxy in front of the server")
    raise HAsyncInvalidResponseError(f"unexpected HTTP status {status}: {reason}")
