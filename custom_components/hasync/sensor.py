"""Sensors of the HAsync integration."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, override

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE, EntityCategory, UnitOfInformation, UnitOfTime
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .client.models import ErrorStats
from .const import (
    ATTR_COVERED_HOURS,
    ATTR_FATAL_24H,
    ATTR_HTTP_5XX_24H,
    ATTR_LAST_ERROR_AT,
    ATTR_LAST_MESSAGE,
)
from .coordinator import HAsyncDataUpdateCoordinator
from .data import HAsyncConfigEntry
from .entity import HAsyncEntity

# The coordinator fetches for every entity.
PARALLEL_UPDATES = 0

UNIT_MIB_PER_HOUR = "MiB/h"


@dataclass(frozen=True, kw_only=True)
class HAsyncSensorEntityDescription(SensorEntityDescription):
    """Describes a HAsync sensor."""

    value_fn: Callable[[HAsyncDataUpdateCoordinator], float | int | str | datetime | None]
    attributes_fn: Callable[[HAsyncDataUpdateCoordinator], Mapping[str, Any]] | None = None


def _error_attributes(coordinator: HAsyncDataUpdateCoordinator) -> Mapping[str, Any]:
    """Return the rest of the server's error figures; None from a server without them."""
    errors: ErrorStats | None = coordinator.data.errors
    return {
        ATTR_FATAL_24H: errors.fatal_24h if errors else None,
        ATTR_HTTP_5XX_24H: errors.http_5xx_24h if errors else None,
        ATTR_LAST_ERROR_AT: errors.last_at.isoformat() if errors and errors.last_at else None,
        ATTR_LAST_MESSAGE: errors.last_message if errors else None,
    }


def _covered(hours: float | None) -> Mapping[str, Any]:
    """Return the hours of its window an availability covers (servers before 0.2.0: none).

    The server leaves the figure unknown until its window is covered enough (1 h of 24 h, 24 h
    of 7 d), so a figure from a few minutes never looks final.
    """
    return {} if hours is None else {ATTR_COVERED_HOURS: hours}


def _memory(
    key: str,
    value_fn: Callable[[HAsyncDataUpdateCoordinator], int | None],
    *,
    diagnostic: bool = False,
) -> HAsyncSensorEntityDescription:
    """Describe a memory figure: bytes from the server, shown in MiB.

    The diagnostic ones (process figures) are disabled by default.
    """
    return HAsyncSensorEntityDescription(
        key=key,
        translation_key=key,
        device_class=SensorDeviceClass.DATA_SIZE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfInformation.BYTES,
        suggested_unit_of_measurement=UnitOfInformation.MEBIBYTES,
        suggested_display_precision=1,
        entity_category=EntityCategory.DIAGNOSTIC if diagnostic else None,
        entity_registry_enabled_default=not diagnostic,
        value_fn=value_fn,
    )


SENSORS: tuple[HAsyncSensorEntityDescription, ...] = (
    # Memory used and CPU usage are the figures the repair rules judge: the server sends them
    # (the container's where it measures them, else the process's).
    _memory("memory_used", lambda c: c.data.effective.memory_bytes if c.data.effective else None),
    HAsyncSensorEntityDescription(
        key="memory_percent",
        translation_key="memory_percent",
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=PERCENTAGE,
        suggested_display_precision=1,
        value_fn=lambda c: c.data.container.memory_percent,
    ),
    HAsyncSensorEntityDescription(
        key="cpu_percent",
        translation_key="cpu_percent",
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=PERCENTAGE,
        suggested_display_precision=1,
        value_fn=lambda c: c.data.effective.cpu_percent if c.data.effective else None,
    ),
    _memory("process_rss", lambda c: c.data.process.rss_bytes, diagnostic=True),
    _memory("heap_used", lambda c: c.data.process.heap_used_bytes, diagnostic=True),
    HAsyncSensorEntityDescription(
        key="event_loop_delay",
        translation_key="event_loop_delay",
        device_class=SensorDeviceClass.DURATION,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfTime.MILLISECONDS,
        suggested_display_precision=1,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda c: c.data.process.event_loop_delay_p99_ms,
    ),
    HAsyncSensorEntityDescription(
        key="node_version",
        translation_key="node_version",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda c: c.data.node.version,
    ),
    HAsyncSensorEntityDescription(
        key="server_version",
        translation_key="server_version",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda c: c.data.server.version,
    ),
    HAsyncSensorEntityDescription(
        key="started_at",
        translation_key="started_at",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda c: c.data.server.started_at,
    ),
    HAsyncSensorEntityDescription(
        key="response_time",
        translation_key="response_time",
        device_class=SensorDeviceClass.DURATION,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfTime.MILLISECONDS,
        suggested_display_precision=0,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda c: c.last_response_time_ms,
    ),
    HAsyncSensorEntityDescription(
        key="availability_24h",
        translation_key="availability_24h",
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=PERCENTAGE,
        suggested_display_precision=1,
        value_fn=lambda c: c.data.history.availability_24h_percent,
        attributes_fn=lambda c: _covered(c.data.history.availability_24h_covered_hours),
    ),
    HAsyncSensorEntityDescription(
        key="availability_7d",
        translation_key="availability_7d",
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=PERCENTAGE,
        suggested_display_precision=1,
        value_fn=lambda c: c.data.history.availability_7d_percent,
        attributes_fn=lambda c: _covered(c.data.history.availability_7d_covered_hours),
    ),
    HAsyncSensorEntityDescription(
        key="memory_growth",
        translation_key="memory_growth",
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UNIT_MIB_PER_HOUR,
        suggested_display_precision=2,
        value_fn=lambda c: c.data.history.memory_growth_mib_per_hour,
    ),
    HAsyncSensorEntityDescription(
        key="database_size",
        translation_key="database_size",
        device_class=SensorDeviceClass.DATA_SIZE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfInformation.BYTES,
        suggested_unit_of_measurement=UnitOfInformation.MEBIBYTES,
        suggested_display_precision=2,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda c: c.data.database.size_bytes,
    ),
    HAsyncSensorEntityDescription(
        key="errors_24h",
        translation_key="errors_24h",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda c: c.data.errors.count_24h if c.data.errors else None,
        attributes_fn=_error_attributes,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: HAsyncConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up the HAsync sensors."""
    coordinator = entry.runtime_data.coordinator
    async_add_entities(HAsyncSensorEntity(coordinator, description) for description in SENSORS)


class HAsyncSensorEntity(HAsyncEntity, SensorEntity):
    """A figure from the server's status document."""

    entity_description: HAsyncSensorEntityDescription
    # The error count's details change with every error; the recorder keeps the count only.
    _unrecorded_attributes = frozenset({ATTR_LAST_ERROR_AT, ATTR_LAST_MESSAGE})

    @property
    @override
    def native_value(self) -> float | int | str | datetime | None:
        """Return the figure; None (unknown) when the server does not measure it."""
        return self.entity_description.value_fn(self.coordinator)

    @property
    @override
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        """Return the details of a figure (error count, availability coverage), if it has any."""
        if (attributes_fn := self.entity_description.attributes_fn) is None:
            return None
        return attributes_fn(self.coordinator)
