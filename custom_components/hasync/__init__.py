"""The HAsync integration: health of the HAsync add-on as entities and repairs."""

from homeassistant.core import HomeAssistant
from homeassistant.helpers.typing import ConfigType


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Set up the HAsync component."""
    return True
