"""Control of the HAsync add-on through Supervisor (restart button, repair fixes)."""

from enum import StrEnum

from aiohasupervisor.models import StoreAddonUpdate
from homeassistant.components.hassio import SupervisorError, get_supervisor_client
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.hassio import is_hassio

from .const import DOMAIN, LOGGER


class AddonFix(StrEnum):
    """What a repair's fix asks Supervisor to do with the add-on."""

    RESTART = "restart"
    REBUILD = "rebuild"
    UPDATE = "update"


@callback
def async_supervisor_available(hass: HomeAssistant, addon_slug: str | None) -> bool:
    """Return whether the add-on can be controlled: Supervisor runs and the slug is known."""
    return addon_slug is not None and is_hassio(hass)


async def async_restart_addon(hass: HomeAssistant, addon_slug: str) -> None:
    """Restart the add-on; raise a translated HomeAssistantError if Supervisor refuses."""
    try:
        await async_fix_addon(hass, addon_slug, AddonFix.RESTART)
    except SupervisorError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="restart_failed",
            translation_placeholders={"addon": addon_slug, "error": str(err)},
        ) from err


async def async_fix_addon(hass: HomeAssistant, addon_slug: str, fix: AddonFix) -> None:
    """Restart, rebuild or update the add-on; a SupervisorError propagates.

    A restart returns when the add-on has restarted. A rebuild is only possible for an add-on
    Supervisor builds locally; Supervisor carries on with it when the request times out. An
    update runs in the background after Supervisor has checked that it can be installed, with
    a backup of the add-on first.
    """
    LOGGER.debug("Asking Supervisor to %s add-on %s", fix, addon_slug)
    client = get_supervisor_client(hass)
    match fix:
        case AddonFix.RESTART:
            await client.addons.restart_addon(addon_slug)
        case AddonFix.REBUILD:
            await client.addons.rebuild_addon(addon_slug)
        case AddonFix.UPDATE:
            await client.store.update_addon(
                addon_slug, StoreAddonUpdate(backup=True, background=True)
            )


async def async_addon_builds_locally(hass: HomeAssistant, addon_slug: str) -> bool | None:
    """Return whether Supervisor builds the add-on on this machine (so it can rebuild it).

    None when Supervisor cannot tell (the add-on is gone, Supervisor is busy).
    """
    try:
        info = await get_supervisor_client(hass).addons.addon_info(addon_slug)
    except SupervisorError as err:
        LOGGER.debug("Cannot read the info of add-on %s: %s", addon_slug, err)
        return None
    return info.build


async def async_update_available(hass: HomeAssistant, addon_slug: str) -> bool:
    """Return whether Supervisor offers an update of the add-on; SupervisorError propagates."""
    info = await get_supervisor_client(hass).addons.addon_info(addon_slug)
    return info.update_available
