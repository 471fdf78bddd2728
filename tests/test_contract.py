"""The client's reader agrees with openapi.json, and the check notices every kind of drift.

Like tests/addon/test_break.py: each drift is planted in a copy (of the schema, or of the client's
source), fed through the same check, and must be reported.
"""

from collections.abc import Callable, Iterator
import copy
import importlib
from pathlib import Path
import shutil
import sys
from types import ModuleType
from typing import Any

import pytest

from custom_components.hasync.client import errors, models

from .contract import REPO, disagreements, load_openapi

CLIENT = REPO / "custom_components" / "hasync" / "client"

type Schema = dict[str, Any]


def test_the_client_agrees_with_the_schema() -> None:
    """No member differs, declared or observed."""
    assert disagreements(load_openapi(), models, errors) == []


# --- drifts in the schema -------------------------------------------------------------


def _section(schema: Schema, name: str) -> Schema:
    section: Schema = schema["components"]["schemas"]["StatusDocument"]["properties"][name]
    return section


def _made_optional(schema: Schema) -> None:
    _section(schema, "server")["required"].remove("version")


def _made_required(schema: Schema) -> None:
    # The second disagreement of issue 15, planted back: rss_bytes a required integer.
    process = _section(schema, "process")
    process["required"] = ["rss_bytes"]
    process["properties"]["rss_bytes"]["type"] = "integer"


def _not_nullable(schema: Schema) -> None:
    # The third: self_test_ok a required boolean.
    module = schema["components"]["schemas"]["NativeModule"]
    module["required"].append("self_test_ok")
    module["properties"]["self_test_ok"]["type"] = "boolean"


def _shorter_name(schema: Schema) -> None:
    _section(schema, "server")["properties"]["version"]["maxLength"] = 254


def _lower_maximum(schema: Schema) -> None:
    _section(schema, "container")["properties"]["cpu_percent"]["maximum"] = 99


def _no_minimum(schema: Schema) -> None:
    del _section(schema, "history")["properties"]["growth_window_hours"]["minimum"]


def _integer_limit(schema: Schema) -> None:
    _section(schema, "history")["properties"]["samples"]["minimum"] = 1


def _new_required_member(schema: Schema) -> None:
    server = _section(schema, "server")
    server["properties"]["pid"] = {"type": "integer", "minimum": 1}
    server["required"].append("pid")


def _new_optional_member(schema: Schema) -> None:
    _section(schema, "process")["properties"]["open_files"] = {"type": ["integer", "null"]}


def _new_enum_value(schema: Schema) -> None:
    schema["components"]["schemas"]["StatusDocument"]["properties"]["status"]["enum"].append(
        "maintenance"
    )


def _other_type(schema: Schema) -> None:
    _section(schema, "node")["properties"]["major"]["type"] = "number"


def _fewest_checks(schema: Schema) -> None:
    _section(schema, "checks")["minItems"] = 5


@pytest.mark.parametrize(
    ("plant", "expected"),
    [
        (_made_optional, "document.server.version: required is False in the schema, True"),
        (_made_optional, "document.server.version: left out: the client rejects what the schema"),
        (_made_required, "document.process.rss_bytes: required is True in the schema, False"),
        (_made_required, "document.process.rss_bytes: null: the client accepts what the schema"),
        (_not_nullable, "document.native_modules.*.self_test_ok: nullable is False in the schema"),
        (_not_nullable, "document.native_modules.bcrypt.self_test_ok: null: the client accepts"),
        (
            _shorter_name,
            "document.server.version: maxLength is 254 in the schema, 255 in the client",
        ),
        (
            _shorter_name,
            "document.server.version: over maxLength: the client accepts what the schema",
        ),
        (_lower_maximum, "document.container.cpu_percent: maximum is 99 in the schema, 100"),
        (
            _lower_maximum,
            "document.container.cpu_percent: just over the maximum: the client accepts",
        ),
        (_no_minimum, "document.history.growth_window_hours: minimum is None in the schema, 0"),
        (_no_minimum, "growth_window_hours: a very low number: the client rejects what the schema"),
        (_integer_limit, "document.history.samples: minimum is 1 in the schema, 0 in the client"),
        (_new_required_member, "document.server.pid: in the schema, not in the client"),
        (_new_required_member, "document.server.pid: left out: the client accepts what the schema"),
        (_new_optional_member, "document.process.open_files: in the schema, not in the client"),
        (_new_optional_member, "open_files: a value of type string: the client accepts what the"),
        (_new_enum_value, "document.status: the value 'maintenance': the client rejects what the"),
        (
            _other_type,
            "document.node.major: type is 'number' in the schema, 'integer' in the client",
        ),
        (_other_type, "document.node.major: a fraction: the client rejects what the schema allows"),
        (_fewest_checks, "document.checks: no items: the client accepts what the schema forbids"),
    ],
)
def test_schema_drift_is_found(plant: Callable[[Schema], None], expected: str) -> None:
    """The schema changes and the client does not: the check names the member and how."""
    schema = copy.deepcopy(load_openapi())
    plant(schema)
    found = disagreements(schema, models, errors)
    assert any(expected in line for line in found), found


# --- drifts in the client ---------------------------------------------------------------


@pytest.fixture
def drifted(tmp_path: Path) -> Iterator[Callable[[str, str], tuple[ModuleType, ModuleType]]]:
    """Import a copy of the client package with one text replaced in models.py."""
    loaded: list[str] = []

    def load(old: str, new: str) -> tuple[ModuleType, ModuleType]:
        name = f"drifted_client_{len(loaded)}"
        package = tmp_path / name
        shutil.copytree(CLIENT, package)
        source = (package / "models.py").read_text()
        assert source.count(old) == 1, old
        (package / "models.py").write_text(source.replace(old, new))
        sys.path.insert(0, str(tmp_path))
        try:
            drifted_models = importlib.import_module(f"{name}.models")
            drifted_errors = importlib.import_module(f"{name}.errors")
        finally:
            sys.path.remove(str(tmp_path))
        loaded.append(name)
        return drifted_models, drifted_errors

    yield load
    for name in loaded:
        for module in [key for key in sys.modules if key.split(".")[0] == name]:
            del sys.modules[module]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(
            'uptime_s: float = member("number", minimum=0)',
            'uptime_s: float | None = member("number", null=True, minimum=0)',
            "document.server.uptime_s: null: the client accepts what the schema forbids",
            id="made optional",
        ),
        pytest.param(
            'rss_bytes: int | None = member("integer", null=True, minimum=0)',
            'rss_bytes: int = member("integer", minimum=0)',
            "document.process.rss_bytes: left out: the client rejects what the schema allows",
            id="made required",
        ),
        pytest.param(
            "MAX_NAME_LENGTH: Final = 255",
            "MAX_NAME_LENGTH: Final = 256",
            "document.node.version: over maxLength: the client accepts what the schema forbids",
            id="changed bound",
        ),
        pytest.param(
            'memory_percent: float | None = member("number", null=True, minimum=0)',
            'memory_percent: float | None = member("number", null=True, minimum=0, maximum=100)',
            "document.container.memory_percent: maximum is None in the schema, 100 in the client",
            id="added bound",
        ),
        pytest.param(
            '    uptime_s: float = member("number", minimum=0)\n',
            '    uptime_s: float = member("number", minimum=0)\n    pid: int = member("integer")\n',
            "document.server.pid: in the client, not in the schema",
            id="new member in the client only",
        ),
        pytest.param(
            '    uptime_s: float = member("number", minimum=0)\n',
            '    uptime_s: float = member("number", minimum=0)\n'
            '    pid: int | None = member("integer", null=True)\n',
            "document.server.pid: in the client, not in the schema",
            id="new optional member in the client only",
        ),
        pytest.param(
            "        if not number.is_integer():",
            "        if False:",
            "document.node.major: a fraction: the client accepts what the schema forbids",
            id="reader: integers not checked",
        ),
        pytest.param(
            "    def _read(self, value: Any, path: str) -> Any:\n",
            "    def _read(self, value: Any, path: str) -> Any:\n"
            '        if self.kind == "number" and isinstance(value, str):\n'
            "            value = float(value)  # '5' coerced to 5, as mashumaro would\n",
            "document.server.uptime_s: a value of type string: the client accepts what the schema",
            id="reader: numbers coerced from text",
        ),
        pytest.param(
            'cgroup: str | None = member("string", null=True, values=("v1", "v2", "none", None))',
            'cgroup: str | None = member("string", null=True)',
            "document.container.cgroup: a value outside the enum: the client accepts",
            id="enum dropped",
        ),
    ],
)
def test_client_drift_is_found(
    drifted: Callable[[str, str], tuple[ModuleType, ModuleType]],
    old: str,
    new: str,
    expected: str,
) -> None:
    """The client changes and the schema does not: the check names the member and how."""
    found = disagreements(load_openapi(), *drifted(old, new))
    assert any(expected in line for line in found), found
