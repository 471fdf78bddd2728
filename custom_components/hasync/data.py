"""The entry's runtime data, and typed views of its options and of the status history."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Self

from homeassistant.config_entries import ConfigEntry

from .client.models import StatusDocument
from .const import (
    CONF_CPU_MINUTES,
    CONF_CPU_THRESHOLD_PERCENT,
    CONF_ERRORS_THRESHOLD,
    CONF_FAILURE_THRESHOLD,
    CONF_LEAK_THRESHOLD_MIB_PER_HOUR,
    CONF_MEMORY_MINUTES,
    CONF_MEMORY_THRESHOLD_MIB,
    CONF_SCAN_INTERVAL,
    DEFAULT_CPU_MINUTES,
    DEFAULT_CPU_THRESHOLD_PERCENT,
    DEFAULT_ERRORS_THRESHOLD,
    DEFAULT_FAILURE_THRESHOLD,
    DEFAULT_LEAK_THRESHOLD_MIB_PER_HOUR,
    DEFAULT_MEMORY_MINUTES,
    DEFAULT_MEMORY_THRESHOLD_MIB,
    DEFAULT_SCAN_INTERVAL,
    RULES,
    rule_option_key,
)

if TYPE_CHECKING:
    from .coordinator import HAsyncDataUpdateCoordinator
    from .repairs import HAsyncRepairs

type HAsyncConfigEntry = ConfigEntry[HAsyncData]


@dataclass(frozen=True, slots=True, kw_only=True)
class HAsyncData:
    """What a loaded entry keeps: its coordinator and the manager of its repair issues."""

    coordinator: HAsyncDataUpdateCoordinator
    repairs: HAsyncRepairs


DEFAULT_OPTIONS: Mapping[str, Any] = {
    CONF_SCAN_INTERVAL: DEFAULT_SCAN_INTERVAL,
    CONF_FAILURE_THRESHOLD: DEFAULT_FAILURE_THRESHOLD,
    CONF_MEMORY_THRESHOLD_MIB: DEFAULT_MEMORY_THRESHOLD_MIB,
    CONF_MEMORY_MINUTES: DEFAULT_MEMORY_MINUTES,
    CONF_CPU_THRESHOLD_PERCENT: DEFAULT_CPU_THRESHOLD_PERCENT,
    CONF_CPU_MINUTES: DEFAULT_CPU_MINUTES,
    CONF_LEAK_THRESHOLD_MIB_PER_HOUR: DEFAULT_LEAK_THRESHOLD_MIB_PER_HOUR,
    CONF_ERRORS_THRESHOLD: DEFAULT_ERRORS_THRESHOLD,
    **{rule_option_key(rule): True for rule in RULES},
}
"""Every option with its default; an entry's options override these key by key."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HAsyncOptions:
    """The options of an entry with defaults filled in (what the repair rules read)."""

    scan_interval: timedelta
    failure_threshold: int
    memory_threshold_mib: int
    memory_window: timedelta
    cpu_threshold_percent: int
    cpu_window: timedelta
    leak_threshold_mib_per_hour: int
    errors_threshold: int
    enabled_rules: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Self:
        """Build from a config entry's options; missing keys take their defaults."""
        merged = {**DEFAULT_OPTIONS, **options}
        return cls(
            scan_interval=timedelta(seconds=int(merged[CONF_SCAN_INTERVAL])),
            failure_threshold=int(merged[CONF_FAILURE_THRESHOLD]),
            memory_threshold_mib=int(merged[CONF_MEMORY_THRESHOLD_MIB]),
            memory_window=timedelta(minutes=int(merged[CONF_MEMORY_MINUTES])),
            cpu_threshold_percent=int(merged[CONF_CPU_THRESHOLD_PERCENT]),
            cpu_window=timedelta(minutes=int(merged[CONF_CPU_MINUTES])),
            leak_threshold_mib_per_hour=int(merged[CONF_LEAK_THRESHOLD_MIB_PER_HOUR]),
            errors_threshold=int(merged[CONF_ERRORS_THRESHOLD]),
            enabled_rules=frozenset(rule for rule in RULES if merged[rule_option_key(rule)]),
        )

    def rule_enabled(self, rule: str) -> bool:
        """Return whether the user left this repair rule on."""
        return rule in self.enabled_rules


@dataclass(frozen=True, slots=True)
class StatusSample:
    """A status document and when Home Assistant received it (by poll or by push)."""

    received_at: datetime
    document: StatusDocument
