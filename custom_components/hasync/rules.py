"""The repair rules: pure functions from the status history to a verdict.

Each rule takes the coordinator's samples (oldest first), its count of consecutive failed
updates, the entry's options and the current time, and returns an ``Evaluation``. Nothing here
touches Home Assistant, so every boundary is unit-tested on its own (tests/test_rules.py);
repairs.py turns the verdicts into repair issues.

A verdict is three-valued. ``active`` is True when the condition holds, False when it does not,
and None when the history cannot tell yet: a sustained threshold whose window the samples do not
cover, or a document rule while the last update failed (the last document is stale). None leaves
an issue as it is, so a reload, which starts with an empty history, does not clear an issue that
is still there, and an outage does not raise one from old data.

Values the server reports as null never make a rule active: unknown is not high.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise

from .client.models import StatusDocument
from .const import CHECK_DATABASE, LEAK_MIN_WINDOW_HOURS
from .data import HAsyncOptions, StatusSample

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class Evaluation:
    """The verdict of one rule (for one module, for the native-module rule)."""

    active: bool | None
    """True: the condition holds; False: it does not; None: the history cannot tell yet."""
    value: float | int | str | None = None
    """The measured value (a number, or the error text of a failed check)."""
    threshold: float | int | None = None
    placeholders: Mapping[str, str] = field(default_factory=dict)
    """Strings for the issue's translation (value and threshold formatted, error texts)."""


type Rule = Callable[[Sequence[StatusSample], int, HAsyncOptions, datetime], Evaluation]


def _number(value: float) -> str:
    """Format a measured figure for a sentence: one decimal, none when it is whole."""
    return f"{value:.1f}".removesuffix(".0")


def _current(samples: Sequence[StatusSample], consecutive_failures: int) -> StatusDocument | None:
    """Return the latest document, or None if there is none or the last update failed."""
    if consecutive_failures or not samples:
        return None
    return samples[-1].document


def max_sample_gap(options: HAsyncOptions) -> timedelta:
    """Longest time between two samples for a window to count as covered.

    Polls run every scan interval whatever is pushed, so a longer gap means updates failed in
    between: the value during the gap is unknown.
    """
    return 2 * options.scan_interval


def sustained_above(
    samples: Sequence[StatusSample],
    now: datetime,
    *,
    window: timedelta,
    max_gap: timedelta,
    value_fn: Callable[[StatusDocument], float | None],
    threshold: float,
) -> bool | None:
    """Return whether the value stayed above ``threshold`` for the whole window up to now.

    Samples are judged by their timestamps, not counted: each value holds until the next
    sample. The window is covered when a sample lies at or before its start and no two
    consecutive samples (nor the last one and now) are more than ``max_gap`` apart.

    False as soon as any sample in the window is at or below the threshold or unknown (None);
    None when every sample is above but they do not cover the window yet.
    """
    start = now - window
    # The sample in force at the window's start, and every sample after it.
    first = 0
    for index, sample in enumerate(samples):
        if sample.received_at <= start:
            first = index
    in_window = samples[first:]
    if not in_window:
        return None
    for sample in in_window:
        value = value_fn(sample.document)
        if value is None or value <= threshold:
            return False
    if in_window[0].received_at > start:
        return None  # the history does not reach back to the window's start
    times = [sample.received_at for sample in in_window] + [now]
    if any(later - earlier > max_gap for earlier, later in pairwise(times)):
        return None  # an outage in the window: the value in between is unknown
    return True


def memory_mib(document: StatusDocument) -> float | None:
    """Return the memory the server says to judge (the container's, else the process's) in MiB."""
    used = document.effective.memory_bytes if document.effective else None
    return None if used is None else used / MIB


def unreachable(
    samples: Sequence[StatusSample],
    consecutive_failures: int,
    options: HAsyncOptions,
    now: datetime,
) -> Evaluation:
    """Judge whether the last ``failure_threshold`` updates failed in a row."""
    threshold = options.failure_threshold
    return Evaluation(
        active=consecutive_failures >= threshold,
        value=consecutive_failures,
        threshold=threshold,
        placeholders={"failures": str(consecutive_failures), "threshold": str(threshold)},
    )


def _sustained_rule(
    samples: Sequence[StatusSample],
    consecutive_failures: int,
    options: HAsyncOptions,
    now: datetime,
    *,
    window: timedelta,
    threshold: int,
    value_fn: Callable[[StatusDocument], float | None],
) -> Evaluation:
    document = _current(samples, consecutive_failures)
    value = None if document is None else value_fn(document)
    active = (
        None
        if document is None
        else sustained_above(
            samples,
            now,
            window=window,
            max_gap=max_sample_gap(options),
            value_fn=value_fn,
            threshold=threshold,
        )
    )
    return Evaluation(
        active=active,
        value=None if value is None else round(value, 1),
        threshold=threshold,
        placeholders={
            "value": "unknown" if value is None else _number(value),
            "threshold": str(threshold),
            "minutes": _number(window.total_seconds() / 60),
        },
    )


def high_memory(
    samples: Sequence[StatusSample],
    consecutive_failures: int,
    options: HAsyncOptions,
    now: datetime,
) -> Evaluation:
    """Judge whether memory stayed above ``memory_threshold_mib`` for the whole window."""
    return _sustained_rule(
        samples,
        consecutive_failures,
        options,
        now,
        window=options.memory_window,
        threshold=options.memory_threshold_mib,
        value_fn=memory_mib,
    )


def high_cpu(
    samples: Sequence[StatusSample],
    consecutive_failures: int,
    options: HAsyncOptions,
    now: datetime,
) -> Evaluation:
    """Judge whether CPU stayed above ``cpu_threshold_percent`` for the whole window."""
    return _sustained_rule(
        samples,
        consecutive_failures,
        options,
        now,
        window=options.cpu_window,
        threshold=options.cpu_threshold_percent,
        value_fn=lambda document: document.effective.cpu_percent if document.effective else None,
    )


def native_modules(
    samples: Sequence[StatusSample],
    consecutive_failures: int,
    options: HAsyncOptions,
    now: datetime,
) -> dict[str, Evaluation] | None:
    """Judge each native module the server reports; None while there is no current document.

    A module fails as ``NativeModule.failing`` says, which the binary sensors also show. A module
    the server no longer reports is not failing.
    """
    document = _current(samples, consecutive_failures)
    if document is None:
        return None
    verdicts: dict[str, Evaluation] = {}
    for name, module in document.native_modules.items():
        failing = module.failing
        check = document.check(name)
        error = module.error or (check.message if check is not None else None) or "no error given"
        verdicts[name] = Evaluation(
            active=failing,
            value=error if failing else None,
            placeholders={"module": name, "error": error},
        )
    return verdicts


def node_unsupported(
    samples: Sequence[StatusSample],
    consecutive_failures: int,
    options: HAsyncOptions,
    now: datetime,
) -> Evaluation:
    """Judge whether the server runs on a Node.js major below its minimum."""
    if (document := _current(samples, consecutive_failures)) is None:
        return Evaluation(active=None)
    node = document.node
    return Evaluation(
        active=not node.supported,
        value=node.major,
        threshold=node.min_major,
        placeholders={"version": node.version, "minimum": str(node.min_major)},
    )


def database_unavailable(
    samples: Sequence[StatusSample],
    consecutive_failures: int,
    options: HAsyncOptions,
    now: datetime,
) -> Evaluation:
    """Judge whether the server's database check fails."""
    if (document := _current(samples, consecutive_failures)) is None:
        return Evaluation(active=None)
    database = document.database
    check = document.check(CHECK_DATABASE)
    error = database.error or (check.message if check is not None else None) or "no error given"
    return Evaluation(
        active=not database.ok,
        value=None if database.ok else error,
        placeholders={"error": error, "path": database.path or "unknown"},
    )


def frontend_missing(
    samples: Sequence[StatusSample],
    consecutive_failures: int,
    options: HAsyncOptions,
    now: datetime,
) -> Evaluation:
    """Judge whether the ingress page build is absent."""
    if (document := _current(samples, consecutive_failures)) is None:
        return Evaluation(active=None)
    return Evaluation(active=not document.frontend.present)


def memory_leak(
    samples: Sequence[StatusSample],
    consecutive_failures: int,
    options: HAsyncOptions,
    now: datetime,
) -> Evaluation:
    """Judge whether memory grows faster than ``leak_threshold_mib_per_hour`` over 6 h or more.

    The growth figure is the server's own (a regression over its stored samples). It counts only
    when it spans LEAK_MIN_WINDOW_HOURS and the server process has run that long: a leak belongs
    to a process, so a restart clears the suspicion until the new process has run 6 hours.
    """
    threshold = options.leak_threshold_mib_per_hour
    if (document := _current(samples, consecutive_failures)) is None:
        return Evaluation(active=None, threshold=threshold)
    growth = document.history.memory_growth_mib_per_hour
    window = document.history.growth_window_hours
    covered = None if window is None else min(window, document.server.uptime_s / 3600)
    active = (
        growth is not None
        and covered is not None
        and covered >= LEAK_MIN_WINDOW_HOURS
        and growth > threshold
    )
    return Evaluation(
        active=active,
        value=growth,
        threshold=threshold,
        placeholders={
            "value": "unknown" if growth is None else _number(growth),
            "threshold": str(threshold),
            "hours": "unknown" if covered is None else _number(covered),
        },
    )


def errors_logged(
    samples: Sequence[StatusSample],
    consecutive_failures: int,
    options: HAsyncOptions,
    now: datetime,
) -> Evaluation:
    """Judge whether the server logged ``errors_threshold`` errors in 24 h, or any fatal one.

    The counts are the server's own, over its last 24 hours, so the issue clears when old errors
    leave that window. A server from before the counts (no ``errors`` block) reports none.
    """
    threshold = options.errors_threshold
    if (document := _current(samples, consecutive_failures)) is None:
        return Evaluation(active=None, threshold=threshold)
    errors = document.errors
    if errors is None:
        return Evaluation(active=False, threshold=threshold)
    return Evaluation(
        active=errors.count_24h >= threshold or errors.fatal_24h > 0,
        value=errors.count_24h,
        threshold=threshold,
        placeholders={
            "count": str(errors.count_24h),
            "fatal": str(errors.fatal_24h),
            "http_5xx": str(errors.http_5xx_24h),
            "threshold": str(threshold),
            "last_message": errors.last_message or "none",
        },
    )
