"""Rolling the add-on back to the last version that passed every critical check.

An update can break a native module (a new Node ABI, a new musl). The integration remembers, in its
own storage, the last add-on version it saw with every critical check passing; when a critical check
of the version-bound kind (node, bcrypt, better-sqlite3) fails on another version, the repair offers
to restore that version from the newest Supervisor backup that holds it. Only the add-on is restored:
never Home Assistant, never other add-ons. Supervisor errors propagate as SupervisorError.
"""

from dataclasses import dataclass
from datetime import datetime

from aiohasupervisor.models import PartialRestoreOptions
from homeassistant.components.backup import async_get_manager as async_get_backup_manager
from homeassistant.components.hassio import get_supervisor_client
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .client.models import StatusDocument
from .const import DOMAIN, LOGGER

STORAGE_VERSION = 1
SAVE_DELAY = 10
"""Seconds; a version seldom changes, so this only spares writes while a server restarts."""


def healthy(document: StatusDocument) -> bool:
    """Return whether every check the server marks critical passes.

    The verdicts the version-bound issues judge by (Node.js support, each native module) count
    as well, so the version is never taken as healthy while one of those issues has reason to be.
    """
    return (
        all(check.ok for check in document.checks if check.critical)
        and document.node.supported
        and not any(module.failing for module in document.native_modules.values())
    )


class HealthyVersion:
    """The last add-on version seen with every critical check passing, in the entry's storage."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """Keep it under ``hasync.<entry_id>`` in .storage."""
        self._store: Store[dict[str, str]] = Store(hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}")
        self.version: str | None = None

    async def async_load(self) -> None:
        """Read the stored version (none on a first start, or after a corrupt file)."""
        data = await self._store.async_load() or {}
        version = data.get("healthy_version")
        self.version = version if isinstance(version, str) and version else None

    @callback
    def async_observe(self, document: StatusDocument) -> None:
        """Remember the document's version if every critical check passes."""
        version = document.server.version
        if version == self.version or not healthy(document):
            return
        self.version = version
        seen = dt_util.utcnow().isoformat()
        self._store.async_delay_save(
            lambda: {"healthy_version": version, "seen_at": seen}, SAVE_DELAY
        )

    async def async_remove(self) -> None:
        """Delete the stored version (the entry is removed)."""
        await self._store.async_remove()


@dataclass(frozen=True, slots=True, kw_only=True)
class RollbackBackup:
    """A Supervisor backup holding the add-on at the version to go back to."""

    slug: str
    name: str
    date: datetime
    version: str
    protected: bool


async def async_find_backup(
    hass: HomeAssistant, addon_slug: str, version: str
) -> RollbackBackup | None:
    """Return the newest backup that holds the add-on at ``version``; None if none does.

    The list names the add-ons of each backup; only the details (``backup_info``) name their
    versions, so those are read newest first until one matches.
    """
    client = get_supervisor_client(hass)
    backups = [
        backup for backup in await client.backups.list() if addon_slug in backup.content.addons
    ]
    for backup in sorted(backups, key=lambda backup: backup.date, reverse=True):
        info = await client.backups.backup_info(backup.slug)
        held = next((addon for addon in info.addons if addon.slug == addon_slug), None)
        if held is None or held.version != version:
            LOGGER.debug(
                "Backup %s holds %s %s, not %s",
                backup.slug,
                addon_slug,
                held.version if held else "no version",
                version,
            )
            continue
        return RollbackBackup(
            slug=backup.slug,
            name=backup.name,
            date=backup.date,
            version=version,
            protected=any(location.protected for location in backup.location_attributes.values()),
        )
    return None


async def async_restore(hass: HomeAssistant, addon_slug: str, backup: RollbackBackup) -> None:
    """Restore only the add-on from the backup; Supervisor goes on in the background.

    Supervisor checks the request (the backup exists, its password) before it answers; the restore
    itself (stop, unpack, start the old version) then runs as a job.
    """
    LOGGER.debug("Restoring add-on %s %s from backup %s", addon_slug, backup.version, backup.slug)
    await get_supervisor_client(hass).backups.partial_restore(
        backup.slug,
        PartialRestoreOptions(
            addons={addon_slug},
            password=_backup_password(hass) if backup.protected else None,
            background=True,
        ),
    )


def _backup_password(hass: HomeAssistant) -> str | None:
    """Return the key Home Assistant encrypts its backups with (update backups included)."""
    try:
        manager = async_get_backup_manager(hass)
    except HomeAssistantError:
        return None  # the backup integration is not loaded
    return manager.config.data.create_backup.password
