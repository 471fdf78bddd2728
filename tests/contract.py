"""Check, member by member, that the client's reader agrees with the status document's schema.

addon/server/src/openapi.json is the contract; the client (custom_components/hasync/client) declares a
``Spec`` on every field of its models. ``disagreements()`` compares the two in two ways, and lists
every difference it finds:

- declared: each member's presence (``required``), ``null``, type (and ``date-time``), ``minimum``,
  ``maximum``, ``maxLength``, enum or const, and the same set of members on both sides;
- observed: it mutates a valid document one member at a time, the way the schema draws the line
  (left out, null, a value of another type, each bound and one step beyond it, a value outside the
  enum, a text that is no time), and checks that the parser accepts exactly what the schema allows.

It takes the schema and the client's models module as arguments, so tests/test_contract.py can feed
it drifted copies of either and show that it notices.
"""

from collections.abc import Iterator
import copy
from dataclasses import fields
import json
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OPENAPI = REPO / "addon" / "server" / "src" / "openapi.json"
FIXTURE = REPO / "tests" / "fixtures" / "status.json"

type Where = tuple[str | int, ...]
"""A member's place in a document: keys, and 0 for the first item of an array."""

_JSON_TYPE = {bool: "boolean", int: "integer", float: "number", str: "string"}
_OTHER_TYPES = {
    "string": "5",
    "integer": 5,
    "number": 5.5,
    "boolean": True,
    "object": {},
    "array": [],
}
"""A value of each JSON type, for the type probes ("5" is a string: never read as 5)."""


def load_openapi() -> dict[str, Any]:
    """Return the contract."""
    openapi: dict[str, Any] = json.loads(OPENAPI.read_text())
    return openapi


def _resolve(openapi: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = openapi["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _types(node: dict[str, Any]) -> set[str]:
    """Return the JSON types a schema node allows (an enum or const without ``type``: its values')."""
    if "type" in node:
        return set(node["type"]) if isinstance(node["type"], list) else {node["type"]}
    values = node.get("enum", [node.get("const")])
    return {"null" if value is None else _JSON_TYPE[type(value)] for value in values}


def _values(node: dict[str, Any]) -> set[Any] | None:
    if "const" in node:
        return {node["const"]}
    return None if "enum" not in node else set(node["enum"])


def schema_kind(node: dict[str, Any]) -> str:
    """Return the client's kind for a schema node: its type, date-time, or map (an open object)."""
    (kind,) = _types(node) - {"null"}
    if kind == "object" and isinstance(node.get("additionalProperties"), dict):
        return "map"
    if kind == "string" and node.get("format") == "date-time":
        return "date-time"
    return kind


# --------------------------------------------------------------------------------------
# Declared


def _declared(openapi: dict[str, Any], node: dict[str, Any], model: Any, where: str) -> list[str]:
    """Compare an object's members with a model's fields."""
    node = _resolve(openapi, node)
    properties = node.get("properties", {})
    specs = {item.name: item.metadata["spec"] for item in fields(model)}
    found = [
        f"{where}.{name}: in the schema, not in the client"
        for name in properties.keys() - specs.keys()
    ]
    found += [
        f"{where}.{name}: in the client, not in the schema"
        for name in specs.keys() - properties.keys()
    ]
    required = set(node.get("required", []))
    for name in properties.keys() & specs.keys():
        found += _member(
            openapi, properties[name], specs[name], name in required, f"{where}.{name}"
        )
    return sorted(found)


def _member(
    openapi: dict[str, Any], node: dict[str, Any], spec: Any, required: bool, where: str
) -> list[str]:
    node = _resolve(openapi, node)
    found = []
    kind = schema_kind(node)
    nullable = "null" in _types(node)
    values = _values(node)
    spec_values = None if spec.values is None else set(spec.values)
    for keyword, schema_side, client_side in (
        ("required", required, spec.required),
        ("nullable", nullable, spec.nullable),
        ("type", kind, spec.kind),
        ("minimum", node.get("minimum"), spec.minimum),
        ("maximum", node.get("maximum"), spec.maximum),
        ("maxLength", node.get("maxLength"), spec.max_length),
        ("enum", values, spec_values),
    ):
        if schema_side != client_side:
            found.append(
                f"{where}: {keyword} is {schema_side!r} in the schema, {client_side!r} in the client"
            )
    if kind != spec.kind:
        return found
    if kind == "object":
        found += _declared(openapi, node, spec.model, where)
    elif kind == "array":
        found += _declared(openapi, node["items"], spec.model, f"{where}[]")
    elif kind == "map":
        known = set(node.get("properties", {}))
        if known != set(spec.keys):
            found.append(
                f"{where}: known keys are {sorted(known)} in the schema, {sorted(spec.keys)} in the client"
            )
        pattern = node.get("propertyNames", {}).get("pattern")
        if pattern != spec.key_pattern:
            found.append(
                f"{where}: key pattern is {pattern!r} in the schema, {spec.key_pattern!r} in the client"
            )
        entries = {
            json.dumps(entry)
            for entry in [*node.get("properties", {}).values(), node["additionalProperties"]]
        }
        if len(entries) != 1:
            found.append(f"{where}: entries of different schemas, the client reads one model")
        found += _declared(openapi, node["additionalProperties"], spec.model, f"{where}.*")
        if node.get("required"):
            found.append(f"{where}: the schema requires keys {node['required']}, the client none")
    return found


# --------------------------------------------------------------------------------------
# Observed


def _leaves(
    openapi: dict[str, Any], node: dict[str, Any], where: Where
) -> Iterator[tuple[Where, dict[str, Any], bool]]:
    """Every member of the schema: its place, its schema, whether it is required."""
    node = _resolve(openapi, node)
    kind = schema_kind(node)
    if kind == "array":
        yield from _leaves(openapi, node["items"], (*where, 0))
        return
    required = set(node.get("required", []))
    for name, child in node.get("properties", {}).items():
        yield (*where, name), _resolve(openapi, child), name in required
        if schema_kind(_resolve(openapi, child)) in ("object", "array", "map"):
            yield from _leaves(openapi, child, (*where, name))


def _probes(node: dict[str, Any], required: bool) -> Iterator[tuple[str, Any, bool]]:
    """Values to put in a member: what it is, the value (``...``: left out), whether allowed."""
    types = _types(node)
    kind = schema_kind(node)
    values = _values(node)
    yield "left out", ..., not required
    yield "null", None, "null" in types
    for other, value in _OTHER_TYPES.items():
        allowed = other in types or (other == "integer" and "number" in types)
        if other == "object" and kind == "map":
            continue
        if not allowed:
            yield f"a value of type {other}", value, False
    if kind in ("integer", "number"):
        step = 1 if kind == "integer" else 0.5
        low, high = node.get("minimum"), node.get("maximum")
        if values is None:
            yield (
                "the minimum" if low is not None else "a very low number",
                low if low is not None else -(2**52),
                True,
            )
            yield (
                "the maximum" if high is not None else "a very high number",
                high if high is not None else 2**52,
                True,
            )
        if low is not None:
            yield "just under the minimum", low - step, False
        if high is not None:
            yield "just over the maximum", high + step, False
        if values is None and (low is None or low <= 1.5) and (high is None or high >= 1.5):
            yield "a fraction", 1.5, kind == "number"
    if kind in ("string", "date-time"):
        limit = node.get("maxLength")
        if limit is not None:
            yield "at maxLength", "1" * limit, values is None and kind == "string"
            yield "over maxLength", "1" * (limit + 1), False
        else:
            yield "a long text", "1" * 10_000, values is None and kind == "string"
        yield "a text that is no time", "no time", kind == "string" and values is None
        if kind == "date-time":
            yield "a time", "2026-11-25T22:00:00.000Z", True
    if values is not None:
        for value in sorted(values - {None}, key=str):
            yield f"the value {value!r}", value, True
        yield "a value outside the enum", "not-a-member" if "string" in types else 999, False


def _get(document: Any, where: Where) -> Any:
    for key in where:
        document = document[key]
    return document


def _apply(document: Any, where: Where, value: Any) -> Any:
    changed = copy.deepcopy(document)
    parent = _get(changed, where[:-1])
    if value is ...:
        parent.pop(where[-1], None)
    else:
        parent[where[-1]] = value
    return changed


def _observed(
    openapi: dict[str, Any], models: ModuleType, errors: ModuleType, base: Any
) -> list[str]:
    schema = openapi["components"]["schemas"]["StatusDocument"]
    found = []
    probes = [((), "the schema's own document", base, True)]
    for where, node, required in _leaves(openapi, schema, ()):
        probes += [
            (where, what, _apply(base, where, value), allowed)
            for what, value, allowed in _probes(node, required)
        ]
        if schema_kind(node) == "array":
            probes += [(where, "no items", _apply(base, where, []), "minItems" not in node)]
        if schema_kind(node) == "map":
            # Another entry, with the members the schema requires of one, taken from the first.
            entries = _get(base, where)
            entry = _resolve(openapi, node["additionalProperties"])
            first = next(iter(entries.values()))
            valid = {name: first[name] for name in entry.get("required", [])}
            extra = (*where, "some-module")
            probes += [
                (extra, "another entry under a package name", _apply(base, extra, valid), True)
            ]
    for where, what, document, allowed in probes:
        try:
            models.StatusDocument.from_dict(document)
            accepted = True
        except errors.HAsyncInvalidResponseError:
            accepted = False
        except Exception as err:  # noqa: BLE001 - a crash is a disagreement to report
            found.append(f"{_path(where)}: {what}: the client crashes ({type(err).__name__})")
            continue
        if accepted != allowed:
            verdict = (
                "accepts what the schema forbids" if accepted else "rejects what the schema allows"
            )
            found.append(f"{_path(where)}: {what}: the client {verdict}")
    return found


def _path(where: Where) -> str:
    return "document" + "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}" for part in where
    )


def disagreements(openapi: dict[str, Any], models: ModuleType, errors: ModuleType) -> list[str]:
    """Every difference between the schema of the status document and the client's reader."""
    base = json.loads(FIXTURE.read_text())
    schema = openapi["components"]["schemas"]["StatusDocument"]
    return _declared(openapi, schema, models.StatusDocument, "document") + _observed(
        openapi, models, errors, base
    )
