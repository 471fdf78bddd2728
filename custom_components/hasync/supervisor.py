"""Control of the HAsync add-on through Supervisor (restart button, repair fixes)."""

from homeassistant.components.hassio import SupervisorError, get_supervisor_client
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.hassio import is_hassio

from .const import DOMAIN, LOGGER


@callback
def async_supervisor_available(hass: HomeAssistant, addon_slug: str | None) -> bool:
    """Return whether the add-on can be controlled: Supervisor runs and the slug is known."""
    return addon_slug is not None and is_hassio(hass)


async def async_restart_addon(hass: HomeAssistant, addon_slug: str) -> None:
    """Restart the add-on; raise a translated HomeAssistantError if Supervisor refuses."""
    LOGGER.debug("Restarting add-on %s", addon_slug)
    try:
        await get_supervisor_client(hass).addons.restart_addon(addon_slug)
    except SupervisorError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="restart_failed",
            translation_placeholders={"addon": addon_slug, "error": str(err)},
        ) from err
