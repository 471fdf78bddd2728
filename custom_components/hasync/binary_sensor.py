"""Binary sensors of the HAsync integration."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, override

from homeassistant.components.binary_sensor import (
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .client.models import NATIVE_MODULE_NAMES, OverallStatus, StatusDocument
from .const import ATTR_FAILING_CHECKS, CHECK_DATABASE, CHECK_FRONTEND
from .data import HAsyncConfigEntry
from .entity import HAsyncEntity

# The coordinator fetches for every entity.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class HAsyncBinarySensorEntityDescription(BinarySensorEntityDescription):
    """Describes a HAsync problem binary sensor."""

    value_fn: Callable[[StatusDocument], bool | None]
    attributes_fn: Callable[[StatusDocument], Mapping[str, Any]] | None = None


def _check_fails(name: str) -> Callable[[StatusDocument], bool | None]:
    """Return whether the server's check of this name fails (None if not reported)."""

    def fails(document: StatusDocument) -> bool | None:
        check = document.check(name)
        return None if check is None else not check.ok

    return fails


def _module_fails(name: str) -> Callable[[StatusDocument], bool | None]:
    """Return whether the native module fails, as its repair judges it (None if not reported)."""

    def fails(document: StatusDocument) -> bool | None:
        module = document.native_modules.get(name)
        return None if module is None else module.failing

    return fails


def _problem_sensor(
    key: str, value_fn: Callable[[StatusDocument], bool | None]
) -> HAsyncBinarySensorEntityDescription:
    return HAsyncBinarySensorEntityDescription(
        key=key,
        translation_key=key,
        device_class=BinarySensorDeviceClass.PROBLEM,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=value_fn,
    )


BINARY_SENSORS: tuple[HAsyncBinarySensorEntityDescription, ...] = (
    HAsyncBinarySensorEntityDescription(
        key="problem",
        translation_key="problem",
        device_class=BinarySensorDeviceClass.PROBLEM,
        value_fn=lambda document: document.status is not OverallStatus.OK,
        attributes_fn=lambda document: {ATTR_FAILING_CHECKS: document.failing_checks},
    ),
    *(_problem_sensor(name.replace("-", "_"), _module_fails(name)) for name in NATIVE_MODULE_NAMES),
    _problem_sensor("database", _check_fails(CHECK_DATABASE)),
    _problem_sensor("frontend", _check_fails(CHECK_FRONTEND)),
    _problem_sensor("node_unsupported", lambda document: not document.node.supported),
)

CONNECTED = BinarySensorEntityDescription(
    key="connected",
    translation_key="connected",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: HAsyncConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up the HAsync binary sensors."""
    coordinator = entry.runtime_data.coordinator
    async_add_entities(
        [
            HAsyncConnectedBinarySensor(coordinator, CONNECTED),
            *(HAsyncBinarySensorEntity(coordinator, description) for description in BINARY_SENSORS),
        ]
    )


class HAsyncBinarySensorEntity(HAsyncEntity, BinarySensorEntity):
    """A verdict from the server's status document."""

    entity_description: HAsyncBinarySensorEntityDescription

    @property
    @override
    def is_on(self) -> bool | None:
        """Return True when there is a problem."""
        return self.entity_description.value_fn(self.coordinator.data)

    @property
    @override
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        """Return the failing check names, for the overall problem sensor."""
        if (attributes_fn := self.entity_description.attributes_fn) is None:
            return None
        return attributes_fn(self.coordinator.data)


class HAsyncConnectedBinarySensor(HAsyncEntity, BinarySensorEntity):
    """Whether Home Assistant reaches the server; stays available to report off."""

    @property
    @override
    def available(self) -> bool:
        """Always available: being unreachable is what this entity reports."""
        return True

    @property
    @override
    def is_on(self) -> bool:
        """Return True while the last update (poll or push) succeeded."""
        return self.coordinator.last_update_success
