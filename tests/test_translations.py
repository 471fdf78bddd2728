"""Every translation key the code uses exists, with its placeholders (core's check, for us).

phcc lacks core's translation checks, so this walks the code: entity descriptions,
exceptions raised with a translation key, config and options flow steps, errors and aborts,
repair issues, system health. It also fails on strings nothing uses.
"""

import ast
import json
from pathlib import Path
import re
from typing import Any

import hass_frontend
import pytest

from custom_components.hasync import (
    binary_sensor,
    button,
    config_flow,
    repairs,
    sensor,
)
from custom_components.hasync.config_flow import (
    OPTIONS_SCHEMA,
    STEP_TOKEN_SCHEMA,
    STEP_URL_SCHEMA,
    STEP_USER_SCHEMA,
)
from custom_components.hasync.const import (
    ATTR_COVERED_HOURS,
    ATTR_FATAL_24H,
    ATTR_HTTP_5XX_24H,
    ATTR_LAST_ERROR_AT,
    ATTR_LAST_MESSAGE,
    DOMAIN,
)
from custom_components.hasync.failures import describe
from custom_components.hasync.supervisor import AddonFix

from .common import load_script_module
from .test_failures import FAILURES

PACKAGE = Path(__file__).parent.parent / "custom_components" / DOMAIN
STRINGS: dict[str, Any] = load_script_module("translations").resolve(
    json.loads((PACKAGE / "strings.json").read_text())
)
"""strings.json with its references to its own keys resolved, as en.json ships it."""
SERVER_URL = "http://192.168.1.10:8099"
PLACEHOLDER = re.compile(r"{(\w+)}")


def _calls() -> list[tuple[str, ast.Call]]:
    """Every call in the integration's modules, with the module's file name."""
    found = []
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        found.extend((path.name, node) for node in ast.walk(tree) if isinstance(node, ast.Call))
    return found


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((kw.value for kw in call.keywords if kw.arg == name), None)


def _constant(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def test_en_json_is_a_complete_copy() -> None:
    """Custom integrations do not resolve [%key:…%] references: en.json holds them resolved."""
    en = (PACKAGE / "translations" / "en.json").read_text()
    assert json.loads(en) == STRINGS
    assert "[%key:" not in en


def test_entity_translations_and_icons() -> None:
    """Each entity's translation key has a name; icons exist only for known keys."""
    icons = json.loads((PACKAGE / "icons.json").read_text())["entity"]
    used: dict[str, set[str]] = {
        "sensor": {d.translation_key for d in sensor.SENSORS if d.translation_key},
        "binary_sensor": {
            d.translation_key
            for d in (*binary_sensor.BINARY_SENSORS, binary_sensor.CONNECTED)
            if d.translation_key
        },
    }
    assert button.RESTART.translation_key is None  # named by its device class
    assert set(STRINGS["entity"]) == set(used)
    for platform, keys in used.items():
        assert set(STRINGS["entity"][platform]) == keys, platform
        for key in keys:
            assert STRINGS["entity"][platform][key]["name"], key
        assert set(icons[platform]) <= keys, platform
    # Sensors have no device-class icon of their own, so each has one in icons.json.
    assert set(icons["sensor"]) == used["sensor"]
    assert set(STRINGS["entity"]["binary_sensor"]["problem"]["state_attributes"]) == {
        "failing_checks"
    }
    with_attributes = {d.key for d in sensor.SENSORS if d.attributes_fn is not None}
    assert with_attributes == {"availability_24h", "availability_7d", "errors_24h"}
    for key in ("availability_24h", "availability_7d"):
        attributes = STRINGS["entity"]["sensor"][key]["state_attributes"]
        assert set(attributes) == {ATTR_COVERED_HOURS}, key
    assert set(STRINGS["entity"]["sensor"]["errors_24h"]["state_attributes"]) == {
        ATTR_FATAL_24H,
        ATTR_HTTP_5XX_24H,
        ATTR_LAST_ERROR_AT,
        ATTR_LAST_MESSAGE,
    }


def test_icons_are_distinct_and_exist() -> None:
    """No two entities share an icon, and every icon is one Home Assistant's frontend ships.

    Connected and both availabilities looked alike, and so did the memory figures.
    """
    icons = json.loads((PACKAGE / "icons.json").read_text())["entity"]
    defaults = [entry["default"] for platform in icons.values() for entry in platform.values()]
    assert len(defaults) == len(set(defaults)), sorted(defaults)
    assert set(icons["binary_sensor"]) >= {"connected"}  # not the device class's default icon
    shipped: set[str] = set()
    for path in (Path(hass_frontend.where()) / "static" / "mdi").glob("*.json"):
        # Icon paths by name in chunks, and the icon list (names and keywords) beside them.
        data = json.loads(path.read_text())
        if isinstance(data, dict):
            shipped.update(data)
        else:
            shipped.update(entry["name"] for entry in data)
    assert len(shipped) > 5000  # the frontend's whole icon set
    every = {
        icon
        for platform in icons.values()
        for entry in platform.values()
        for icon in (entry["default"], *entry.get("state", {}).values())
    }
    assert {icon.removeprefix("mdi:") for icon in every} <= shipped


def test_exception_translations() -> None:
    """Every translated exception exists, uses exactly the placeholders passed, and is used."""
    messages = {key: value["message"] for key, value in STRINGS["exceptions"].items()}
    used: set[str] = set()
    for module, call in _calls():
        if _keyword(call, "translation_domain") is None:
            continue
        key = _constant(_keyword(call, "translation_key"))
        if key is None:
            continue  # a computed key: checked below
        used.add(key)
        assert key in messages, f"{module}: {key}"
        placeholders = _keyword(call, "translation_placeholders")
        passed = (
            {_constant(k) for k in placeholders.keys}
            if isinstance(placeholders, ast.Dict)
            else set()
        )
        assert passed == _placeholders(messages[key]), f"{module}: {key}"
    # The coordinator's keys come from failures.describe(), one per client error class.
    computed: set[str] = set()
    for failure in FAILURES:
        key, placeholders = describe(failure.error, SERVER_URL, 10)
        computed.add(key)
        assert _placeholders(messages[key]) == set(placeholders), key
    assert used | computed == set(messages)


def test_config_flow_translations() -> None:
    """Steps, their fields, errors and aborts of the config and options flows exist."""
    config = STRINGS["config"]
    steps, errors, aborts = set(), set(), set()
    for module, call in _calls():
        if module != "config_flow.py":
            continue
        if step := _constant(_keyword(call, "step_id")):
            steps.add(step)
        if (reason := _constant(_keyword(call, "reason"))) is not None:
            aborts.add(reason)
    tree = ast.parse((PACKAGE / "config_flow.py").read_text())
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Subscript)
            and (value := _constant(node.value)) is not None
        ):
            errors.add(value)
    # The check's errors show on forms, and abort a discovery, with the failure's placeholders.
    check_errors = {"invalid_auth", "unknown", "instance_unknown"}
    for failure in FAILURES:
        key, placeholders = config_flow._check_error(failure.error, SERVER_URL)
        check_errors.add(key)
        for section in ("error", "abort"):
            assert _placeholders(config[section][key]) == set(placeholders), (section, key)
    assert check_errors - {"invalid_auth", "unknown", "instance_unknown"} == set(
        config_flow.CHECK_FAILURE_KEYS
    )
    assert _placeholders(config["error"]["instance_unknown"]) == {"address"}
    errors |= check_errors
    aborts |= check_errors
    aborts |= {"already_configured", "already_in_progress"}  # _abort_if_unique_id_configured
    aborts |= {"reauth_successful", "reconfigure_successful"}  # async_update_reload_and_abort

    assert steps == set(config["step"]) | {"init"}
    assert errors == set(config["error"])
    assert aborts == set(config["abort"])

    schemas = {
        "user": STEP_USER_SCHEMA,
        "reauth_confirm": STEP_TOKEN_SCHEMA,
        "reconfigure": STEP_URL_SCHEMA,
    }
    for step, schema in schemas.items():
        fields = {str(key) for key in schema.schema}
        assert set(config["step"][step]["data"]) == fields, step
        assert set(config["step"][step]["data_description"]) == fields, step
    assert _placeholders(config["step"]["hassio_confirm"]["description"]) == {"addon"}
    assert _placeholders(config["step"]["reauth_confirm"]["description"]) == {"name"}
    assert _placeholders(config["flow_title"]) == {"name"}

    options = STRINGS["options"]["step"]["init"]
    fields = {str(key) for key in OPTIONS_SCHEMA.schema}
    assert set(options["data"]) == fields
    assert set(options["data_description"]) == fields


def test_issue_translations() -> None:
    """Every repair issue's translation keys exist, with the shape hassfest requires.

    An issue's translation has a title and either a description (it only explains) or a fix
    flow (hassfest allows one of the two), so a rule fixable through Supervisor has a key for
    each case. The placeholders are checked against real issues in test_repairs.py.
    """
    issues = STRINGS["issues"]
    used: set[str] = set()
    for module, call in _calls():
        name = (
            call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
        )
        if name != "async_create_issue":
            continue
        key = _keyword(call, "translation_key")
        if (constant := _constant(key)) is not None:
            used.add(constant)
            continue
        # The issue manager computes it from the rule's spec: checked below.
        assert module == "repairs.py", module
        assert isinstance(key, ast.Call), module
        assert isinstance(key.func, ast.Attribute), module
        assert key.func.attr == "translation_key", module

    aborts = {
        AddonFix.RESTART: {"restart_failed"},
        AddonFix.REBUILD: {"rebuild_failed", "rebuild_running"},
        AddonFix.UPDATE: {"update_failed", "no_update_available"},
    }
    # The rollback's steps, aborts and result, in every flow of an issue that offers it.
    rollback_steps = {"choose", "no_backup", "rollback"}
    rollback_aborts = {
        "backups_unavailable": {"error"},
        "rollback_failed": {"addon", "rollback_version", "error"},
        "no_backup": {"addon", "rollback_version"},
    }
    for spec in repairs.ISSUES:
        plain = issues[spec.translation_key(None)]
        used.add(spec.translation_key(None))
        assert set(plain) == {"title", "description"}, spec.key
        assert plain["title"]
        assert plain["description"]
        if spec.rollback:
            key = spec.translation_key(None, rollback=True)
            used.add(key)
            flow = issues[key]["fix_flow"]
            assert issues[key]["title"] == plain["title"], key
            assert set(flow["step"]) == {"rollback"}, key
            assert {r: _placeholders(t) for r, t in flow["abort"].items()} == rollback_aborts
            assert set(flow["create_entry"]) == {"rollback_started"}, key
        if spec.fix is None:
            continue
        key = spec.translation_key(spec.fix)
        used.add(key)
        fixable = issues[key]
        assert set(fixable) == {"title", "fix_flow"}, key
        assert fixable["title"] == plain["title"], key
        steps = fixable["fix_flow"]["step"]
        assert steps["confirm"]["title"]
        assert steps["confirm"]["description"]
        assert set(steps) == {"confirm"} | (rollback_steps if spec.rollback else set()), key
        if spec.rollback:
            assert set(steps["choose"]["menu_options"]) == {"rollback", "confirm"}, key
            assert set(steps["no_backup"]["menu_options"]) == {"confirm"}, key
        expected_aborts = aborts[spec.fix] | (set(rollback_aborts) if spec.rollback else set())
        assert set(fixable["fix_flow"]["abort"]) == expected_aborts, key
        for reason, text in fixable["fix_flow"]["abort"].items():
            if reason in rollback_aborts:
                expected = rollback_aborts[reason]
            else:
                expected = {"addon", "error"} if reason.endswith("_failed") else {"addon"}
            assert _placeholders(text) == expected, f"{key}: {reason}"
    assert used == set(issues)

    # The reasons the fix flow aborts with: constants, and "<fix>_failed".
    reasons = {
        reason
        for module, call in _calls()
        if module == "repairs.py"
        and getattr(call.func, "attr", None) == "_abort"
        and (reason := _constant(call.args[0])) is not None
    }
    assert reasons | {f"{fix}_failed" for fix in AddonFix} == set().union(
        *aborts.values(), rollback_aborts
    )


@pytest.mark.parametrize("section", ["config", "options", "entity", "exceptions", "issues"])
def test_no_empty_strings(section: str) -> None:
    """No translation is blank."""

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for key, child in value.items():
                walk(child, f"{path}.{key}")
        else:
            assert isinstance(value, str), path
            assert value.strip(), path

    walk(STRINGS[section], section)


def test_system_health_translations() -> None:
    """Every info key system health reports has a label."""
    tree = ast.parse((PACKAGE / "system_health.py").read_text())
    keys = {
        key.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Dict)
        for key in node.keys
        if isinstance(key, ast.Constant)
    }
    assert keys == set(STRINGS["system_health"]["info"])
