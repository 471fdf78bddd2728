"""Async client for the HAsync server API (v1): typed status document, errors and push.

This module has no Home Assistant imports. It needs an aiohttp ClientSession (Home Assistant
injects its shared one) and implements the contract in addon/server/API.md:

- ``GET /api/v1/status`` returns the status document (``schema_version`` 1);
- ``GET /api/v1/events`` streams it as Server-Sent Events (``event: status``);
- every ``/api/v1`` route wants ``Authorization: Bearer <token>``; errors are
  ``{"error": <code>, "reason": <text>}`` with 401, 429 (+ ``retry_after_s``) and 503.

Parsing is strict about types (a string where a number belongs is an error, so are NaN and
infinity) and tolerant of fields it does not know. Values the server reports as ``null``
stay ``None``: "not measured" is never turned into 0.

Whatever the server sends, the client raises only ``HAsyncError`` subclasses (or returns a valid
document), and its error messages are one short line: they quote the server's values in
excerpts, never carry control characters, and never contain the token.
"""

import asyncio
import codecs
from collections import deque
from collections.abc import Callable, Mapping
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
import json
import logging
import math
import re
from types import TracebackType
from typing import Any, Final, Self

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

_LOGGER = logging.getLogger(__name__)

SCHEMA_VERSION: Final = 1
STATUS_PATH: Final = "api/v1/status"
EVENTS_PATH: Final = "api/v1/events"
MAX_BODY_BYTES: Final = 1 << 20
"""A status document is a few KiB; anything past this is not one."""
MAX_EVENT_BYTES: Final = 1 << 20
"""Longest SSE line or event data the decoder buffers before giving up on the stream."""
DEFAULT_TIMEOUT: Final = 10.0
DEFAULT_IDLE_TIMEOUT: Final = 75.0
"""The server sends a document at least every 30 s; silence this long means a dead stream."""
MAX_SAFE_INTEGER: Final = 2**53 - 1
"""Largest integer a JavaScript number holds exactly; the server cannot mean a larger one."""
MAX_NAME_LENGTH: Final = 255
"""Longest version, instance id or check name: versions become entity states (255 at most)."""
MAX_RETRY_AFTER: Final = 300.0
"""Longest wait a 429 can impose, in seconds (the server blocks an address for 60 s)."""
MAX_REASON_LENGTH: Final = 200
"""Longest excerpt of an error body quoted in an error message."""
NATIVE_MODULE_NAMES: Final = ("bcrypt", "better-sqlite3")
"""The native modules of schema version 1, validated strictly; other names are best effort."""
REDACTED: Final = "**REDACTED**"
MIN_REDACTED_LENGTH: Final = 8
"""Shorter tokens are not removed from texts: they would garble ordinary values (a token "ok"
would rewrite every status), and are no secret worth that."""


def redact_token(text: str, token: str) -> str:
    """Return ``text`` without ``token`` (unless the token is too short to be a secret)."""
    if len(token) < MIN_REDACTED_LENGTH:
        return text
    return text.replace(token, REDACTED)


# --------------------------------------------------------------------------------------
# Errors


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


# --------------------------------------------------------------------------------------
# Models


class OverallStatus(StrEnum):
    """The server's verdict over all checks."""

    OK = "ok"
    DEGRADED = "degraded"
    ERROR = "error"


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerInfo:
    """Identity of the server process."""

    version: str
    instance_id: str | None
    """None while the server's database is unavailable (the id is stored there)."""
    started_at: datetime
    uptime_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    """One named self-check (node, bcrypt, better-sqlite3, database, frontend)."""

    name: str
    ok: bool
    critical: bool
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeInfo:
    """The Node.js runtime the server runs on."""

    version: str
    major: int
    min_major: int
    supported: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class NativeModule:
    """Load and self-test result of one native module."""

    loaded: bool
    version: str | None
    self_test_ok: bool | None
    error: str | None
    checked_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessStats:
    """Figures of the server process."""

    rss_bytes: int | None
    heap_used_bytes: int | None
    heap_total_bytes: int | None
    cpu_percent: float | None
    event_loop_delay_p99_ms: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerStats:
    """Figures of the container, from cgroups; all None without a cgroup."""

    cgroup: str | None
    memory_used_bytes: int | None
    memory_limit_bytes: int | None
    memory_percent: float | None
    cpu_percent: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DatabaseInfo:
    """State of the server's SQLite database."""

    ok: bool
    path: str | None
    size_bytes: int | None
    journal_mode: str | None
    integrity: str | None
    integrity_checked_at: datetime | None
    error: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class FrontendInfo:
    """The ingress page build."""

    present: bool
    build_id: str | None
    built_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryStats:
    """Figures the server derives from its own sample history; None until enough samples."""

    availability_24h_percent: float | None
    availability_7d_percent: float | None
    memory_growth_mib_per_hour: float | None
    growth_window_hours: float | None
    samples: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusDocument:
    """The status document of ``GET /api/v1/status`` and of every pushed ``status`` event."""

    schema_version: int
    server: ServerInfo
    status: OverallStatus
    checks: tuple[Check, ...]
    node: NodeInfo
    native_modules: Mapping[str, NativeModule]
    process: ProcessStats
    container: ContainerStats
    database: DatabaseInfo
    frontend: FrontendInfo
    history: HistoryStats

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        """Validate a decoded JSON document; raise HAsyncInvalidResponseError if it is not one."""
        doc = _Object(data, "")
        version = doc.req_int("schema_version")
        if version != SCHEMA_VERSION:
            raise HAsyncInvalidResponseError(
                f"unsupported schema_version {_excerpt(version)}: this integration understands "
                f"version {SCHEMA_VERSION}; update the integration or the add-on so they match"
            )
        server = doc.req_object("server")
        status = doc.req_str("status")
        if status not in _STATUSES:
            raise HAsyncInvalidResponseError(
                f"status: unknown value {_excerpt(status)} (expected ok, degraded or error)"
            )
        overall = OverallStatus(status)
        node = doc.req_object("node")
        process = doc.req_object("process")
        container = doc.req_object("container")
        database = doc.req_object("database")
        frontend = doc.req_object("frontend")
        history = doc.req_object("history")
        modules = _native_modules(doc.req_object("native_modules"))
        return cls(
            schema_version=version,
            server=ServerInfo(
                version=server.req_name("version"),
                instance_id=server.opt_name("instance_id"),
                started_at=server.req_datetime("started_at"),
                uptime_s=server.req_float("uptime_s", _COUNT),
            ),
            status=overall,
            checks=tuple(
                Check(
                    name=check.req_name("name"),
                    ok=check.req_bool("ok"),
                    critical=check.req_bool("critical"),
                    message=check.req_str("message"),
                )
                for check in doc.req_object_list("checks")
            ),
            node=NodeInfo(
                version=node.req_name("version"),
                major=node.req_int("major"),
                min_major=node.req_int("min_major"),
                supported=node.req_bool("supported"),
            ),
            native_modules=modules,
            process=ProcessStats(
                rss_bytes=process.opt_int("rss_bytes", _COUNT),
                heap_used_bytes=process.opt_int("heap_used_bytes", _COUNT),
                heap_total_bytes=process.opt_int("heap_total_bytes", _COUNT),
                cpu_percent=process.opt_float("cpu_percent", _PERCENT),
                event_loop_delay_p99_ms=process.opt_float("event_loop_delay_p99_ms", _COUNT),
            ),
            container=ContainerStats(
                cgroup=container.opt_str("cgroup"),
                memory_used_bytes=container.opt_int("memory_used_bytes", _COUNT),
                memory_limit_bytes=container.opt_int("memory_limit_bytes", _COUNT),
                memory_percent=container.opt_float("memory_percent", _COUNT),
                cpu_percent=container.opt_float("cpu_percent", _PERCENT),
            ),
            database=DatabaseInfo(
                ok=database.req_bool("ok"),
                path=database.opt_str("path"),
                size_bytes=database.opt_int("size_bytes", _COUNT),
                journal_mode=database.opt_str("journal_mode"),
                integrity=database.opt_str("integrity"),
                integrity_checked_at=database.opt_datetime("integrity_checked_at"),
                error=database.opt_str("error"),
            ),
            frontend=FrontendInfo(
                present=frontend.req_bool("present"),
                build_id=frontend.opt_str("build_id"),
                built_at=frontend.opt_datetime("built_at"),
            ),
            history=HistoryStats(
                availability_24h_percent=history.opt_float("availability_24h_percent", _PERCENT),
                availability_7d_percent=history.opt_float("availability_7d_percent", _PERCENT),
                memory_growth_mib_per_hour=history.opt_float("memory_growth_mib_per_hour"),
                growth_window_hours=history.opt_float("growth_window_hours", (0, 24)),
                samples=history.opt_int("samples", _COUNT),
            ),
        )

    def check(self, name: str) -> Check | None:
        """Return the check with this name, or None if the server did not report it."""
        return next((check for check in self.checks if check.name == name), None)

    @property
    def failing_checks(self) -> list[str]:
        """Names of the checks that fail, in the server's order."""
        return [check.name for check in self.checks if not check.ok]


_STATUSES: Final = frozenset(status.value for status in OverallStatus)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "boolean",
        int: "number",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
    }.get(type(value), type(value).__name__)


def _excerpt(value: Any, limit: int = 40) -> str:
    """Quote a value the server sent, shortened: error messages stay one short line."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def _one_line(text: str, limit: int = MAX_REASON_LENGTH) -> str:
    """Return ``text`` as one line of printable characters, at most ``limit`` long."""
    printable = "".join(char if char.isprintable() else " " for char in text[: limit * 4])
    line = " ".join(printable.split())
    return line if len(line) <= limit else f"{line[: limit - 1]}…"


type _Bounds = tuple[float | None, float | None]
"""Inclusive minimum and maximum of a number (None: unbounded), as the schema gives them."""
_ANY: Final[_Bounds] = (None, None)
_COUNT: Final[_Bounds] = (0, None)
"""Bytes, samples, durations: never negative."""
_PERCENT: Final[_Bounds] = (0, 100)
"""Shares of a capacity (CPU, availability); the server clamps them."""


def _range_text(bounds: _Bounds) -> str:
    minimum, maximum = bounds
    if maximum is None:
        return f"at least {minimum:g}"
    return f"{minimum:g} to {maximum:g}"


_MODULE_NAME = re.compile(r"[A-Za-z0-9@/._-]{1,64}")


def _native_module(module: _Object) -> NativeModule:
    return NativeModule(
        loaded=module.req_bool("loaded"),
        version=module.opt_str("version"),
        self_test_ok=module.opt_bool("self_test_ok"),
        error=module.opt_str("error"),
        checked_at=module.opt_datetime("checked_at"),
    )


def _native_modules(modules: _Object) -> dict[str, NativeModule]:
    """Validate the modules of schema version 1 strictly; take others only if they are valid.

    A newer server may report more modules, and the rules judge every module reported. A
    module of another name counts only when its name looks like a package name and its entry
    is a valid module object; anything else there is an unknown field and ignored.
    """
    parsed: dict[str, NativeModule] = {}
    for name, value in modules.items():
        where = modules.where(name)
        if name in NATIVE_MODULE_NAMES:
            parsed[name] = _native_module(_Object(value, where))
            continue
        if not _MODULE_NAME.fullmatch(name):
            continue
        try:
            parsed[name] = _native_module(_Object(value, where))
        except HAsyncInvalidResponseError as err:
            _LOGGER.debug("Ignoring the unknown native module %s: %s", name, err)
    return parsed


class _Object:
    """A JSON object being validated; every accessor names the path of a bad value."""

    __slots__ = ("_data", "_path")

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, dict):
            raise HAsyncInvalidResponseError(
                f"{path or 'document'}: expected an object, got {_type_name(data)}"
            )
        self._data: dict[str, Any] = data
        self._path = path

    def where(self, key: str) -> str:
        """Return the path of a member, for error messages."""
        return f"{self._path}.{key}" if self._path else key

    def items(self) -> list[tuple[str, Any]]:
        """Return the members."""
        return list(self._data.items())

    def _wrong(self, key: str, expected: str, value: Any) -> HAsyncInvalidResponseError:
        return HAsyncInvalidResponseError(
            f"{self.where(key)}: expected {expected}, got {_type_name(value)}"
        )

    def _required(self, key: str) -> Any:
        if key not in self._data:
            raise HAsyncInvalidResponseError(f"{self.where(key)}: missing")
        value = self._data[key]
        if value is None:
            raise HAsyncInvalidResponseError(f"{self.where(key)}: must not be null")
        return value

    def req_object(self, key: str) -> _Object:
        return _Object(self._required(key), self.where(key))

    def req_object_list(self, key: str) -> list[_Object]:
        value = self._required(key)
        if not isinstance(value, list):
            raise self._wrong(key, "an array", value)
        return [_Object(item, f"{self.where(key)}[{index}]") for index, item in enumerate(value)]

    def req_str(self, key: str) -> str:
        return self._str(key, self._required(key))

    def opt_str(self, key: str) -> str | None:
        value = self._data.get(key)
        return None if value is None else self._str(key, value)

    def _str(self, key: str, value: Any) -> str:
        if not isinstance(value, str):
            raise self._wrong(key, "a string", value)
        if not value.isascii():
            try:
                value.encode()
            except UnicodeEncodeError:
                # A lone surrogate (\ud800 in JSON): no text, and Home Assistant's JSON
                # encoder (states, diagnostics, the recorder) would fail on it later.
                raise HAsyncInvalidResponseError(
                    f"{self.where(key)}: not valid Unicode text"
                ) from None
        return value

    def req_name(self, key: str) -> str:
        return self._name(key, self._required(key))

    def opt_name(self, key: str) -> str | None:
        value = self._data.get(key)
        return None if value is None else self._name(key, value)

    def _name(self, key: str, value: Any) -> str:
        """Validate a short string: a version, id or name (they become states, ids, attributes)."""
        text = self._str(key, value)
        if len(text) > MAX_NAME_LENGTH:
            raise HAsyncInvalidResponseError(
                f"{self.where(key)}: longer than {MAX_NAME_LENGTH} characters"
            )
        return text

    def req_bool(self, key: str) -> bool:
        return self._bool(key, self._required(key))

    def opt_bool(self, key: str) -> bool | None:
        value = self._data.get(key)
        return None if value is None else self._bool(key, value)

    def _bool(self, key: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self._wrong(key, "a boolean", value)
        return value

    def req_float(self, key: str, bounds: _Bounds = _ANY) -> float:
        return self._float(key, self._required(key), bounds)

    def opt_float(self, key: str, bounds: _Bounds = _ANY) -> float | None:
        value = self._data.get(key)
        return None if value is None else self._float(key, value, bounds)

    def _float(self, key: str, value: Any, bounds: _Bounds = _ANY) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._wrong(key, "a number", value)
        try:
            number = float(value)
        except OverflowError:
            number = math.inf  # an integer beyond the largest double
        if not math.isfinite(number):
            raise HAsyncInvalidResponseError(f"{self.where(key)}: not a finite number")
        minimum, maximum = bounds
        if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
            raise HAsyncInvalidResponseError(
                f"{self.where(key)}: {_excerpt(value)} is out of range ({_range_text(bounds)})"
            )
        return number

    def req_int(self, key: str, bounds: _Bounds = _ANY) -> int:
        return self._int(key, self._required(key), bounds)

    def opt_int(self, key: str, bounds: _Bounds = _ANY) -> int | None:
        value = self._data.get(key)
        return None if value is None else self._int(key, value, bounds)

    def _int(self, key: str, value: Any, bounds: _Bounds = _ANY) -> int:
        # JavaScript has one number type: 5 and 5.0 are the same value there.
        number = self._float(key, value, bounds)
        if not number.is_integer():
            raise self._wrong(key, "an integer", value)
        if abs(value) > MAX_SAFE_INTEGER:
            raise HAsyncInvalidResponseError(
                f"{self.where(key)}: beyond the integers a JavaScript number holds exactly"
            )
        return value if isinstance(value, int) else int(number)

    def req_datetime(self, key: str) -> datetime:
        return self._datetime(key, self._required(key))

    def opt_datetime(self, key: str) -> datetime | None:
        value = self._data.get(key)
        return None if value is None else self._datetime(key, value)

    def _datetime(self, key: str, value: Any) -> datetime:
        text = self._str(key, value)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise HAsyncInvalidResponseError(
                f"{self.where(key)}: not an ISO-8601 time: {_excerpt(text)}"
            ) from None
        if parsed.tzinfo is None:
            raise HAsyncInvalidResponseError(f"{self.where(key)}: time without a time zone")
        try:
            return parsed.astimezone(UTC)
        except OverflowError:  # 0001-01-01T00:00+05:00 is in year 0 in UTC
            raise HAsyncInvalidResponseError(
                f"{self.where(key)}: outside the years 1 to 9999 in UTC"
            ) from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(body: bytes | str) -> Any:
    """Decode JSON strictly: NaN and Infinity, which Python would accept, are errors."""
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except ValueError as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise HAsyncInvalidResponseError(
            f"the body is not valid JSON: {_one_line(str(err))}"
        ) from None
    except RecursionError:
        raise HAsyncInvalidResponseError("the body is not valid JSON: nested too deeply") from None


def parse_status(body: bytes | str, redact: Callable[[str], str] | None = None) -> StatusDocument:
    """Parse a status document from its JSON text.

    ``redact`` cleans every string (keys too) before the model is built: a server that echoes
    the token in a document does not get it into the model, nor into anything shown from it.
    """
    data = parse_json(body)
    return StatusDocument.from_dict(data if redact is None else _redact_json(data, redact))


def _redact_json(value: Any, redact: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(key): _redact_json(item, redact) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact_json(item, redact) for item in value]
    return value


# --------------------------------------------------------------------------------------
# HTTP


def _error_details(body: bytes) -> tuple[str, dict[str, Any]]:
    """Return the reason text of an error body and the body as an object (or empty)."""
    try:
        data = json.loads(body)
    except ValueError, RecursionError:
        data = None
    if isinstance(data, dict):
        reason = data.get("reason") or data.get("error")
        if isinstance(reason, str) and (line := _one_line(reason)):
            return line, data
        return "no reason given", data
    text = _one_line(body[: MAX_REASON_LENGTH * 4].decode("utf-8", "replace"))
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


def _raise_for_status(status: int, headers: Mapping[str, str], body: bytes) -> None:
    """Map a non-200 answer of the server to the client's errors."""
    if status == 200:
        return
    reason, data = _error_details(body)
    if status in (401, 403):
        raise HAsyncAuthError(f"the server rejected the token: {reason}")
    if status == 429:
        retry_after = _retry_after(headers, data)
        raise HAsyncRateLimitedError(f"rate limited: {reason}", retry_after)
    if status == 503:
        raise HAsyncServiceUnavailableError(reason)
    if status in (502, 504):
        raise HAsyncConnectionError(f"HTTP {status} from a proxy in front of the server")
    raise HAsyncInvalidResponseError(f"unexpected HTTP status {status}: {reason}")


def _without_headers(err: aiohttp.ClientError) -> aiohttp.ClientError:
    """Drop the request headers an aiohttp error carries (its repr shows the token); return it.

    The error stays chained to ours for debugging, without the Authorization header.
    """
    if isinstance(err, aiohttp.ClientResponseError):
        info = err.request_info
        err.request_info = aiohttp.RequestInfo(
            info.url, info.method, CIMultiDictProxy(CIMultiDict()), info.real_url
        )
        err.args = (err.request_info, *err.args[1:])
    return err


async def _read_limited(response: aiohttp.ClientResponse, limit: int) -> bytes:
    body = bytearray()
    async for chunk in response.content.iter_chunked(1 << 16):
        body += chunk
        if len(body) > limit:
            raise HAsyncInvalidResponseError(f"the response is larger than {limit} bytes")
    return bytes(body)


class HAsyncClient:
    """Client for one HAsync server."""

    def __init__(
        self,
        url: str,
        token: str,
        session: aiohttp.ClientSession,
        *,
        request_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """Create a client for the server at ``url`` (http or https, any path prefix)."""
        base = URL(url)
        if base.scheme not in ("http", "https") or not base.host:
            raise ValueError("the URL must be http:// or https:// with a host")
        self._base = (
            base.with_path(base.path.rstrip("/") + "/").with_query(None).with_fragment(None)
        )
        self._token = token
        self._session = session
        self.request_timeout = request_timeout

    @property
    def url(self) -> str:
        """The base URL of the server, without a trailing slash."""
        return str(self._base).rstrip("/")

    def _url(self, path: str) -> URL:
        return self._base.join(URL(path))

    def _headers(self, accept: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}", "Accept": accept}

    def redact(self, text: str) -> str:
        """Return ``text`` without the token (a server or a proxy may echo it back)."""
        return redact_token(text, self._token)

    async def status(self) -> StatusDocument:
        """Fetch and validate the status document."""
        try:
            return await self._status()
        except HAsyncError as err:
            _redact_error(err, self.redact)
            raise

    async def _status(self) -> StatusDocument:
        url = self._url(STATUS_PATH)
        try:
            async with (
                asyncio.timeout(self.request_timeout),
                self._session.get(
                    url, headers=self._headers("application/json"), allow_redirects=False
                ) as response,
            ):
                body = await _read_limited(response, MAX_BODY_BYTES)
                status, headers = response.status, response.headers
        except TimeoutError as err:
            raise HAsyncTimeoutError(f"no answer within {self.request_timeout:g} seconds") from err
        except aiohttp.ClientError as err:
            raise HAsyncConnectionError(
                _one_line(str(err)) or type(err).__name__
            ) from _without_headers(err)
        _raise_for_status(status, headers, body)
        return parse_status(body, self.redact)

    def event_stream(self, *, idle_timeout: float = DEFAULT_IDLE_TIMEOUT) -> HAsyncEventStream:
        """Return the push stream; use it as ``async with client.event_stream() as stream``."""
        return HAsyncEventStream(
            self._session,
            self._url(EVENTS_PATH),
            self._headers("text/event-stream"),
            connect_timeout=self.request_timeout,
            idle_timeout=idle_timeout,
            redact=self.redact,
        )


def _redact_error(err: HAsyncError, redact: Callable[[str], str]) -> None:
    """Remove the token from the message of an error, in place."""
    err.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in err.args)


# --------------------------------------------------------------------------------------
# Server-Sent Events


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched Server-Sent Event."""

    event: str
    data: str
    id: str | None


_LINE_END = re.compile(r"\r\n|\r|\n")


class SSEDecoder:
    """Incremental Server-Sent Events parser, following the WHATWG rules.

    Lines end in CRLF, LF or CR (also when a CRLF pair is split across chunks); ``:`` starts
    a comment; ``data`` lines join with newlines; ``id`` and ``retry`` are remembered; an
    event is dispatched at a blank line and only if it has data.
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

        Only the new text is scanned, and an unfinished line is joined once it ends: a line
        trickling in by small chunks costs linear time, not quadratic.

        A line or an event's data over the size limit ends the stream: the events completed
        before it are returned, and this call (if it completed none) or the next raises
        HAsyncInvalidResponseError. So how the bytes are split never changes the outcome.
        """
        self.raise_for_error()
        events: list[SSEEvent] = []
        try:
            self._feed(chunk, events)
        except HAsyncInvalidResponseError as err:
            self._error = err
            if not events:
                raise
        return events

    def _feed(self, chunk: bytes, events: list[SSEEvent]) -> None:
        text = self._decoder.decode(chunk)
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
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
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
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry" and value.isascii() and value.isdigit() and len(value) <= 10:
            self.retry_ms = int(value)
        return None

    def _dispatch(self) -> SSEEvent | None:
        event_type, data = self._event or "message", self._data
        self._event, self._data, self._data_size = "", [], 0
        if not data:
            return None
        return SSEEvent(event_type, "\n".join(data), self.last_event_id)


async def _check_stream_response(response: aiohttp.ClientResponse) -> None:
    if response.status != 200:
        body = await _read_limited(response, MAX_BODY_BYTES)
        _raise_for_status(response.status, response.headers, body)
    if response.content_type != "text/event-stream":
        raise HAsyncInvalidResponseError(f"expected text/event-stream, got {response.content_type}")


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
        self._session = session
        self._url = url
        self._request_headers = headers
        self._connect_timeout = connect_timeout
        self._idle_timeout = idle_timeout
        self._redact = redact
        self._response: aiohttp.ClientResponse | None = None
        self.decoder = SSEDecoder()
        self._pending: deque[SSEEvent] = deque()

    async def __aenter__(self) -> Self:
        """Connect; raise the client's errors if the server does not open a stream."""
        try:
            await self._open()
        except HAsyncError as err:
            _redact_error(err, self._redact)
            raise
        return self

    async def _open(self) -> None:
        try:
            async with asyncio.timeout(self._connect_timeout):
                response = await self._session.get(
                    self._url,
                    headers=self._request_headers,
                    allow_redirects=False,
                    # The stream is endless: only connecting is bounded here, and silence
                    # is bounded per read by the idle timeout.
                    timeout=aiohttp.ClientTimeout(total=None, sock_connect=self._connect_timeout),
                )
                try:
                    await _check_stream_response(response)
                except BaseException:
                    response.close()
                    raise
        except TimeoutError as err:
            raise HAsyncTimeoutError(
                f"the event stream did not open within {self._connect_timeout:g} seconds"
            ) from err
        except aiohttp.ClientError as err:
            raise HAsyncConnectionError(
                _one_line(str(err)) or type(err).__name__
            ) from _without_headers(err)
        self._response = response

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
                message = self._redact(_one_line(str(err)))
                raise HAsyncConnectionError(message or type(err).__name__) from _without_headers(
                    err
                )
            if not chunk:
                return None
            self._pending.extend(self.decoder.feed(chunk))
        return self._pending.popleft()


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

    After a connection ends or fails it waits with exponential backoff (``min_backoff``
    doubling up to ``max_backoff``; back to ``min_backoff`` after a connection that delivered
    a valid document) and connects again, until it is cancelled.

    ``on_disconnect`` tells the owner that the server may be gone, so it can check at once:
    it runs when an open stream ends, and once more if the first attempt to reopen it cannot
    reach the server (a server shutting down may end its streams a moment before it stops
    answering). It runs again only after a stream was open again, so it cannot loop.

    A 401 ends the listener: retrying a rejected token only feeds the server's rate limiter.
    """

    def __init__(
        self,
        client: HAsyncClient,
        *,
        on_status: Callable[[StatusDocument], None],
        on_disconnect: Callable[[], None] | None = None,
        min_backoff: float = 1.0,
        max_backoff: float = 60.0,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        redact: Callable[[str], str] | None = None,
    ) -> None:
        """Set the callbacks and the backoff policy; ``redact`` defaults to the client's."""
        self._client = client
        self._redact = client.redact if redact is None else redact
        self._on_status = on_status
        self._on_disconnect = on_disconnect
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
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
        delay = self._min_backoff
        while True:
            extra_delay = 0.0
            self._wake.clear()
            self._delivered = False
            try:
                await self._listen_once()
                self.state.last_error = "the server closed the stream"
            except HAsyncAuthError as err:
                self.state.last_error = str(err)
                self._stream_ended()
                self.state.stopped = "the server rejected the token"
                _LOGGER.debug("Stopping the HAsync event stream: %s", err)
                return
            except HAsyncConnectionError as err:
                self.state.last_error = str(err)
                if not self.state.connected and self._armed:
                    # The first attempt to reopen a lost stream cannot reach the server.
                    self._armed = False
                    self._notify_disconnect()
            except HAsyncRateLimitedError as err:
                extra_delay = err.retry_after or 0.0
                self.state.last_error = str(err)
            except HAsyncError as err:
                self.state.last_error = str(err)
            except Exception as err:
                # A bug here must not end push for good; report it and carry on.
                _LOGGER.exception("Unexpected error on the HAsync event stream")
                self.state.last_error = repr(err)
            self._stream_ended()
            if self._delivered:
                delay = self._min_backoff
            wait = max(delay, extra_delay)
            _LOGGER.debug(
                "HAsync event stream down (%s); reconnecting in %.1f s", self.state.last_error, wait
            )
            self.state.next_attempt_in_s = wait
            await self._sleep(wait)
            self.state.next_attempt_in_s = None
            delay = min(delay * 2, self._max_backoff)

    async def _sleep(self, seconds: float) -> None:
        """Wait out the backoff delay, or less if reconnect_now() is called."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()

    async def _listen_once(self) -> None:
        async with self._client.event_stream(idle_timeout=self._idle_timeout) as stream:
            self.state.connected = True
            self._armed = True
            self.state.connections += 1
            self.state.last_error = None
            _LOGGER.debug("HAsync event stream open")
            while (event := await stream.next_event()) is not None:
                self.state.server_retry_ms = stream.decoder.retry_ms
                self._handle(event)

    def _handle(self, event: SSEEvent) -> None:
        self.state.events += 1
        self.state.last_event_at = datetime.now(UTC)
        self.state.last_event_id = event.id
        if event.event != "status":
            _LOGGER.debug("Ignoring HAsync event of type %r", event.event)
            return
        try:
            document = parse_status(event.data, self._redact)
        except HAsyncInvalidResponseError as err:
            self.state.invalid_events += 1
            _LOGGER.debug("Skipping an invalid pushed status document: %s", self._redact(str(err)))
            return
        self._delivered = True
        try:
            self._on_status(document)
        except Exception:
            _LOGGER.exception("Error handling a pushed HAsync status document")

    def _stream_ended(self) -> None:
        if not self.state.connected:
            return
        self.state.connected = False
        self.state.disconnects += 1
        self._notify_disconnect()

    def _notify_disconnect(self) -> None:
        if self._on_disconnect is not None:
            try:
                self._on_disconnect()
            except Exception:
                _LOGGER.exception("Error handling the end of the HAsync event stream")
