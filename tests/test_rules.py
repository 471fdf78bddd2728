"""The repair rules on their own: each at its boundaries, with timestamps, not poll counts."""

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from custom_components.hasync import rules
from custom_components.hasync.client.models import StatusDocument
from custom_components.hasync.const import (
    CONF_CPU_MINUTES,
    CONF_ERRORS_THRESHOLD,
    CONF_FAILURE_THRESHOLD,
    CONF_MEMORY_MINUTES,
    CONF_SCAN_INTERVAL,
)
from custom_components.hasync.data import HAsyncOptions, StatusSample
from custom_components.hasync.rules import Evaluation

from .conftest import status_document, status_json

MIB = 1024 * 1024
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
OPTIONS = HAsyncOptions.from_options({})  # 500 MiB / 5 min, 80 % / 10 min, 3 failures, 10 MiB/h


def _sample(seconds_ago: float, changes: Mapping[str, Any] | None = None) -> StatusSample:
    return StatusSample(NOW - timedelta(seconds=seconds_ago), status_document(changes))


def _memory(seconds_ago: float, mib: float | None) -> StatusSample:
    return _sample(
        seconds_ago, {"container.memory_used_bytes": None if mib is None else round(mib * MIB)}
    )


def _cpu(seconds_ago: float, percent: float | None) -> StatusSample:
    return _sample(seconds_ago, {"container.cpu_percent": percent})


def _memory_series(
    mib: float, seconds_ago: Sequence[float] = range(300, -1, -30)
) -> list[StatusSample]:
    return [_memory(ago, mib) for ago in seconds_ago]


def _high_memory(samples: Sequence[StatusSample], failures: int = 0) -> Evaluation:
    return rules.high_memory(samples, failures, OPTIONS, NOW)


# --- unreachable ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failures", "active"), [(0, False), (1, False), (2, False), (3, True), (4, True)]
)
def test_unreachable_boundaries(failures: int, active: bool) -> None:
    """Active from the configured number of consecutive failures on (default 3)."""
    evaluation = rules.unreachable([], failures, OPTIONS, NOW)
    assert evaluation == Evaluation(
        active=active,
        value=failures,
        threshold=3,
        placeholders={"failures": str(failures), "threshold": "3"},
    )


def test_unreachable_threshold_option() -> None:
    """The threshold comes from the options; a success (0 failures) is recovery."""
    options = HAsyncOptions.from_options({CONF_FAILURE_THRESHOLD: 1})
    assert rules.unreachable([], 1, options, NOW).active is True
    assert rules.unreachable([], 0, options, NOW).active is False


# --- high memory (sustained) ----------------------------------------------------------


def test_high_memory_just_over_for_the_whole_window() -> None:
    """Every sample over 500 MiB, from the window's start to now: active."""
    evaluation = _high_memory(_memory_series(500.1))
    assert evaluation == Evaluation(
        active=True,
        value=500.1,
        threshold=500,
        placeholders={"value": "500.1", "threshold": "500", "minutes": "5"},
    )


@pytest.mark.parametrize("mib", [500.0, 499.9])
def test_high_memory_at_or_under_the_threshold(mib: float) -> None:
    """At or just under the threshold is not high."""
    assert _high_memory(_memory_series(mib)).active is False


def test_high_memory_window_not_yet_full() -> None:
    """Over the threshold for 4 min 59 s of a 5 min window: cannot tell yet."""
    evaluation = _high_memory(_memory_series(600, [299, 240, 180, 120, 60, 0]))
    assert evaluation.active is None
    assert evaluation.value == 600.0


def test_high_memory_window_starts_exactly_at_a_sample() -> None:
    """A sample exactly at the window's start covers it."""
    assert _high_memory(_memory_series(600, [300, 240, 180, 120, 60, 0])).active is True


def test_high_memory_irregular_intervals() -> None:
    """Push and poll at irregular times: only the timestamps matter, not how many samples."""
    irregular = [412, 301, 257, 203, 170, 122, 80, 33, 1]
    assert _high_memory(_memory_series(600, irregular)).active is True
    # Fewer samples, a minute apart (the longest gap two scan intervals allow).
    few = [
        _memory(360, 600),
        _memory(300, 600),
        _memory(250, 600),
        _memory(190, 600),
        _memory(130, 600),
        _memory(70, 600),
        _memory(10, 600),
    ]
    assert _high_memory(few).active is True


def test_high_memory_older_samples_do_not_matter() -> None:
    """A low sample before the one in force at the window's start is outside the window."""
    samples = [_memory(420, 100), _memory(330, 100), *_memory_series(600)]
    assert _high_memory(samples).active is True


@pytest.mark.parametrize(
    ("gap_start", "active"),
    [(200, True), (201, None)],  # the gap from 200 s (or 201 s) ago to 140 s ago
)
def test_high_memory_gap_in_the_window(gap_start: int, active: bool | None) -> None:
    """A gap of more than two scan intervals (60 s) means the window is not covered."""
    samples = _memory_series(600, [300, 260, 230, gap_start, 140, 110, 80, 50, 20, 0])
    assert _high_memory(samples).active is active


@pytest.mark.parametrize(("last", "active"), [(60, True), (61, None)])
def test_high_memory_last_sample_too_old(last: int, active: bool | None) -> None:
    """Each value holds at most two scan intervals: the window must reach up to now."""
    samples = _memory_series(600, [*range(300, last, -30), last])
    assert _high_memory(samples).active is active


def test_high_memory_scan_interval_sets_the_gap() -> None:
    """With a longer scan interval, longer gaps between samples are expected."""
    options = HAsyncOptions.from_options({CONF_SCAN_INTERVAL: 120})
    assert rules.max_sample_gap(options) == timedelta(seconds=240)
    samples = _memory_series(600, [300, 60])
    assert rules.high_memory(samples, 0, options, NOW).active is True
    assert _high_memory(samples).active is None


def test_high_memory_recovery() -> None:
    """One sample at or under the threshold in the window clears it at once."""
    samples = _memory_series(600)
    assert _high_memory([*samples, _memory(0, 450)]).active is False
    dip = [*samples[:5], _memory(150, 500), *samples[5:]]
    assert _high_memory(dip).active is False


def test_high_memory_window_option() -> None:
    """The window comes from the options."""
    options = HAsyncOptions.from_options({CONF_MEMORY_MINUTES: 1})
    samples = _memory_series(600, [60, 30, 0])
    assert rules.high_memory(samples, 0, options, NOW).active is True
    assert rules.high_memory(samples, 0, options, NOW).placeholders["minutes"] == "1"
    assert _high_memory(samples).active is None


def test_high_memory_unknown_is_not_high() -> None:
    """A null figure never counts as high; without a cgroup the process RSS is judged."""
    no_cgroup = [
        _sample(ago, {"container.memory_used_bytes": None, "process.rss_bytes": None})
        for ago in range(300, -1, -30)
    ]
    evaluation = _high_memory(no_cgroup)
    assert evaluation.active is False
    assert evaluation.value is None
    assert evaluation.placeholders["value"] == "unknown"
    one_unknown = _memory_series(600)
    one_unknown[4] = _sample(180, {"container.memory_used_bytes": None, "process.rss_bytes": None})
    assert _high_memory(one_unknown).active is False
    rss = [
        _sample(ago, {"container.memory_used_bytes": None, "process.rss_bytes": 600 * MIB})
        for ago in range(300, -1, -30)
    ]
    assert _high_memory(rss).active is True


def test_high_memory_needs_a_current_document() -> None:
    """After a failed update, or without samples, it cannot tell."""
    assert _high_memory(_memory_series(600), failures=1).active is None
    assert _high_memory([]) == Evaluation(
        active=None,
        value=None,
        threshold=500,
        placeholders={"value": "unknown", "threshold": "500", "minutes": "5"},
    )


# --- high CPU (sustained) -------------------------------------------------------------


def _cpu_series(percent: float | None) -> list[StatusSample]:
    return [_cpu(ago, percent) for ago in range(600, -1, -30)]


@pytest.mark.parametrize(("percent", "active"), [(80.1, True), (80.0, False), (79.9, False)])
def test_high_cpu_boundaries(percent: float, active: bool) -> None:
    """Above 80 % for the whole 10 minutes."""
    evaluation = rules.high_cpu(_cpu_series(percent), 0, OPTIONS, NOW)
    assert evaluation.active is active
    assert evaluation.value == percent
    assert evaluation.threshold == 80
    assert evaluation.placeholders == {
        "value": f"{percent:.1f}".removesuffix(".0"),
        "threshold": "80",
        "minutes": "10",
    }


def test_high_cpu_window_and_recovery() -> None:
    """Not full after 5 minutes of a 10 minute window; a low sample clears it."""
    samples = _cpu_series(95)
    assert rules.high_cpu(samples[10:], 0, OPTIONS, NOW).active is None
    assert rules.high_cpu([*samples, _cpu(0, 5)], 0, OPTIONS, NOW).active is False
    options = HAsyncOptions.from_options({CONF_CPU_MINUTES: 5})
    assert rules.high_cpu(samples[10:], 0, options, NOW).active is True


def test_high_cpu_unknown_is_not_high() -> None:
    """Null container and process CPU never trigger; process CPU stands in for the container."""
    unknown = [
        _sample(ago, {"container.cpu_percent": None, "process.cpu_percent": None})
        for ago in range(600, -1, -30)
    ]
    assert rules.high_cpu(unknown, 0, OPTIONS, NOW).active is False
    process = [
        _sample(ago, {"container.cpu_percent": None, "process.cpu_percent": 99.0})
        for ago in range(600, -1, -30)
    ]
    assert rules.high_cpu(process, 0, OPTIONS, NOW).active is True


# --- native modules -------------------------------------------------------------------


def test_native_modules_all_working() -> None:
    """Each reported module gets a verdict; working ones are not active."""
    verdicts = rules.native_modules([_sample(0)], 0, OPTIONS, NOW)
    assert verdicts is not None
    assert {name: v.active for name, v in verdicts.items()} == {
        "bcrypt": False,
        "better-sqlite3": False,
    }


def test_native_module_fails_to_load() -> None:
    """A module that did not load is failing, with its error text; the others are not."""
    sample = StatusSample(NOW, status_document(name="status_bcrypt_failed.json"))
    verdicts = rules.native_modules([sample], 0, OPTIONS, NOW)
    assert verdicts is not None
    error = "Cannot find module '../build/Release/bcrypt_lib.node'"
    assert verdicts["bcrypt"] == Evaluation(
        active=True, value=error, placeholders={"module": "bcrypt", "error": error}
    )
    assert verdicts["better-sqlite3"].active is False
    assert verdicts["better-sqlite3"].value is None


@pytest.mark.parametrize(("self_test_ok", "active"), [(False, True), (None, False), (True, False)])
def test_native_module_self_test(self_test_ok: bool | None, active: bool) -> None:
    """A failed self-test is a failure; one that has not run yet (null) is not."""
    sample = _sample(
        0,
        {
            "native_modules.better-sqlite3.self_test_ok": self_test_ok,
            "checks": [
                {
                    "name": "better-sqlite3",
                    "ok": False,
                    "critical": True,
                    "message": "rollback failed",
                }
            ],
        },
    )
    verdicts = rules.native_modules([sample], 0, OPTIONS, NOW)
    assert verdicts is not None
    assert verdicts["better-sqlite3"].active is active
    # No error text of its own: the check's message explains it.
    assert verdicts["better-sqlite3"].placeholders["error"] == "rollback failed"


def test_native_module_without_any_error_text() -> None:
    """A module the checks do not name, failing without an error, still gets a text."""
    sample = _sample(
        0,
        {
            "native_modules": {
                "sharp": {"loaded": False, "version": None, "self_test_ok": None, "error": None}
            }
        },
    )
    verdicts = rules.native_modules([sample], 0, OPTIONS, NOW)
    assert verdicts == {
        "sharp": Evaluation(
            active=True,
            value="no error given",
            placeholders={"module": "sharp", "error": "no error given"},
        )
    }


def test_native_modules_need_a_current_document() -> None:
    """After a failed update, or without samples, it cannot tell."""
    assert rules.native_modules([_sample(0)], 1, OPTIONS, NOW) is None
    assert rules.native_modules([], 0, OPTIONS, NOW) is None


# --- Node.js, database, frontend ------------------------------------------------------


@pytest.mark.parametrize(
    ("major", "supported", "active"), [(18, False, True), (19, False, True), (20, True, False)]
)
def test_node_unsupported(major: int, supported: bool, active: bool) -> None:
    """Below the server's minimum major (20) is unsupported."""
    sample = _sample(
        0,
        {
            "node": {
                "version": f"{major}.1.0",
                "major": major,
                "min_major": 20,
                "supported": supported,
            }
        },
    )
    assert rules.node_unsupported([sample], 0, OPTIONS, NOW) == Evaluation(
        active=active,
        value=major,
        threshold=20,
        placeholders={"version": f"{major}.1.0", "minimum": "20"},
    )
    assert rules.node_unsupported([sample], 2, OPTIONS, NOW).active is None


def test_database_unavailable() -> None:
    """The database check fails, with the error; recovery; no current document."""
    failing = StatusSample(NOW, status_document(name="status_bcrypt_failed.json"))
    error = "SQLITE_READONLY: attempt to write a readonly database"
    assert rules.database_unavailable([failing], 0, OPTIONS, NOW) == Evaluation(
        active=True, value=error, placeholders={"error": error, "path": "/data/hasync.db"}
    )
    working = rules.database_unavailable([_sample(0)], 0, OPTIONS, NOW)
    assert working.active is False
    assert working.value is None
    assert rules.database_unavailable([failing], 1, OPTIONS, NOW).active is None


def test_database_unavailable_texts_fall_back() -> None:
    """Without an error text the check's message explains; without both, a fixed text."""
    sample = _sample(
        0,
        {
            "database.ok": False,
            "database.error": None,
            "database.path": None,
            "checks": [{"name": "database", "ok": False, "critical": True, "message": "disk full"}],
        },
    )
    evaluation = rules.database_unavailable([sample], 0, OPTIONS, NOW)
    assert evaluation.placeholders == {"error": "disk full", "path": "unknown"}
    bare = _sample(0, {"database.ok": False, "checks": []})
    assert rules.database_unavailable([bare], 0, OPTIONS, NOW).value == "no error given"


@pytest.mark.parametrize(("present", "active"), [(False, True), (True, False)])
def test_frontend_missing(present: bool, active: bool) -> None:
    """The ingress page build is absent."""
    sample = _sample(0, {"frontend": {"present": present, "build_id": None, "built_at": None}})
    assert rules.frontend_missing([sample], 0, OPTIONS, NOW) == Evaluation(active=active)
    assert rules.frontend_missing([sample], 1, OPTIONS, NOW).active is None


# --- memory leak ----------------------------------------------------------------------


def _leak(
    growth: float | None, window: float | None = 6.0, uptime_h: float = 24.0, failures: int = 0
) -> Evaluation:
    sample = _sample(
        0,
        {
            "history.memory_growth_mib_per_hour": growth,
            "history.growth_window_hours": window,
            "server.uptime_s": uptime_h * 3600,
        },
    )
    return rules.memory_leak([sample], failures, OPTIONS, NOW)


@pytest.mark.parametrize(("growth", "active"), [(10.1, True), (10.0, False), (9.9, False)])
def test_memory_leak_threshold(growth: float, active: bool) -> None:
    """Growth above 10 MiB/h over 6 h."""
    assert _leak(growth) == Evaluation(
        active=active,
        value=growth,
        threshold=10,
        placeholders={
            "value": f"{growth:.1f}".removesuffix(".0"),
            "threshold": "10",
            "hours": "6",
        },
    )


@pytest.mark.parametrize(
    ("window", "uptime_h", "active"),
    [(6.0, 6.0, True), (5.99, 24.0, False), (24.0, 5.99, False), (24.0, 24.0, True)],
)
def test_memory_leak_needs_six_hours(window: float, uptime_h: float, active: bool) -> None:
    """The growth figure must span 6 h, and the process must have run that long."""
    assert _leak(50, window, uptime_h).active is active


def test_memory_leak_unknown_is_not_a_leak() -> None:
    """Null growth or window (too few samples) never triggers; no current document: no verdict."""
    assert _leak(None).active is False
    assert _leak(None).placeholders["value"] == "unknown"
    unknown_window = _leak(50, window=None)
    assert unknown_window.active is False
    assert unknown_window.placeholders["hours"] == "unknown"
    assert _leak(50, failures=1) == Evaluation(active=None, threshold=10)


# --- errors logged --------------------------------------------------------------------


def _errors(
    count: int, fatal: int = 0, failures: int = 0, threshold: int | None = None
) -> Evaluation:
    options = HAsyncOptions.from_options(
        {} if threshold is None else {CONF_ERRORS_THRESHOLD: threshold}
    )
    changes = {
        "errors.count_24h": count,
        "errors.fatal_24h": fatal,
        "errors.http_5xx_24h": 4,
        "errors.last_message": "sample not stored: attempt to write a readonly database",
    }
    return rules.errors_logged([_sample(0, changes)], failures, options, NOW)


@pytest.mark.parametrize(("count", "active"), [(0, False), (9, False), (10, True), (11, True)])
def test_errors_logged_threshold(count: int, active: bool) -> None:
    """Active from the threshold on (default 10), and below it again: the count is over 24 h."""
    assert _errors(count) == Evaluation(
        active=active,
        value=count,
        threshold=10,
        placeholders={
            "count": str(count),
            "fatal": "0",
            "http_5xx": "4",
            "threshold": "10",
            "last_message": "sample not stored: attempt to write a readonly database",
        },
    )


def test_errors_logged_any_fatal_record_and_the_option() -> None:
    """One fatal record is enough whatever the count; the threshold is an option."""
    assert _errors(1, fatal=1).active is True
    assert _errors(2, threshold=2).active is True
    assert _errors(1, threshold=2).active is False


def test_errors_logged_unknown_counts() -> None:
    """A server without the errors block reports none; no current document: no verdict."""
    raw = status_json()
    del raw["errors"]
    older = StatusSample(NOW, StatusDocument.from_dict(raw))
    assert rules.errors_logged([older], 0, OPTIONS, NOW) == Evaluation(active=False, threshold=10)
    assert _errors(50, failures=1) == Evaluation(active=None, threshold=10)
    silent = rules.errors_logged([_sample(0, {"errors.count_24h": 12})], 0, OPTIONS, NOW)
    assert silent.placeholders["last_message"] == "none"


def test_sustained_above_without_samples() -> None:
    """No samples cover no window."""
    verdict = rules.sustained_above(
        [],
        NOW,
        window=timedelta(minutes=5),
        max_gap=timedelta(minutes=1),
        value_fn=rules.memory_mib,
        threshold=500,
    )
    assert verdict is None
