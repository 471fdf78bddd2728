"""Constants for the HAsync integration."""

from typing import Final

DOMAIN: Final = "hasync"
