"""The client's errors, all it raises: one printable line each, never holding the token."""

from collections.abc import Callable, Iterator, Mapping
import contextlib
import errno
import json
import math
import socket
from typing import Any, Final

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy

MAX_BODY_BYTES: Final = 1 << 20  # a status document is a few KiB
MAX_RETRY_AFTER: Final = 300.0  # seconds a 429 may impose (the server blocks for 60 s)
MAX_REASON_LENGTH: Final = 200  # of an error body quoted in a message
_UNREACHABLE: Final = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN}
type Redact = Callable[[str], str]  # takes the token out of a text


class HAsyncError(Exception):
    """Base class for every error of the HAsync client: the class says what went wrong."""


class HAsyncConnectionError(HAsyncError):
    """The connection to the server broke off before a complete answer arrived."""


class HAsyncConnectionRefusedError(HAsyncConnectionError):
    """Nothing accepts connections at the server's address and port."""


class HAsyncHostNotFoundError(HAsyncConnectionError):
    """The server's host name does not resolve."""


class HAsyncHostUnreachableError(HAsyncConnectionError):
    """There is no route to the server's host: it is off, or not on a reachable network."""


class HAsyncTLSError(HAsyncConnectionError):
    """The TLS handshake failed: an untrusted certificate, or https:// to a plain-HTTP server."""


class HAsyncProxyError(HAsyncConnectionError):
    """A proxy in front of the server answered 502 or 504: the server behind it did not."""

    def __init__(self, message: str, status: int) -> None:
        """Keep the proxy's HTTP status."""
        super().__init__(message)
        self.status = status


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
    """The server is up but cannot serve the request now (HTTP 503); the message is its reason."""


class HAsyncInvalidResponseError(HAsyncError):
    """The server answered with something that is not a valid v1 response."""


class HAsyncUnsupportedVersionError(HAsyncInvalidResponseError):
    """The server sends a status document of a ``schema_version`` this client does not read."""

    def __init__(self, message: str, version: str) -> None:
        """Keep the version the server sent (quoted, shortened)."""
        super().__init__(message)
        self.version = version


def _connection_error(err: aiohttp.ClientError, message: str) -> HAsyncConnectionError:
    os_error = err.os_error if isinstance(err, aiohttp.ClientConnectorError) else None
    if isinstance(err, aiohttp.ClientSSLError):
        return HAsyncTLSError(message)
    # Some resolvers raise a plain connector error around a gaierror instead of the DNS error.
    if isinstance(err, aiohttp.ClientConnectorDNSError) or isinstance(os_error, socket.gaierror):
        return HAsyncHostNotFoundError(message)
    if os_error is not None and os_error.errno == errno.ECONNREFUSED:
        return HAsyncConnectionRefusedError(message)
    if os_error is not None and os_error.errno in _UNREACHABLE:
        return HAsyncHostUnreachableError(message)
    return HAsyncConnectionError(message)


def excerpt(value: Any, limit: int = 40) -> str:
    """Quote a value the server sent, shortened: error messages stay one short line."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def one_line(text: str, limit: int = MAX_REASON_LENGTH) -> str:
    """Return ``text`` as one line of printable characters, at most ``limit`` long."""
    printable = "".join(char if char.isprintable() else " " for char in text[: limit * 4])
    line = " ".join(printable.split())
    return line if len(line) <= limit else f"{line[: limit - 1]}…"


@contextlib.contextmanager
def client_errors(timeout_message: str, redact: Redact) -> Iterator[None]:
    """Turn what asyncio and aiohttp raise into the client's errors, and keep the token out."""
    try:
        yield
    except TimeoutError as err:
        raise HAsyncTimeoutError(timeout_message) from err
    except aiohttp.ClientError as err:
        if isinstance(err, aiohttp.ClientResponseError):  # its repr shows the request headers
            err.request_info = err.request_info._replace(headers=CIMultiDictProxy(CIMultiDict()))
            err.args = (err.request_info, *err.args[1:])
        raise _connection_error(err, redact(one_line(str(err))) or type(err).__name__) from err
    except HAsyncError as err:
        err.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in err.args)
        raise


def _retry_after(response: aiohttp.ClientResponse, data: Mapping[str, Any]) -> float | None:
    header = response.headers.get("Retry-After", "").strip()
    # Delta-seconds only: ASCII digits (str.isdigit also takes "²" and other scripts).
    from_header = float(header) if header.isascii() and header.isdigit() else None
    for seconds in (data.get("retry_after_s"), from_header):  # the body's figure first
        if type(seconds) is int or (type(seconds) is float and not math.isnan(seconds)):
            return float(min(max(0, seconds), MAX_RETRY_AFTER))
    return None


async def read_answer(response: aiohttp.ClientResponse) -> bytes:
    """Return the body of a 200 answer; map any other to the client's errors, quoting its reason."""
    body = bytearray()
    async for chunk in response.content.iter_chunked(1 << 16):
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise HAsyncInvalidResponseError(f"the response is larger than {MAX_BODY_BYTES} bytes")
    if (status := response.status) == 200:
        return bytes(body)
    data = None
    with contextlib.suppress(ValueError, RecursionError):
        data = json.loads(body)
    if not isinstance(data, dict):  # a text or an HTML page: its text is the reason
        text = body[: MAX_REASON_LENGTH * 4].decode("utf-8", "replace")
        data = {"reason": one_line(text) or "empty body"}
    reason = data.get("reason") or data.get("error")
    reason = (isinstance(reason, str) and one_line(reason)) or "no reason given"
    if status in (401, 403):
        raise HAsyncAuthError(f"the server rejected the token: {reason}")
    if status == 429:
        raise HAsyncRateLimitedError(f"rate limited: {reason}", _retry_after(response, data))
    if status == 503:
        raise HAsyncServiceUnavailableError(reason)
    if status in (502, 504):
        raise HAsyncProxyError(f"HTTP {status} from a proxy in front of the server", status)
    raise HAsyncInvalidResponseError(f"unexpected HTTP status {status}: {reason}")
