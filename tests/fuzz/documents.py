"""Status documents for fuzzing, derived from the server's schema (addon/server/src/openapi.json).

``valid_documents()`` draws documents that satisfy the schema and API.md (UTC times, the five
checks in their order); ``documents()`` mutates them, or the fixture, into the malformed and
edge-case documents the client has to survive; ``bodies()`` turns those into response bodies,
adding what is not JSON at all. ``expected_document()`` is the oracle: it tells, independently
of the client's code, whether a body is a document the client must accept.

The oracle reads the contract from the schema alone, which states the client's tolerances too:
members not in ``required`` may be missing, ``null`` only where the type allows it, ``maxLength``,
``minimum``, ``maximum``, enums and ``date-time`` as written; checks of any number and name; other
native modules under a name matching ``propertyNames``, counted only when valid. On top come the
rules the StatusDocument description states for all members: unknown members are ignored, and
integers stay within ±(2^53 - 1). Times also carry a zone and stay within years 1 to 9999 in UTC,
text is valid Unicode (no lone surrogates), and NaN and Infinity are not JSON.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
import gzip
import json
import math
from pathlib import Path
import re
from typing import Any, Final

from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[2]
OPENAPI = REPO / "addon" / "server" / "src" / "openapi.json"
FIXTURE = REPO / "tests" / "fixtures" / "status.json"

MAX_SAFE_INTEGER: Final = 2**53 - 1
MAX_BODY_BYTES: Final = 1 << 20

type Path_ = tuple[str, ...]
"""A member's place in the document; ``[]`` stands for every item of an array."""


@dataclass(frozen=True, slots=True)
class Field:
    """What the schema allows for one member."""

    kind: str
    """int, number, string, bool or datetime."""
    required: bool
    nullable: bool
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    enum: tuple[Any, ...] | None = None
    """An enum's values, or a const (null left out: ``nullable`` says it)."""


def _load_schema() -> tuple[dict[str, Any], dict[str, Any]]:
    openapi = json.loads(OPENAPI.read_text())
    schemas: dict[str, Any] = openapi["components"]["schemas"]
    return schemas["StatusDocument"], schemas


STATUS_SCHEMA, SCHEMAS = _load_schema()


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = SCHEMAS[node["$ref"].rsplit("/", 1)[-1]]
    return node


def _field(node: dict[str, Any], required: bool) -> Field:
    values = node.get("enum", [node["const"]] if "const" in node else None)
    types = node.get("type", [])
    types = {types} if isinstance(types, str) else set(types)
    if not types:  # an enum or const without a type: the type of its values
        types = {{bool: "boolean", int: "integer", str: "string"}[type(values[0])]}
    nullable = "null" in types or (values is not None and None in values)
    (base,) = types - {"null"}
    if base == "string" and node.get("format") == "date-time":
        base = "datetime"
    return Field(
        {"integer": "int", "boolean": "bool"}.get(base, base),
        required,
        nullable,
        node.get("minimum"),
        node.get("maximum"),
        node.get("maxLength"),
        None if values is None else tuple(value for value in values if value is not None),
    )


def _walk(node: dict[str, Any], path: Path_ = ()) -> Iterator[tuple[Path_, Field]]:
    node = _resolve(node)
    if node.get("type") == "array":
        yield from _walk(node["items"], (*path, "[]"))
        return
    required = set(node.get("required", []))
    for name, child in node["properties"].items():
        if "properties" in _resolve(child) or _resolve(child).get("type") == "array":
            yield from _walk(child, (*path, name))
        else:
            yield (*path, name), _field(_resolve(child), name in required)


CONTRACT: Final[dict[Path_, Field]] = dict(_walk(STATUS_SCHEMA))
"""Every leaf member of the status document, from the schema."""

SECTIONS: Final = tuple(
    name for name, node in STATUS_SCHEMA["properties"].items() if "properties" in _resolve(node)
)
"""The object-valued members of the document (server, node, ...)."""
ADDED_SECTIONS: Final = frozenset(SECTIONS) - set(STATUS_SCHEMA["required"])
"""Sections added within schema_version 1: older servers leave them out, clients read None."""

_MODULES: Final = STATUS_SCHEMA["properties"]["native_modules"]
KNOWN_MODULES: Final = tuple(_MODULES["properties"])
"""The native modules the schema names; others count only when valid."""
MODULE_NAME: Final = re.compile(_MODULES["propertyNames"]["pattern"])
CHECK_NAMES: Final = tuple(SCHEMAS["CheckName"]["enum"])
NAME_LENGTH: Final = CONTRACT[("server", "version")].max_length or 0
"""The bound on versions and names (a version becomes an entity state)."""


# --------------------------------------------------------------------------------------
# The oracle


class InvalidDocumentError(Exception):
    """The client must reject this document."""


def _has_surrogate(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return True
    return False


def _number(field: Field, value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidDocumentError
    try:
        number = float(value)
    except OverflowError:
        raise InvalidDocumentError from None
    if not math.isfinite(number):
        raise InvalidDocumentError
    if (field.minimum is not None and number < field.minimum) or (
        field.maximum is not None and number > field.maximum
    ):
        raise InvalidDocumentError
    if field.kind == "number":
        return number
    if not number.is_integer() or abs(number) > MAX_SAFE_INTEGER:
        raise InvalidDocumentError
    return int(number)


_MISSING: Final = object()


def _longest(field: Field) -> float:
    return math.inf if field.max_length is None else field.max_length


def _value(field: Field, value: Any) -> Any:
    """Return what the client reads from a member, or raise InvalidDocumentError."""
    if value is _MISSING or value is None:
        if field.nullable or (value is _MISSING and not field.required):
            return None
        raise InvalidDocumentError
    if field.kind in ("int", "number"):
        read: Any = _number(field, value)
    elif field.kind == "bool":
        if not isinstance(value, bool):
            raise InvalidDocumentError
        read = value
    elif not isinstance(value, str) or _has_surrogate(value) or len(value) > _longest(field):
        raise InvalidDocumentError
    elif field.kind == "datetime":
        try:
            parsed = datetime.fromisoformat(value)
            if parsed.tzinfo is None:
                raise InvalidDocumentError
            read = parsed.astimezone(UTC)
        except ValueError, OverflowError:
            raise InvalidDocumentError from None
    else:
        read = value
    if field.enum is not None and read not in field.enum:
        raise InvalidDocumentError
    return read


def _object(value: Any, prefix: Path_) -> dict[str, Any]:
    """Read the leaf members under ``prefix`` from one object."""
    if not isinstance(value, dict):
        raise InvalidDocumentError
    depth = len(prefix)
    return {
        path[depth]: _value(field, value.get(path[depth], _MISSING))
        for path, field in CONTRACT.items()
        if path[:depth] == prefix and len(path) == depth + 1
    }


def read_document(value: Any) -> dict[str, Any]:
    """Return what the client must read from a decoded document, or raise InvalidDocumentError.

    The result mirrors the client's model: sections as dicts of their members, ``checks`` as a
    list of dicts, ``native_modules`` as a dict of dicts, times as aware datetimes in UTC.
    """
    top = _object(value, ())
    for section in SECTIONS:
        if section == "native_modules":
            continue
        if section in ADDED_SECTIONS and section not in value:
            top[section] = None
            continue
        top[section] = _object(value.get(section), (section,))
    checks = value.get("checks")
    if not isinstance(checks, list):
        raise InvalidDocumentError
    top["checks"] = [_object(check, ("checks", "[]")) for check in checks]
    modules = value.get("native_modules")
    if not isinstance(modules, dict):
        raise InvalidDocumentError
    read: dict[str, Any] = {}
    for name, module in modules.items():
        if name in KNOWN_MODULES:
            read[name] = _object(module, ("native_modules", name))
        elif MODULE_NAME.fullmatch(name):
            try:  # an unknown module counts only if it is a valid module object
                read[name] = _object(module, ("native_modules", KNOWN_MODULES[0]))
            except InvalidDocumentError:
                continue
    top["native_modules"] = read
    return top


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def decode(body: bytes | str) -> Any:
    """Decode a body as strict JSON (no NaN or Infinity); raise InvalidDocumentError if not JSON."""
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except ValueError, RecursionError:
        raise InvalidDocumentError from None


def expected_document(body: bytes | str) -> dict[str, Any] | None:
    """Return what the client must read from this body, or None if it must reject it."""
    try:
        return read_document(decode(body))
    except InvalidDocumentError:
        return None


def model_view(document: Any) -> dict[str, Any]:
    """Return a parsed StatusDocument in the shape read_document() gives, for comparing."""
    view: dict[str, Any] = {
        "schema_version": document.schema_version,
        "status": str(document.status),
        "checks": [
            {"name": c.name, "ok": c.ok, "critical": c.critical, "message": c.message}
            for c in document.checks
        ],
        "native_modules": {
            name: {
                "loaded": m.loaded,
                "version": m.version,
                "self_test_ok": m.self_test_ok,
                "error": m.error,
                "checked_at": m.checked_at,
            }
            for name, m in document.native_modules.items()
        },
    }
    for section in SECTIONS:
        if section not in ("native_modules",):
            model = getattr(document, section)
            view[section] = (
                None
                if model is None
                else {
                    path[1]: getattr(model, path[1])
                    for path in CONTRACT
                    if len(path) == 2 and path[0] == section
                }
            )
    return view


# --------------------------------------------------------------------------------------
# Valid documents, from the schema


def fixture() -> dict[str, Any]:
    """Return the fixture status document (valid; the base of the mutations)."""
    document: dict[str, Any] = json.loads(FIXTURE.read_text())
    return document


TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
"""Any Unicode text but lone surrogates."""


def iso_utc(moment: datetime) -> str:
    """Format like JavaScript's toISOString (the server's times)."""
    moment = moment.astimezone(UTC)
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:"
        f"{moment.minute:02d}:{moment.second:02d}.{moment.microsecond // 1000:03d}Z"
    )


TIMES = st.one_of(
    st.datetimes(
        min_value=datetime(1, 1, 2),  # noqa: DTZ001 - hypothesis wants naive bounds
        max_value=datetime(9999, 12, 30),  # noqa: DTZ001
        timezones=st.just(UTC),
    ).map(iso_utc),
    # RFC 3339 allows offsets; the client converts them to UTC.
    st.builds(
        lambda moment, minutes: moment.replace(
            tzinfo=timezone(timedelta(minutes=minutes))
        ).isoformat(),
        st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31)),  # noqa: DTZ001
        st.integers(-23 * 60 - 59, 23 * 60 + 59),
    ),
)


def _leaf_values(path: Path_, field: Field) -> st.SearchStrategy[Any]:
    """Values the schema allows for a leaf."""
    if path == ("server", "instance_id"):
        return st.uuids().map(str)
    if field.enum is not None:
        # JavaScript has one number type: 1.0 is the integer 1.
        floats = [float(value) for value in field.enum if field.kind == "int"]
        return st.sampled_from([*field.enum, *floats])
    if field.kind == "bool":
        return st.booleans()
    if field.kind == "datetime":
        return TIMES
    if field.max_length is not None:
        return st.one_of(TEXT, st.sampled_from(["24.21.0", "x" * field.max_length]))
    if field.kind == "string":
        return st.one_of(TEXT, st.sampled_from(["x" * 5000, "é" * 300, "line\nbreak", ""]))
    low = field.minimum if field.minimum is not None else -MAX_SAFE_INTEGER
    high = field.maximum if field.maximum is not None else MAX_SAFE_INTEGER
    integers = st.integers(int(low), int(high))
    if field.kind == "int":
        return st.one_of(integers, integers.map(float))
    floats = st.floats(
        min_value=field.minimum,
        max_value=field.maximum,
        allow_nan=False,
        allow_infinity=False,
    )
    return st.one_of(floats, integers, st.sampled_from([low, high, 0, 0.0]))


def _object_values(prefix: Path_) -> st.SearchStrategy[dict[str, Any]]:
    # Every member, as the server sends them (the mutations leave some out).
    depth = len(prefix)
    members = {
        path[depth]: (
            st.one_of(st.none(), _leaf_values(path, field))
            if field.nullable
            else _leaf_values(path, field)
        )
        for path, field in CONTRACT.items()
        if path[:depth] == prefix and len(path) == depth + 1
    }
    return st.fixed_dictionaries(members)


def _checks() -> st.SearchStrategy[list[dict[str, Any]]]:
    """Draw the five checks of the schema, in their order, with any results."""
    item = _object_values(("checks", "[]"))
    return st.tuples(*(item for _ in CHECK_NAMES)).map(
        lambda items: [
            {**check, "name": name} for check, name in zip(items, CHECK_NAMES, strict=True)
        ]
    )


def _valid_documents() -> st.SearchStrategy[dict[str, Any]]:
    members: dict[str, st.SearchStrategy[Any]] = {
        **{
            path[0]: _leaf_values(path, field) for path, field in CONTRACT.items() if len(path) == 1
        },
        "checks": _checks(),
        "native_modules": st.fixed_dictionaries(
            {name: _object_values(("native_modules", name)) for name in KNOWN_MODULES}
        ),
    }
    for section in SECTIONS:
        if section != "native_modules":
            members[section] = _object_values((section,))
    return st.fixed_dictionaries(members)


VALID_DOCUMENTS: Final = _valid_documents()


def valid_documents() -> st.SearchStrategy[dict[str, Any]]:
    """Documents valid by the schema (and API.md)."""
    return VALID_DOCUMENTS


# --------------------------------------------------------------------------------------
# Malformed and edge-case documents


class Raw:
    """A JSON token written as is (``1e400``, ``NaN``), which json.dumps cannot produce."""

    __slots__ = ("token",)

    def __init__(self, token: str) -> None:
        """Keep the token."""
        self.token = token

    def __repr__(self) -> str:
        """Show the token."""
        return f"Raw({self.token})"


RAW_TOKENS: Final = (
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "-1e400",
    "1" + "0" * 400,
    "-" + "9" * 400,
    "1.0e-400",
    "-0",
    "1E+2",
    "9007199254740993",
    "1.7976931348623157e308",
)

EDGE_INTS: Final = (
    0, -1, 1, 2**31, 2**53 - 1, 2**53, -(2**53), 2**63, 2**64, 10**20, 10**308, 10**309, -(10**309),
)  # fmt: skip
EDGE_FLOATS: Final = (
    -0.0, 0.5, 5e-324, 1e-320, 1e300, -1e300, 1.7976931348623157e308, 100.0000001, -1e-9, 24.5,
    math.nan, math.inf, -math.inf,
)  # fmt: skip
EDGE_STRINGS: Final = (
    "", "1", "0", "NaN", "null", "true", "ok", "OK", "error ", "\ud800", "a\udfffb", "\x00", "\x1b[31m",
    "line\nbreak", "2026-11-25T22:00:00.000Z", "2026-11-25T22:00:00", "2026-11-25",
    "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-01:00", "2026-13-45T99:99:99Z",
    "+002026-11-25T22:00:00Z", "x" * 256, "é" * 256, "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f",
)  # fmt: skip
HUGE_STRING_SIZES: Final = (NAME_LENGTH + 1, 65536, MAX_BODY_BYTES)

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(EDGE_INTS),
    st.floats(),
    st.sampled_from(EDGE_FLOATS),
    st.text(max_size=30),
    st.sampled_from(EDGE_STRINGS),
    st.sampled_from(HUGE_STRING_SIZES).map(lambda size: "x" * size),
    st.sampled_from(RAW_TOKENS).map(Raw),
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.text(max_size=8), children, max_size=3),
    ),
    max_leaves=6,
)
"""Any JSON value, and then some: NaN, huge numbers and strings, raw tokens."""

EXTRA_KEYS = st.one_of(
    st.text(max_size=12), st.sampled_from(["future", "pid", "__proto__", "", "x" * 300, "\ud800"])
)


def _paths(document: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a decoded document (keys and list indexes), depth first."""
    if isinstance(document, dict):
        for key, value in document.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield (*prefix, index)
            yield from _paths(value, (*prefix, index))


def _containers(document: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every object in a decoded document (where unknown members can go)."""
    if isinstance(document, dict):
        yield prefix
        for key, value in document.items():
            yield from _containers(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from _containers(value, (*prefix, index))


def _get(document: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        document = document[part]
    return document


def _nullify(document: Any) -> Any:
    if isinstance(document, dict):
        return {key: _nullify(value) for key, value in document.items()}
    if isinstance(document, list):
        return [_nullify(value) for value in document]
    return None


_MUTATION_KINDS: Final = st.sampled_from(
    ["set", "set", "set", "delete", "extra", "extra", "nullify_section", "checks", "modules"]
)
_SECTION_CHOICE: Final = st.sampled_from(SECTIONS)
_CHECKS_ACTIONS: Final = st.sampled_from(["drop", "append", "reverse", "junk"])
_MODULES_ACTIONS: Final = st.sampled_from(["drop", "unknown_junk", "unknown_valid"])
_CHECK_NAME: Final = st.one_of(st.sampled_from(CHECK_NAMES), TEXT)
_UNKNOWN_MODULE: Final = st.sampled_from(["sharp", "x" * 65, "a b", "@scope/pkg"])


def _pick[T](draw: st.DrawFn, items: list[T]) -> T:
    return items[draw(st.integers(0, len(items) - 1))]


@st.composite
def _mutation(draw: st.DrawFn, document: Any) -> str:
    """Apply one mutation to ``document`` in place (or return a replacement); describe it."""
    paths = list(_paths(document))
    kind = draw(_MUTATION_KINDS)
    if kind == "extra":
        where = _pick(draw, list(_containers(document)))
        key = draw(EXTRA_KEYS)
        _get(document, where)[key] = draw(JSON_VALUES)
        return f"extra {where}.{key!r}"
    if kind == "nullify_section":
        section = draw(_SECTION_CHOICE)
        if section in document:
            document[section] = _nullify(document[section])
        return f"nulls everywhere in {section}"
    if kind == "checks" and isinstance(document.get("checks"), list):
        checks = document["checks"]
        action = draw(_CHECKS_ACTIONS)
        if action == "drop" and checks:
            del checks[draw(st.integers(0, len(checks) - 1))]
        elif action == "append":
            name = draw(_CHECK_NAME)
            checks.append(
                {"name": name, "ok": draw(st.booleans()), "critical": True, "message": ""}
            )
        elif action == "reverse":
            checks.reverse()
        else:
            checks.append(draw(SCALARS))
        return f"checks: {action}"
    if kind == "modules" and isinstance(document.get("native_modules"), dict):
        modules = document["native_modules"]
        action = draw(_MODULES_ACTIONS)
        if action == "drop" and modules:
            del modules[_pick(draw, sorted(modules))]
        elif action == "unknown_junk":
            modules[draw(EXTRA_KEYS)] = draw(JSON_VALUES)
        else:
            modules[draw(_UNKNOWN_MODULE)] = {
                "loaded": True,
                "self_test_ok": True,
            }
        return f"native_modules: {action}"
    if not paths:
        return "nothing to mutate"
    path = _pick(draw, paths)
    parent = _get(document, path[:-1])
    if kind == "delete":
        del parent[path[-1]]
        return f"delete {path}"
    parent[path[-1]] = draw(JSON_VALUES)
    return f"set {path}"


_FIXTURE: Final = st.just(fixture())
_BASE_CHOICE: Final = st.integers(0, 3)
_BODY_KINDS: Final = st.sampled_from(
    ["document"] * 12
    + ["truncated", "non_json", "html", "empty", "deep", "other_json", "bom", "utf16"]
)
_DEPTHS: Final = st.sampled_from([100, 1000, 100_000, 400_000])
_OPENERS: Final = st.sampled_from(["[", '{"a":'])


@st.composite
def documents(
    draw: st.DrawFn, base: st.SearchStrategy[dict[str, Any]] | None = None
) -> tuple[Any, list[str]]:
    """Draw a document with one to three mutations; return it and what was done to it."""
    if base is None:
        # Mostly the fixture: drawing a whole valid document costs more than the mutations.
        base = VALID_DOCUMENTS if draw(_BASE_CHOICE) == 0 else _FIXTURE
    document = draw(base)
    document = json.loads(json.dumps(document))  # a copy of our own to mutate
    if draw(st.integers(0, 9)) == 0:
        return document, ["unchanged"]
    if draw(st.integers(0, 19)) == 0:
        return _nullify(document), ["nulls everywhere"]
    done = [draw(_mutation(document)) for _ in range(draw(st.integers(1, 3)))]
    return document, done


def dumps(document: Any, *, compact: bool = True, ascii_only: bool = True) -> str:
    """Serialize like the server (or less politely), writing Raw tokens as they are."""
    tokens: dict[str, str] = {}

    def default(value: Any) -> Any:
        if isinstance(value, Raw):
            marker = f"\x00raw{len(tokens)}\x00"
            tokens[json.dumps(marker)] = value.token
            return marker
        raise TypeError(type(value).__name__)

    text = json.dumps(
        document,
        default=default,
        separators=(",", ":") if compact else None,
        indent=None if compact else 2,
        ensure_ascii=ascii_only,
        allow_nan=True,
    )
    for marker, token in tokens.items():
        text = text.replace(marker, token)
    return text


def encode(text: str) -> bytes:
    """UTF-8, keeping lone surrogates as their (invalid) 3-byte sequences."""
    return text.encode("utf-8", "surrogatepass")


HTML_PAGE: Final = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    b"<body><h1>Bad Gateway</h1>\n<p>The upstream server is \x1b[31mdown</p></body></html>\n"
)


@st.composite
def bodies(draw: st.DrawFn) -> tuple[bytes, str]:
    """Draw a body: a (mutated) document in some serialization, or not JSON at all."""
    kind = draw(_BODY_KINDS)
    if kind == "non_json":
        return draw(st.binary(max_size=200)), kind
    if kind == "html":
        return HTML_PAGE, kind
    if kind == "empty":
        return b"", kind
    if kind == "deep":
        depth = draw(_DEPTHS)
        opener = draw(_OPENERS)
        return (opener * depth).encode(), f"deep {opener} x{depth}"
    if kind == "other_json":
        return encode(dumps(draw(JSON_VALUES))), kind
    document, mutations = draw(documents())
    text = dumps(document, compact=draw(st.booleans()), ascii_only=draw(st.booleans()))
    described = f"{kind}: {'; '.join(mutations)}"
    if kind == "truncated":
        return encode(text)[: draw(st.integers(0, max(0, len(text) - 1)))], described
    if kind == "bom":
        return b"\xef\xbb\xbf" + encode(text), described
    if kind == "utf16":
        try:
            return text.encode("utf-16"), described
        except UnicodeEncodeError:
            return encode(text), described
    return encode(text), described


def gzipped(body: bytes) -> bytes:
    """Compress a body for a response with ``Content-Encoding: gzip``."""
    return gzip.compress(body, mtime=0)
