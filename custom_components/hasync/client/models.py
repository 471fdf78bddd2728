"""The status document (``schema_version`` 1): models whose fields declare strict JSON rules."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
import json
import logging
import math
import re
from typing import TYPE_CHECKING, Any, Final, Self

from .errors import HAsyncInvalidResponseError, HAsyncUnsupportedVersionError, excerpt, one_line

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

_LOGGER = logging.getLogger(__name__)
SCHEMA_VERSION: Final = 1
MAX_SAFE_INTEGER: Final = 2**53 - 1  # what a JavaScript number holds exactly
MAX_NAME_LENGTH: Final = 255  # versions, ids, check names: versions become entity states
MAX_MESSAGE_LENGTH: Final = 200  # the last error message the server shows
NATIVE_MODULE_NAMES: Final = ("bcrypt", "better-sqlite3")  # others count only if valid
SOURCES: Final = ("container", "process")
_TYPES: Final = {bool: "boolean", int: "number", float: "number", str: "string", list: "array"}
_LONE_SURROGATE: Final = re.compile("[\ud800-\udfff]")  # \ud800 in JSON: breaks HA's JSON encoder


@dataclass(frozen=True, slots=True, kw_only=True)
class Spec:
    """What the client accepts for one member of a JSON object, and how it reads it."""

    kind: str  # integer, number, boolean, string, date-time, object, array or map
    required: bool = True
    nullable: bool = False
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    values: tuple[Any, ...] | None = None  # an enum or a const, read as these objects
    model: Any = None  # of an object, of an array's items, of a map's values
    keys: tuple[str, ...] = ()  # a map's known keys: strict; others only if valid
    key_pattern: str | None = None

    def read(self, data: dict[str, Any], name: str, where: str) -> Any:
        """Read the member ``name`` of ``data``; raise an error that names its path."""
        path = f"{where}.{name}" if where else name
        if (value := data.get(name)) is None:
            if self.nullable or (name not in data and not self.required):
                return None
            raise _invalid(path, "must not be null" if name in data else "missing")
        read = self._read(value, path)
        if self.values is not None and read not in self.values:
            named = [str(choice) for choice in self.values if choice is not None]
            expected = " or ".join((", ".join(named[:-1]), named[-1])) if named[1:] else named[0]
            raise _invalid(path, f"unknown value {excerpt(value)} (expected {expected})")
        return read if self.values is None else self.values[self.values.index(read)]

    def _read(self, value: Any, path: str) -> Any:
        match self.kind:
            case "boolean" if isinstance(value, bool):
                return value
            case "string" | "date-time" if isinstance(value, str):
                return self._text(value, path)
            case "integer" | "number" if type(value) in (int, float):  # not bool
                return self._number(value, path)
            case "object":
                return read_model(self.model, value, path)
            case "array" if isinstance(value, list):
                return tuple(read_model(self.model, v, f"{path}[{i}]") for i, v in enumerate(value))
            case "map":
                return self._map(_object(value, path), path)
        expected = {"date-time": "string", "integer": "number"}.get(self.kind, self.kind)
        raise _wrong(path, f"{'an' if expected == 'array' else 'a'} {expected}", value)

    def _text(self, value: str, path: str) -> str | datetime:
        if not value.isascii() and _LONE_SURROGATE.search(value):
            raise _invalid(path, "not valid Unicode text")
        if self.max_length is not None and len(value) > self.max_length:
            raise _invalid(path, f"longer than {self.max_length} characters")
        if self.kind == "string":
            return value
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise _invalid(path, f"not an ISO-8601 time: {excerpt(value)}") from None
        if moment.tzinfo is None:
            raise _invalid(path, "time without a time zone")
        try:
            return moment.astimezone(UTC)
        except OverflowError:  # 0001-01-01T00:00+05:00 is in year 0 in UTC
            raise _invalid(path, "outside the years 1 to 9999 in UTC") from None

    def _number(self, value: float, path: str) -> float:
        try:
            number = float(value)
        except OverflowError:
            number = math.inf  # an integer beyond the largest double
        if not math.isfinite(number):
            raise _invalid(path, "not a finite number")
        low, high = self.minimum, self.maximum
        if (low is not None and number < low) or (high is not None and number > high):
            bounds = f"at most {high:g}" if low is None else f"at least {low:g}"
            if low is not None and high is not None:
                bounds = f"{low:g} to {high:g}"
            raise _invalid(path, f"{excerpt(value)} is out of range ({bounds})")
        if self.kind == "number":
            return number
        if not number.is_integer():  # JavaScript has one number type: 5.0 is 5
            raise _wrong(path, "an integer", value)
        if abs(value) > MAX_SAFE_INTEGER:
            raise _invalid(path, "beyond the integers a JavaScript number holds exactly")
        return value if isinstance(value, int) else int(number)

    def _map(self, value: dict[str, Any], path: str) -> dict[str, Any]:
        # A newer server may report more native modules, and the rules judge every one reported.
        parsed: dict[str, Any] = {}
        for name, item in value.items():
            if name in self.keys:
                parsed[name] = read_model(self.model, item, f"{path}.{name}")
            elif self.key_pattern and re.fullmatch(self.key_pattern, name):
                try:
                    parsed[name] = read_model(self.model, item, f"{path}.{name}")
                except HAsyncInvalidResponseError as err:
                    _LOGGER.debug("Ignoring the unknown entry %s: %s", name, err)
        return parsed


def member(kind: str, *, null: bool = False, added: bool = False, **spec: Any) -> Any:
    """Declare a field: ``null`` may be null or missing; ``added`` (to version 1) only missing."""
    spec_ = Spec(kind=kind, required=not (null or added), nullable=null, **spec)
    return field(metadata={"spec": spec_})


class OverallStatus(StrEnum):
    """The server's verdict over all checks."""

    OK = "ok"
    DEGRADED = "degraded"
    ERROR = "error"


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerInfo:
    """Identity of the server process."""

    version: str = member("string", max_length=MAX_NAME_LENGTH)
    instance_id: str | None = member("string", null=True, max_length=MAX_NAME_LENGTH)
    started_at: datetime = member("date-time")
    uptime_s: float = member("number", minimum=0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    """One named self-check (node, bcrypt, better-sqlite3, database, frontend)."""

    name: str = member("string", max_length=MAX_NAME_LENGTH)
    ok: bool = member("boolean")
    critical: bool = member("boolean")
    message: str = member("string")


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeInfo:
    """The Node.js runtime the server runs on."""

    version: str = member("string", max_length=MAX_NAME_LENGTH)
    major: int = member("integer")
    min_major: int = member("integer")
    supported: bool = member("boolean")


@dataclass(frozen=True, slots=True, kw_only=True)
class NativeModule:
    """Load and self-test result of one native module."""

    loaded: bool = member("boolean")
    version: str | None = member("string", null=True)
    self_test_ok: bool | None = member("boolean", null=True)
    error: str | None = member("string", null=True)
    checked_at: datetime | None = member("date-time", null=True)

    @property
    def failing(self) -> bool:
        """Whether it fails: not loaded, or its self-test failed (one that has not run is no fault)."""
        return not self.loaded or self.self_test_ok is False


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessStats:
    """Figures of the server process."""

    rss_bytes: int | None = member("integer", null=True, minimum=0)
    heap_used_bytes: int | None = member("integer", null=True, minimum=0)
    heap_total_bytes: int | None = member("integer", null=True, minimum=0)
    cpu_percent: float | None = member("number", null=True, minimum=0, maximum=100)
    event_loop_delay_p99_ms: float | None = member("number", null=True, minimum=0)


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerStats:
    """Figures of the container, from cgroups; all None without a cgroup."""

    cgroup: str | None = member("string", null=True, values=("v1", "v2", "none", None))
    memory_used_bytes: int | None = member("integer", null=True, minimum=0)
    memory_limit_bytes: int | None = member("integer", null=True, minimum=0)
    memory_percent: float | None = member("number", null=True, minimum=0)
    cpu_percent: float | None = member("number", null=True, minimum=0, maximum=100)


@dataclass(frozen=True, slots=True, kw_only=True)
class EffectiveFigures:
    """The figures the rules judge: the container's where measured, else the process's."""

    memory_bytes: int | None = member("integer", null=True, minimum=0)
    memory_source: str = member("string", values=SOURCES)
    cpu_percent: float | None = member("number", null=True, minimum=0, maximum=100)
    cpu_source: str = member("string", values=SOURCES)


@dataclass(frozen=True, slots=True, kw_only=True)
class DatabaseInfo:
    """State of the server's SQLite database."""

    ok: bool = member("boolean")
    path: str | None = member("string", null=True)
    size_bytes: int | None = member("integer", null=True, minimum=0)
    journal_mode: str | None = member("string", null=True)
    integrity: str | None = member("string", null=True)
    integrity_checked_at: datetime | None = member("date-time", null=True)
    error: str | None = member("string", null=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class FrontendInfo:
    """The ingress page build."""

    present: bool = member("boolean")
    build_id: str | None = member("string", null=True)
    built_at: datetime | None = member("date-time", null=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryStats:
    """Figures the server derives from its own sample history; None until enough samples."""

    availability_24h_percent: float | None = member("number", null=True, minimum=0, maximum=100)
    availability_7d_percent: float | None = member("number", null=True, minimum=0, maximum=100)
    memory_growth_mib_per_hour: float | None = member("number", null=True)
    growth_window_hours: float | None = member("number", null=True, minimum=0, maximum=24)
    samples: int | None = member("integer", null=True, minimum=0)
    availability_24h_covered_hours: float | None = member(
        "number", added=True, minimum=0, maximum=24
    )
    availability_7d_covered_hours: float | None = member(
        "number", added=True, minimum=0, maximum=168
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorStats:
    """The server's own errors in the last 24 h: error and fatal log records, 5xx answers."""

    count_24h: int = member("integer", minimum=0)
    fatal_24h: int = member("integer", minimum=0)
    http_5xx_24h: int = member("integer", minimum=0)
    last_at: datetime | None = member("date-time", null=True)
    last_message: str | None = member("string", null=True, max_length=MAX_MESSAGE_LENGTH)


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusDocument:
    """The status document of ``GET /api/v1/status`` and of every pushed ``status`` event."""

    schema_version: int = member("integer", values=(SCHEMA_VERSION,))
    server: ServerInfo = member("object", model=ServerInfo)
    status: OverallStatus = member("string", values=tuple(OverallStatus))
    checks: tuple[Check, ...] = member("array", model=Check)
    node: NodeInfo = member("object", model=NodeInfo)
    native_modules: Mapping[str, NativeModule] = member(
        "map", model=NativeModule, keys=NATIVE_MODULE_NAMES, key_pattern=r"^[A-Za-z0-9@/._-]{1,64}$"
    )
    process: ProcessStats = member("object", model=ProcessStats)
    container: ContainerStats = member("object", model=ContainerStats)
    effective: EffectiveFigures | None = member("object", added=True, model=EffectiveFigures)
    database: DatabaseInfo = member("object", model=DatabaseInfo)
    frontend: FrontendInfo = member("object", model=FrontendInfo)
    history: HistoryStats = member("object", model=HistoryStats)
    errors: ErrorStats | None = member("object", added=True, model=ErrorStats)

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        """Validate a decoded JSON document; raise HAsyncInvalidResponseError if it is not one."""
        # A document of another version may have another shape: name the version first.
        version = Spec(kind="integer").read(_object(data, ""), "schema_version", "")
        if version != SCHEMA_VERSION:
            raise HAsyncUnsupportedVersionError(
                f"unsupported schema_version {excerpt(version)}: this integration understands "
                f"version {SCHEMA_VERSION}; update the integration or the add-on so they match",
                excerpt(version),
            )
        return read_model(cls, data, "")

    def check(self, name: str) -> Check | None:
        """Return the check with this name, or None if the server did not report it."""
        return next((check for check in self.checks if check.name == name), None)

    @property
    def failing_checks(self) -> list[str]:
        """Names of the checks that fail, in the server's order."""
        return [check.name for check in self.checks if not check.ok]


def _invalid(path: str, problem: str) -> HAsyncInvalidResponseError:
    return HAsyncInvalidResponseError(f"{path or 'document'}: {problem}")


def _wrong(path: str, expected: str, value: Any) -> HAsyncInvalidResponseError:
    got = "null" if value is None else _TYPES.get(type(value), "object")
    return _invalid(path, f"expected {expected}, got {got}")


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _wrong(path, "an object", value)
    return value


def read_model[M: DataclassInstance](model: type[M], data: Any, where: str) -> M:
    """Read one JSON object into ``model``, each member as its spec declares."""
    data = _object(data, where)
    return model(**{f.name: f.metadata["spec"].read(data, f.name, where) for f in fields(model)})


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(body: bytes | str) -> Any:
    """Decode JSON strictly: NaN and Infinity, which Python would accept, are errors."""
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except ValueError as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        problem = one_line(str(err))
    except RecursionError:
        problem = "nested too deeply"
    raise HAsyncInvalidResponseError(f"the body is not valid JSON: {problem}") from None


def parse_status(body: bytes | str, redact: Callable[[str], str] | None = None) -> StatusDocument:
    """Parse a status document from its JSON text; ``redact`` takes an echoed token out first."""
    data = parse_json(body)
    return StatusDocument.from_dict(data if redact is None else redact_json(data, redact))


def redact_json(value: Any, redact: Callable[[str], str]) -> Any:
    """Apply ``redact`` to every string of a JSON-like structure, keys included."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_json(key, redact): redact_json(item, redact) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_json(item, redact) for item in value)
    return value
