"""What Home Assistant must show for a document: entity states, repair issues, log lines.

Written from the integration's documented behaviour (docs/integration.md, rules.py docstrings), not from its
code: a sensor shows its figure or ``unknown`` for null; a failed update makes every entity
unavailable but ``connected``; each rule's condition is restated here for a single document.
"""

from dataclasses import dataclass, field
import logging
import math
from typing import Any, Final

from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import State
from homeassistant.util import slugify
import pytest

MIB: Final = 1024 * 1024

SENSORS: Final[dict[str, tuple[str, str, float]]] = {
    "memory_used": ("effective", "memory_bytes", 1 / MIB),
    "memory_percent": ("container", "memory_percent", 1),
    "cpu_percent": ("effective", "cpu_percent", 1),
    "process_rss": ("process", "rss_bytes", 1 / MIB),
    "heap_used": ("process", "heap_used_bytes", 1 / MIB),
    "event_loop_delay": ("process", "event_loop_delay_p99_ms", 1),
    "availability_24h": ("history", "availability_24h_percent", 1),
    "availability_7d": ("history", "availability_7d_percent", 1),
    "memory_growth": ("history", "memory_growth_mib_per_hour", 1),
    "database_size": ("database", "size_bytes", 1 / MIB),
}
"""Numeric sensors: the member they show, and the factor to their display unit (MiB)."""
TEXT_SENSORS: Final = {"node_version": ("node", "version"), "server_version": ("server", "version")}
CHECK_SENSORS: Final = {"database": "database", "frontend": "frontend"}
MODULE_SENSORS: Final = {"bcrypt": "bcrypt", "better_sqlite3": "better-sqlite3"}
"""On when the module did not load or its self-test failed, as its repair judges it."""
ALWAYS_AVAILABLE: Final = "connected"


@dataclass(frozen=True, slots=True, eq=False)
class Shown:
    """An entity's expected state: a string, or a number to compare with a tolerance."""

    state: str | None = None
    number: float | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    __hash__ = None  # type: ignore[assignment]  # compared with states, never hashed

    def __eq__(self, other: object) -> bool:
        """Compare with a Home Assistant State (or another Shown)."""
        if isinstance(other, Shown):
            return (self.state, self.number, self.attributes) == (
                other.state,
                other.number,
                other.attributes,
            )
        if not isinstance(other, State):
            return NotImplemented
        if any(other.attributes.get(key) != value for key, value in self.attributes.items()):
            return False
        if self.number is None:
            return other.state == self.state
        try:
            shown = float(other.state)
        except ValueError:
            return False
        return math.isfinite(shown) and shown == pytest.approx(self.number, rel=1e-12, abs=1e-300)


def _on_off(problem: bool | None) -> Shown:
    if problem is None:
        return Shown(STATE_UNKNOWN)
    return Shown(STATE_ON if problem else STATE_OFF)


def expected_states(read: dict[str, Any] | None) -> dict[str, Shown]:
    """Return each entity's expected state by key; ``read`` None: the last update failed."""
    keys = [
        *SENSORS,
        *TEXT_SENSORS,
        "started_at",
        "response_time",
        "problem",
        *CHECK_SENSORS,
        *MODULE_SENSORS,
        "node_unsupported",
        "errors_24h",
    ]
    if read is None:
        return {
            **{key: Shown(STATE_UNAVAILABLE) for key in keys},
            ALWAYS_AVAILABLE: Shown(STATE_OFF),
        }
    states: dict[str, Shown] = {ALWAYS_AVAILABLE: Shown(STATE_ON)}
    for key, (section, member, factor) in SENSORS.items():
        value = read[section][member]
        states[key] = Shown(STATE_UNKNOWN) if value is None else Shown(number=value * factor)
    for key, (section, member) in TEXT_SENSORS.items():
        states[key] = Shown(read[section][member])
    states["started_at"] = Shown(read["server"]["started_at"].isoformat(timespec="seconds"))
    states["response_time"] = _AnyNumber()
    checks = read["checks"]
    failing = [check["name"] for check in checks if not check["ok"]]
    states["problem"] = Shown(
        STATE_ON if read["status"] != "ok" else STATE_OFF, attributes={"failing_checks": failing}
    )
    for key, name in CHECK_SENSORS.items():
        check = next((check for check in checks if check["name"] == name), None)
        states[key] = _on_off(None if check is None else not check["ok"])
    for key, name in MODULE_SENSORS.items():
        module = read["native_modules"].get(name)
        failing = module and (not module["loaded"] or module["self_test_ok"] is False)
        states[key] = _on_off(None if module is None else bool(failing))
    states["node_unsupported"] = _on_off(not read["node"]["supported"])
    # The error count, with its details as attributes; unknown from a server without them.
    errors = read["errors"]
    states["errors_24h"] = (
        Shown(STATE_UNKNOWN)
        if errors is None
        else Shown(
            number=errors["count_24h"],
            attributes={
                "fatal_24h": errors["fatal_24h"],
                "http_5xx_24h": errors["http_5xx_24h"],
                "last_error_at": None
                if errors["last_at"] is None
                else errors["last_at"].isoformat(),
                "last_message": errors["last_message"],
            },
        )
    )
    return states


class _AnyNumber(Shown):
    """A measured figure (the response time): any finite number."""

    __hash__ = None  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, State):
            return NotImplemented
        try:
            return math.isfinite(float(other.state))
        except ValueError:
            return False


def assert_states(actual: dict[str, State], expected: dict[str, Shown], described: str) -> None:
    """Compare the entities' states with the expected ones, naming every difference."""
    assert set(actual) == set(expected), f"entities {sorted(actual)} ({described})"
    wrong = {
        key: (
            str(actual[key].state)[:80],
            dict(actual[key].attributes).get("failing_checks"),
            shown,
        )
        for key, shown in expected.items()
        if not shown == actual[key]  # noqa: SIM201 - Shown compares with a State, not the reverse
    }
    assert not wrong, f"states differ ({described}): {wrong}"


def expected_issues(read: dict[str, Any]) -> set[str]:
    """Return the repair issues one valid document raises at once (by key, module slugged).

    The sustained rules (memory, CPU) need minutes of history and cannot fire from one
    document; the others can:
    - a native module that did not load, or whose self-test failed (null is not a failure);
    - Node.js below the server's minimum; the database check failing; no frontend build;
    - memory growing faster than 10 MiB/h over at least 6 h of the server's own window and of
      its uptime;
    - 10 or more errors logged in the server's last 24 h, or any fatal one.
    """
    keys = {
        f"native_module_failed_{slugify(name)}"
        for name, module in read["native_modules"].items()
        if not module["loaded"] or module["self_test_ok"] is False
    }
    if not read["node"]["supported"]:
        keys.add("node_unsupported")
    if not read["database"]["ok"]:
        keys.add("database_unavailable")
    if not read["frontend"]["present"]:
        keys.add("frontend_missing")
    history = read["history"]
    growth, window = history["memory_growth_mib_per_hour"], history["growth_window_hours"]
    uptime_hours = read["server"]["uptime_s"] / 3600
    if growth is not None and window is not None and min(window, uptime_hours) >= 6 and growth > 10:
        keys.add("memory_leak_suspected")
    errors = read["errors"]
    if errors is not None and (errors["count_24h"] >= 10 or errors["fatal_24h"] > 0):
        keys.add("errors_logged")
    return keys


def slow_callback_warning(record: logging.LogRecord) -> bool:
    """Tell asyncio's debug-mode warning about a slow step, which wall-clock load decides.

    On a loaded 2-core machine any step can take 0.1 s of wall-clock time; a decoder that
    really stalls the loop is caught by its CPU-time test in tests/test_hardening.py instead.
    """
    return record.name == "asyncio" and record.getMessage().startswith("Executing <")


@dataclass
class FailureLog:
    """Checks the log of a run of polls: one concise line per failure episode.

    Every record at INFO or above is inspected; only the coordinator's two lines are allowed:
    ``Error fetching <title> data: <one short line>`` when updates start failing and
    ``Fetching <title> data recovered`` when they recover.
    """

    caplog: pytest.LogCaptureFixture
    title: str

    def check(self, *, failed: bool = False, recovered: bool = False, described: str) -> None:
        """Check the records since the last check; then forget them."""
        records = [
            record
            for record in self.caplog.records
            if record.levelno >= logging.INFO and not slow_callback_warning(record)
        ]
        self.caplog.clear()
        expected: list[str] = []
        if failed:
            expected.append("error")
        if recovered:
            expected.append("recovered")
        seen: list[str] = []
        for record in records:
            message = record.getMessage()
            assert record.exc_info is None, f"a traceback was logged ({described}): {message}"
            assert record.name.startswith("custom_components.hasync"), (
                f"unexpected record from {record.name} ({described}): {message[:300]}"
            )
            if record.levelno == logging.ERROR and message.startswith(
                f"Error fetching {self.title} data: "
            ):
                assert "\n" not in message, f"a multi-line error ({described}): {message!r}"
                assert message.isprintable(), f"control characters ({described}): {message!r}"
                assert len(message) <= 400, f"a long error line ({described}): {message}"
                seen.append("error")
            elif (
                record.levelno == logging.INFO
                and message == f"Fetching {self.title} data recovered"
            ):
                seen.append("recovered")
            else:
                pytest.fail(f"unexpected log record ({described}): {message[:300]}")
        assert seen == expected, f"log lines {seen}, expected {expected} ({described})"
