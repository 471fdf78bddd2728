"""End-to-end tests: Home Assistant with the integration against the real HAsync server."""
