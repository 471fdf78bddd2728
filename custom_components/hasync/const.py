"""Constants for the HAsync integration.

The option keys and rule ids here are shared with the repairs (issue 6): the options flow
stores them, the coordinator keeps the history they are evaluated against.
"""

from datetime import timedelta
import logging
from typing import Final

DOMAIN: Final = "hasync"
LOGGER = logging.getLogger(__package__)

MANUFACTURER: Final = "HAsync"
MODEL: Final = "HAsync server"
DEVICE_NAME: Final = "HAsync"

# Config entry data (CONF_URL and CONF_TOKEN come from homeassistant.const).
CONF_ADDON_SLUG: Final = "addon_slug"
"""The Supervisor slug of the add-on; only present for entries created by discovery."""

# Options
CONF_SCAN_INTERVAL: Final = "scan_interval"
CONF_FAILURE_THRESHOLD: Final = "failure_threshold"
CONF_MEMORY_THRESHOLD_MIB: Final = "memory_threshold_mib"
CONF_MEMORY_MINUTES: Final = "memory_minutes"
CONF_CPU_THRESHOLD_PERCENT: Final = "cpu_threshold_percent"
CONF_CPU_MINUTES: Final = "cpu_minutes"
CONF_LEAK_THRESHOLD_MIB_PER_HOUR: Final = "leak_threshold_mib_per_hour"
CONF_ERRORS_THRESHOLD: Final = "errors_threshold"

DEFAULT_SCAN_INTERVAL: Final = 30
DEFAULT_FAILURE_THRESHOLD: Final = 3
DEFAULT_MEMORY_THRESHOLD_MIB: Final = 500
DEFAULT_MEMORY_MINUTES: Final = 5
DEFAULT_CPU_THRESHOLD_PERCENT: Final = 80
DEFAULT_CPU_MINUTES: Final = 10
DEFAULT_LEAK_THRESHOLD_MIB_PER_HOUR: Final = 10
DEFAULT_ERRORS_THRESHOLD: Final = 10

# Inclusive ranges the options flow accepts.
SCAN_INTERVAL_RANGE: Final = (10, 300)
FAILURE_THRESHOLD_RANGE: Final = (1, 100)
MEMORY_THRESHOLD_MIB_RANGE: Final = (16, 65536)
MEMORY_MINUTES_RANGE: Final = (1, 120)
CPU_THRESHOLD_PERCENT_RANGE: Final = (1, 100)
CPU_MINUTES_RANGE: Final = (1, 120)
LEAK_THRESHOLD_MIB_PER_HOUR_RANGE: Final = (1, 1024)
ERRORS_THRESHOLD_RANGE: Final = (1, 10000)

# Repair rules (issue 6). Each can be switched off with the option `<rule>_enabled`.
RULE_UNREACHABLE: Final = "unreachable"
RULE_HIGH_MEMORY: Final = "high_memory"
RULE_HIGH_CPU: Final = "high_cpu"
RULE_NATIVE_MODULE: Final = "native_module"
RULE_NODE_UNSUPPORTED: Final = "node_unsupported"
RULE_DATABASE: Final = "database"
RULE_FRONTEND: Final = "frontend"
RULE_MEMORY_LEAK: Final = "memory_leak"
RULE_ERRORS: Final = "errors"
RULES: Final = (
    RULE_UNREACHABLE,
    RULE_HIGH_MEMORY,
    RULE_HIGH_CPU,
    RULE_NATIVE_MODULE,
    RULE_NODE_UNSUPPORTED,
    RULE_DATABASE,
    RULE_FRONTEND,
    RULE_MEMORY_LEAK,
    RULE_ERRORS,
)


def rule_option_key(rule: str) -> str:
    """Return the option key that enables or disables a repair rule."""
    return f"{rule}_enabled"


# Repair issues (issue 6): translation keys, also the middle part of the issue ids
# "<entry_id>_<key>" (native modules: "<entry_id>_native_module_failed_<module slug>").
ISSUE_UNREACHABLE: Final = "unreachable"
ISSUE_HIGH_MEMORY: Final = "high_memory"
ISSUE_HIGH_CPU: Final = "high_cpu"
ISSUE_NATIVE_MODULE_FAILED: Final = "native_module_failed"
ISSUE_NODE_UNSUPPORTED: Final = "node_unsupported"
ISSUE_DATABASE_UNAVAILABLE: Final = "database_unavailable"
ISSUE_FRONTEND_MISSING: Final = "frontend_missing"
ISSUE_MEMORY_LEAK_SUSPECTED: Final = "memory_leak_suspected"
ISSUE_ERRORS_LOGGED: Final = "errors_logged"

EVENT_ALERT: Final = "hasync_alert"
"""Fired when a repair issue is raised or cleared: issue, active, value, threshold, entry_id."""

DOCS_URL: Final = "https://github.com/hasync/hasync/blob/main/addon/DOCS.md"
"""The add-on's documentation; its troubleshooting sections are the issues' learn-more links."""

LEAK_MIN_WINDOW_HOURS: Final = 6.0
"""The memory-leak rule needs the server's growth figure to cover at least this many hours."""

# Coordinator history: samples older than this are pruned (one older sample is kept so a
# window of exactly this length can be judged as covered). It exceeds the longest window
# the options allow, so the sustained-threshold rules always have their whole window.
HISTORY_MAX_AGE: Final = timedelta(minutes=max(MEMORY_MINUTES_RANGE[1], CPU_MINUTES_RANGE[1]) + 5)
HISTORY_MAX_SAMPLES: Final = 4096
"""Hard cap on the sample count, whatever the push rate."""

REQUEST_TIMEOUT: Final = 10.0
"""Seconds for one API request (connect, headers and body)."""

CHECK_DATABASE: Final = "database"
CHECK_FRONTEND: Final = "frontend"

ATTR_FAILING_CHECKS: Final = "failing_checks"
ATTR_FATAL_24H: Final = "fatal_24h"
ATTR_HTTP_5XX_24H: Final = "http_5xx_24h"
ATTR_LAST_ERROR_AT: Final = "last_error_at"
ATTR_LAST_MESSAGE: Final = "last_message"
ATTR_COVERED_HOURS: Final = "covered_hours"
"""Hours of its window an availability sensor's figure covers."""
