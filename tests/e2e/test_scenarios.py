"""End to end: the integration in Home Assistant (phcc) against the real Node server, no mocks.

Every test starts the real server (addon/server, Node 20 and Node 24), sets the integration up
through its config flow with the URL and the token the server printed, and checks what a user
would see. Expectations come from the server's own /api/v1/status document, fetched in the test.
"""

from datetime import datetime
from typing import Any

from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntry, ConfigEntryState
from homeassistant.const import CONF_TOKEN, STATE_OFF, STATE_ON, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er, issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import async_capture_events

from custom_components.hasync.const import (
    CONF_FAILURE_THRESHOLD,
    CONF_SCAN_INTERVAL,
    DOMAIN,
    EVENT_ALERT,
    ISSUE_FRONTEND_MISSING,
    ISSUE_NATIVE_MODULE_FAILED,
    ISSUE_UNREACHABLE,
)
from custom_components.hasync.repairs import issue_id
from devtools.server import ServerProcess, node_binary, rotate_token

from .helpers import (
    add_entry_through_flow,
    coordinator_of,
    entry_issues,
    fetch_status,
    hasync_messages,
    poll_now,
    set_options,
    state,
    wait_for,
    wait_for_status,
    wait_for_stream,
)

pytestmark = pytest.mark.e2e

PUSH_LIMIT = 3.0
"""Seconds within which a change on the server must show in HA (the issue's goal)."""
MIB = 1024 * 1024


def _on_off(value: bool) -> str:
    return STATE_ON if value else STATE_OFF


def _check_ok(document: dict[str, Any], name: str) -> bool:
    return next(check["ok"] for check in document["checks"] if check["name"] == name)


def _failing(document: dict[str, Any]) -> list[str]:
    return [check["name"] for check in document["checks"] if not check["ok"]]


def _entities(hass: HomeAssistant, entry: ConfigEntry) -> dict[str, str]:
    """Entity ids of the entry by description key (the unique id after the instance id)."""
    registry = er.async_get(hass)
    prefix = f"{entry.unique_id}_"
    entities = {}
    for reg_entry in er.async_entries_for_config_entry(registry, entry.entry_id):
        assert reg_entry.unique_id.startswith(prefix), reg_entry.unique_id
        entities[reg_entry.unique_id.removeprefix(prefix)] = reg_entry.entity_id
    return entities


def _figure(before: dict[str, Any], after: dict[str, Any], path: str) -> tuple[Any, Any]:
    """Return the value at a dotted path in the documents fetched before and after."""

    def get(document: dict[str, Any]) -> Any:
        value: Any = document
        for part in path.split("."):
            value = value[part]
        return value

    return get(before), get(after)


def _assert_figure(
    entity_id: str, shown: str, values: tuple[Any, Any], scale: float = 1.0, *, volatile: bool
) -> None:
    """Assert a figure is unknown exactly when the server does not measure it, else a number.

    Stable figures must equal the server's value; volatile ones (memory, CPU, loop delay) were
    read by HA at a moment between the two documents, so they must be plausible numbers close
    to the server's (memory within a factor of two).
    """
    before, after = values
    if before is None and after is None:
        assert shown == STATE_UNKNOWN, f"{entity_id}: the server reports null, HA shows {shown}"
        return
    if shown == STATE_UNKNOWN and None in values:
        return  # the server started measuring it in between
    assert shown not in (STATE_UNKNOWN, STATE_UNAVAILABLE), f"{entity_id} is {shown}"
    number = float(shown)
    known = [value / scale for value in values if value is not None]
    if not volatile:
        assert any(number == pytest.approx(value, rel=1e-6, abs=1e-6) for value in known), (
            f"{entity_id}: HA shows {number}, the server {known}"
        )
    elif scale == MIB:
        assert min(known) / 2 <= number <= max(known) * 2, (
            f"{entity_id}: HA shows {number} MiB, the server {known}"
        )
    else:
        assert number >= 0, f"{entity_id}: {number}"


async def test_setup_and_every_entity_has_a_real_value(
    hass: HomeAssistant,
    hasync_server: ServerProcess,
    entity_registry_enabled_by_default: None,
) -> None:
    """Set up through the config flow; every entity shows what the server reports."""
    before = await fetch_status(hass, hasync_server.url, hasync_server.token or "")
    entry = await add_entry_through_flow(hass, hasync_server)
    assert entry.unique_id == before["server"]["instance_id"]
    await wait_for_stream(entry)
    entities = _entities(hass, entry)
    shown = {key: state(hass, entity_id) or "" for key, entity_id in entities.items()}
    after = await fetch_status(hass, hasync_server.url, hasync_server.token or "")

    def figure(key: str, path: str, scale: float = 1.0, *, volatile: bool = True) -> None:
        _assert_figure(
            entities[key], shown.pop(key), _figure(before, after, path), scale, volatile=volatile
        )

    # Binary sensors: the server's verdicts (the checks do not change in a test's seconds).
    assert after["checks"] == before["checks"]
    assert shown.pop("connected") == STATE_ON
    assert shown.pop("problem") == _on_off(after["status"] != "ok")
    problem = hass.states.get(entities["problem"])
    assert problem is not None
    assert problem.attributes["failing_checks"] == _failing(after)
    for key, check in (
        ("bcrypt", "bcrypt"),
        ("better_sqlite3", "better-sqlite3"),
        ("database", "database"),
        ("frontend", "frontend"),
    ):
        assert shown.pop(key) == _on_off(not _check_ok(after, check)), key
    assert shown.pop("node_unsupported") == _on_off(not after["node"]["supported"])

    # Sensors.
    assert shown.pop("node_version") == after["node"]["version"]
    assert shown.pop("server_version") == after["server"]["version"]
    started = datetime.fromisoformat(shown.pop("started_at"))
    server_started = datetime.fromisoformat(after["server"]["started_at"])
    assert abs((started - server_started).total_seconds()) < 1, (started, server_started)
    figure("memory_used", "effective.memory_bytes", MIB)
    figure("memory_percent", "container.memory_percent")
    figure("cpu_percent", "effective.cpu_percent")
    figure("process_rss", "process.rss_bytes", MIB)
    figure("heap_used", "process.heap_used_bytes", MIB)
    figure("event_loop_delay", "process.event_loop_delay_p99_ms")
    figure("availability_24h", "history.availability_24h_percent", volatile=False)
    figure("availability_7d", "history.availability_7d_percent", volatile=False)
    # A fresh server: no window is covered enough for a figure (unknown); the covered hours say
    # how far each is.
    assert after["history"]["availability_24h_percent"] is None
    for key in ("availability_24h", "availability_7d"):
        entity = hass.states.get(entities[key])
        assert entity is not None
        member = f"{key}_covered_hours"
        covered = entity.attributes["covered_hours"]
        assert before["history"][member] <= covered <= after["history"][member] < 1, key
    figure("memory_growth", "history.memory_growth_mib_per_hour")
    figure("database_size", "database.size_bytes", MIB)
    figure("errors_24h", "errors.count_24h", volatile=False)
    errors = hass.states.get(entities["errors_24h"])
    assert errors is not None
    assert errors.attributes["last_message"] == after["errors"]["last_message"]
    assert errors.attributes["http_5xx_24h"] == after["errors"]["http_5xx_24h"]
    response_time = float(shown.pop("response_time"))
    assert 0 < response_time < 10_000  # measured by HA: a real round trip in ms
    # The restart button exists only for add-ons found through Supervisor discovery.
    assert "restart" not in shown
    assert not shown, f"entities this test does not check: {shown}"
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_status_change_arrives_by_push(
    hass: HomeAssistant, hasync_server: ServerProcess, frontend_dir: Any
) -> None:
    """The frontend build disappears on the server: HA shows it within 3 s, without a poll."""
    entry = await add_entry_through_flow(hass, hasync_server)
    await set_options(hass, entry, **{CONF_SCAN_INTERVAL: 300})
    await wait_for_stream(entry)
    coordinator = coordinator_of(entry)
    polls = coordinator.polls
    assert state(hass, "binary_sensor.hasync_frontend") == STATE_OFF
    assert state(hass, "binary_sensor.hasync_problem") == STATE_OFF

    stamp = frontend_dir / "hasync-build.json"
    stamp.rename(frontend_dir / "hasync-build.json.moved")
    elapsed = await wait_for(
        lambda: state(hass, "binary_sensor.hasync_frontend") == STATE_ON,
        PUSH_LIMIT,
        "binary_sensor.hasync_frontend turns on",
    )
    assert coordinator.polls == polls, "a poll ran: the change did not come by push"
    document = await fetch_status(hass, hasync_server.url, hasync_server.token or "")
    assert not _check_ok(document, "frontend")
    assert document["status"] == "degraded"
    problem = hass.states.get("binary_sensor.hasync_problem")
    assert problem is not None
    assert problem.state == STATE_ON
    assert problem.attributes["failing_checks"] == _failing(document) == ["frontend"]
    frontend_issue = issue_id(entry.entry_id, ISSUE_FRONTEND_MISSING)
    assert set(entry_issues(hass, entry)) == {frontend_issue}
    print(f"frontend missing shown after {elapsed:.2f} s by push")  # noqa: T201

    (frontend_dir / "hasync-build.json.moved").rename(stamp)
    await wait_for(
        lambda: state(hass, "binary_sensor.hasync_problem") == STATE_OFF,
        PUSH_LIMIT,
        "binary_sensor.hasync_problem turns off again",
    )
    assert state(hass, "binary_sensor.hasync_frontend") == STATE_OFF
    assert coordinator.polls == polls
    assert not entry_issues(hass, entry), "the frontend issue did not clear"
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_server_killed_then_restarted(
    hass: HomeAssistant, hasync_server: ServerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    """Kill the server: connected off within 3 s, one log line, `unreachable` in time.

    `unreachable` is raised after exactly the configured failures (polls driven by the poll
    timer); a restart on the same port and data dir recovers and clears it.
    """
    threshold = 4
    entry = await add_entry_through_flow(hass, hasync_server)
    await set_options(hass, entry, **{CONF_SCAN_INTERVAL: 300, CONF_FAILURE_THRESHOLD: threshold})
    await wait_for_stream(entry)
    coordinator = coordinator_of(entry)
    unreachable = issue_id(entry.entry_id, ISSUE_UNREACHABLE)
    assert not entry_issues(hass, entry)
    alerts = async_capture_events(hass, EVENT_ALERT)
    log_start = len(caplog.records)

    hasync_server.kill()
    elapsed = await wait_for(
        lambda: state(hass, "binary_sensor.hasync_connected") == STATE_OFF,
        PUSH_LIMIT,
        "binary_sensor.hasync_connected turns off",
    )
    print(f"connected off {elapsed:.2f} s after SIGKILL")  # noqa: T201
    assert state(hass, "sensor.hasync_memory_used") == STATE_UNAVAILABLE
    assert state(hass, "binary_sensor.hasync_problem") == STATE_UNAVAILABLE
    # The stream's end and the failed reconnect each check at once; no more without polls.
    await wait_for(
        lambda: (
            coordinator.listener.state.next_attempt_in_s is not None
            and coordinator.listener.state.next_attempt_in_s >= 2
        ),
        10,
        "the listener backs off",
    )
    await hass.async_block_till_done()
    failures = coordinator.consecutive_failures
    assert 1 <= failures < threshold
    for _ in range(threshold - 1 - failures):
        await poll_now(hass, entry)
    assert coordinator.consecutive_failures == threshold - 1
    assert not entry_issues(hass, entry), "raised before the configured failures"
    assert not alerts
    await poll_now(hass, entry)
    assert coordinator.consecutive_failures == threshold
    issues = entry_issues(hass, entry)
    assert set(issues) == {unreachable}
    assert issues[unreachable].severity is ir.IssueSeverity.ERROR
    assert issues[unreachable].translation_placeholders is not None
    assert issues[unreachable].translation_placeholders["threshold"] == str(threshold)
    assert [(event.data["issue"], event.data["active"]) for event in alerts] == [
        (ISSUE_UNREACHABLE, True)
    ]
    assert alerts[0].data["threshold"] == threshold
    # One line for the whole outage (HA's coordinator logs the first failure only).
    messages = hasync_messages(caplog, log_start)
    assert len(messages) == 1, messages
    assert messages[0].startswith("ERROR Error fetching"), messages
    assert f"127.0.0.1:{hasync_server.port}" in messages[0]

    log_start = len(caplog.records)
    pushes = coordinator.pushes
    hasync_server.start()
    await hass.async_add_executor_job(hasync_server.wait_healthy, 60.0)
    await poll_now(hass, entry)
    await wait_for(
        lambda: state(hass, "binary_sensor.hasync_connected") == STATE_ON,
        10,
        "binary_sensor.hasync_connected turns on again",
    )
    await wait_for_stream(entry, pushes)
    document = await fetch_status(hass, hasync_server.url, hasync_server.token or "")
    assert state(hass, "sensor.hasync_started") != STATE_UNAVAILABLE
    started = hass.states.get("sensor.hasync_started")
    assert started is not None
    new_start = datetime.fromisoformat(document["server"]["started_at"])
    assert abs((datetime.fromisoformat(started.state) - new_start).total_seconds()) < 1
    assert state(hass, "sensor.hasync_memory_used") not in (STATE_UNAVAILABLE, STATE_UNKNOWN)
    assert not entry_issues(hass, entry), "the issue did not clear"
    assert [(event.data["issue"], event.data["active"]) for event in alerts] == [
        (ISSUE_UNREACHABLE, True),
        (ISSUE_UNREACHABLE, False),
    ]
    messages = hasync_messages(caplog, log_start)
    assert len(messages) == 1, messages
    assert "recovered" in messages[0], messages
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_rotated_token_starts_reauth(
    hass: HomeAssistant, hasync_server: ServerProcess, node_major: int
) -> None:
    """`rotate-token` on the server starts reauth; the new token completes it."""
    entry = await add_entry_through_flow(hass, hasync_server)
    await wait_for_stream(entry)
    old_token = hasync_server.token or ""
    new_token = await hass.async_add_executor_job(
        rotate_token, hasync_server.data_dir, node_binary(node_major)
    )
    assert new_token != old_token
    # The server stops accepting the old token within 5 s (its token cache).
    await wait_for_status(hass, hasync_server.url, old_token, 401)

    def reauth_flows() -> list[Any]:
        return [
            flow
            for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
            if flow["context"]["source"] == SOURCE_REAUTH
        ]

    # The server ends the streams opened with the old token (src/sse.js), so the integration's
    # check at the end of its stream meets the 401. Were that gone, the next poll would: run one
    # the way the poll timer does (firing HA's clock here would also fire the timeouts of the
    # requests in flight).
    try:
        await wait_for(lambda: bool(reauth_flows()), 10, "reauth starts")
    except AssertionError:
        await coordinator_of(entry).async_refresh()
        await hass.async_block_till_done()
    flows = reauth_flows()
    assert len(flows) == 1, flows
    assert flows[0]["step_id"] == "reauth_confirm"
    assert state(hass, "binary_sensor.hasync_connected") == STATE_OFF

    result = await hass.config_entries.flow.async_configure(
        flows[0]["flow_id"], {CONF_TOKEN: "not-the-token"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        flows[0]["flow_id"], {CONF_TOKEN: new_token}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.data[CONF_TOKEN] == new_token
    assert entry.state is ConfigEntryState.LOADED
    await wait_for_stream(entry)
    assert state(hass, "binary_sensor.hasync_connected") == STATE_ON
    assert not reauth_flows()
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_bcrypt_binary_missing(
    hass: HomeAssistant, hasync_server_without_bcrypt: ServerProcess
) -> None:
    """Delete bcrypt's .node in a copy of the server: bcrypt problem and its repair only."""
    server = hasync_server_without_bcrypt
    document = await fetch_status(hass, server.url, server.token or "")
    assert document["native_modules"]["bcrypt"]["loaded"] is False
    assert document["native_modules"]["better-sqlite3"]["loaded"] is True
    assert _failing(document) == ["bcrypt"]

    entry = await add_entry_through_flow(hass, server)
    await wait_for_stream(entry)
    assert state(hass, "binary_sensor.hasync_bcrypt") == STATE_ON
    assert state(hass, "binary_sensor.hasync_better_sqlite3") == STATE_OFF
    assert state(hass, "binary_sensor.hasync_database") == STATE_OFF
    problem = hass.states.get("binary_sensor.hasync_problem")
    assert problem is not None
    assert problem.state == STATE_ON
    assert problem.attributes["failing_checks"] == ["bcrypt"]
    issues = entry_issues(hass, entry)
    bcrypt_issue = issue_id(entry.entry_id, ISSUE_NATIVE_MODULE_FAILED, "bcrypt")
    assert set(issues) == {bcrypt_issue}, "exactly one issue: bcrypt's"
    placeholders = issues[bcrypt_issue].translation_placeholders or {}
    assert placeholders["module"] == "bcrypt"
    # The server's own error text reaches the user.
    server_error = document["native_modules"]["bcrypt"]["error"]
    assert server_error
    assert server_error in placeholders["error"]
    assert await hass.config_entries.async_unload(entry.entry_id)
