"""Config flow of the HAsync integration: manual, Supervisor discovery, reauth, reconfigure."""

from collections.abc import Mapping
from typing import Any, Final, override

from homeassistant.config_entries import ConfigFlow, ConfigFlowResult, OptionsFlowWithReload
from homeassistant.const import CONF_TOKEN, CONF_URL
from homeassistant.core import callback
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
from homeassistant.helpers.service_info.hassio import HassioServiceInfo
import probatio
from yarl import URL

from .client.client import HAsyncClient
from .client.errors import HAsyncAuthError, HAsyncError
from .client.models import StatusDocument
from .const import (
    CONF_ADDON_SLUG,
    CONF_CPU_MINUTES,
    CONF_CPU_THRESHOLD_PERCENT,
    CONF_ERRORS_THRESHOLD,
    CONF_FAILURE_THRESHOLD,
    CONF_LEAK_THRESHOLD_MIB_PER_HOUR,
    CONF_MEMORY_MINUTES,
    CONF_MEMORY_THRESHOLD_MIB,
    CONF_SCAN_INTERVAL,
    CPU_MINUTES_RANGE,
    CPU_THRESHOLD_PERCENT_RANGE,
    DEVICE_NAME,
    DOMAIN,
    ERRORS_THRESHOLD_RANGE,
    FAILURE_THRESHOLD_RANGE,
    LEAK_THRESHOLD_MIB_PER_HOUR_RANGE,
    LOGGER,
    MEMORY_MINUTES_RANGE,
    MEMORY_THRESHOLD_MIB_RANGE,
    REQUEST_TIMEOUT,
    RULES,
    SCAN_INTERVAL_RANGE,
    rule_option_key,
)
from .data import DEFAULT_OPTIONS, HAsyncConfigEntry
from .failures import describe, server_address

_URL_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))
_TOKEN_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))

STEP_USER_SCHEMA = probatio.Schema(
    {probatio.Required(CONF_URL): _URL_SELECTOR, probatio.Required(CONF_TOKEN): _TOKEN_SELECTOR}
)
STEP_TOKEN_SCHEMA = probatio.Schema({probatio.Required(CONF_TOKEN): _TOKEN_SELECTOR})
STEP_URL_SCHEMA = probatio.Schema({probatio.Required(CONF_URL): _URL_SELECTOR})

CHECK_FAILURE_KEYS: Final = (
    "communication_error",
    "connection_refused",
    "host_not_found",
    "host_unreachable",
    "invalid_response",
    "proxy_error",
    "rate_limited",
    "service_unavailable",
    "timeout",
    "tls_error",
    "unsupported_version",
)
"""The failures.describe() keys a check can end with; config errors and aborts of the same name."""


def _check_error(err: HAsyncError, url: str) -> tuple[str, dict[str, str]]:
    """Return the form error that says what went wrong with the server, and its placeholders."""
    if isinstance(err, HAsyncAuthError):
        return "invalid_auth", {}
    key, placeholders = describe(err, url, REQUEST_TIMEOUT)
    return (key, placeholders) if key in CHECK_FAILURE_KEYS else ("unknown", {})


def normalize_url(text: str) -> str | None:
    """Return the URL without trailing slash, or None unless it is http(s) with a host."""
    try:
        url = URL(text.strip())
    except ValueError:
        return None
    if url.scheme not in ("http", "https") or not url.host:
        return None
    return str(url.with_query(None).with_fragment(None)).rstrip("/")


def _number(bounds: tuple[int, int], unit: str | None = None) -> probatio.All[int]:
    return probatio.All(
        NumberSelector(
            NumberSelectorConfig(
                min=bounds[0],
                max=bounds[1],
                step=1,
                mode=NumberSelectorMode.BOX,
                **({"unit_of_measurement": unit} if unit else {}),
            )
        ),
        probatio.Coerce(int),
        probatio.Range(min=bounds[0], max=bounds[1]),
    )


OPTIONS_SCHEMA = probatio.Schema(
    {
        probatio.Required(CONF_SCAN_INTERVAL): _number(SCAN_INTERVAL_RANGE, "s"),
        probatio.Required(CONF_FAILURE_THRESHOLD): _number(FAILURE_THRESHOLD_RANGE),
        probatio.Required(CONF_MEMORY_THRESHOLD_MIB): _number(MEMORY_THRESHOLD_MIB_RANGE, "MiB"),
        probatio.Required(CONF_MEMORY_MINUTES): _number(MEMORY_MINUTES_RANGE, "min"),
        probatio.Required(CONF_CPU_THRESHOLD_PERCENT): _number(CPU_THRESHOLD_PERCENT_RANGE, "%"),
        probatio.Required(CONF_CPU_MINUTES): _number(CPU_MINUTES_RANGE, "min"),
        probatio.Required(CONF_LEAK_THRESHOLD_MIB_PER_HOUR): _number(
            LEAK_THRESHOLD_MIB_PER_HOUR_RANGE, "MiB/h"
        ),
        probatio.Required(CONF_ERRORS_THRESHOLD): _number(ERRORS_THRESHOLD_RANGE),
        **{probatio.Required(rule_option_key(rule)): BooleanSelector() for rule in RULES},
    }
)


class HAsyncConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up a HAsync server."""

    VERSION = 1
    MINOR_VERSION = 1

    def __init__(self) -> None:
        """Start with nothing discovered."""
        self._discovered: dict[str, Any] = {}
        self._addon_name = DEVICE_NAME
        self._failure: dict[str, str] = {}
        """The placeholders of the last check's error (the server's address, the reason)."""

    async def _async_check(
        self, url: str, token: str, errors: dict[str, str]
    ) -> StatusDocument | None:
        """Fetch the status with these credentials; on failure fill ``errors``, return None.

        The error's placeholders are kept in ``_failure`` for the form or the abort.
        """
        client = HAsyncClient(
            url, token, async_get_clientsession(self.hass), request_timeout=REQUEST_TIMEOUT
        )
        self._failure = {}
        try:
            document = await client.status()
        except HAsyncError as err:
            # The client's own message (aiohttp's words) is for the debug log only.
            LOGGER.debug("Checking the HAsync server failed: %s: %s", type(err).__name__, err)
            errors["base"], self._failure = _check_error(err, url)
        except Exception:  # a config flow must show an error, not crash
            LOGGER.exception("Unexpected error while checking the HAsync server")
            errors["base"] = "unknown"
        else:
            if document.server.instance_id is not None:
                return document
            # Without its database the server cannot tell which instance it is.
            LOGGER.debug("The HAsync server reports no instance id: its database is unavailable")
            errors["base"] = "instance_unknown"
            self._failure = {"address": server_address(url)[0]}
        return None

    @override
    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Set up a server by URL and API token (Container and Core installs)."""
        errors: dict[str, str] = {}
        if user_input is not None:
            token = user_input[CONF_TOKEN]
            if (url := normalize_url(user_input[CONF_URL])) is None:
                errors[CONF_URL] = "invalid_url"
            elif document := await self._async_check(url, token, errors):
                await self.async_set_unique_id(document.server.instance_id)
                self._abort_if_unique_id_configured()
                return self.async_create_entry(
                    title=f"{DEVICE_NAME} ({URL(url).host})",
                    data={CONF_URL: url, CONF_TOKEN: token},
                )
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(
                STEP_USER_SCHEMA, {CONF_URL: (user_input or {}).get(CONF_URL)}
            ),
            errors=errors,
            description_placeholders=self._failure,
        )

    @override
    async def async_step_hassio(self, discovery_info: HassioServiceInfo) -> ConfigFlowResult:
        """Handle the add-on's Supervisor discovery: {host, port, token}."""
        config = discovery_info.config
        host, port, token = config.get("host"), config.get("port"), config.get("token")
        if (
            not isinstance(host, str)
            or not host
            or isinstance(port, bool)
            or not isinstance(port, int | str)
            or not str(port).isdigit()
            or not isinstance(token, str)
            or not token
        ):
            return self.async_abort(reason="invalid_discovery_info")
        url = f"http://{host}:{port}"
        errors: dict[str, str] = {}
        if (document := await self._async_check(url, token, errors)) is None:
            return self.async_abort(reason=errors["base"], description_placeholders=self._failure)
        await self.async_set_unique_id(document.server.instance_id)
        self._discovered = {CONF_URL: url, CONF_TOKEN: token, CONF_ADDON_SLUG: discovery_info.slug}
        # The same server seen again (new port or rotated token): update it, reload, done.
        self._abort_if_unique_id_configured(updates=self._discovered)
        self._addon_name = discovery_info.name
        self.context["title_placeholders"] = {"name": discovery_info.name}
        return await self.async_step_hassio_confirm()

    async def async_step_hassio_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask the user to add the discovered add-on."""
        if user_input is not None:
            return self.async_create_entry(title=self._addon_name, data=self._discovered)
        self._set_confirm_only()
        return self.async_show_form(
            step_id="hassio_confirm", description_placeholders={"addon": self._addon_name}
        )

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """Start reauthentication: the server rejected the token (e.g. after `rotate-token`)."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the new token and check it against the same server."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None and (
            document := await self._async_check(
                entry.data[CONF_URL], user_input[CONF_TOKEN], errors
            )
        ):
            await self.async_set_unique_id(document.server.instance_id)
            self._abort_if_unique_id_mismatch(reason="wrong_device")
            return self.async_update_reload_and_abort(
                entry, data_updates={CONF_TOKEN: user_input[CONF_TOKEN]}
            )
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=STEP_TOKEN_SCHEMA,
            description_placeholders={"name": entry.title, **self._failure},
            errors=errors,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Move the entry to a new URL of the same server."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            if (url := normalize_url(user_input[CONF_URL])) is None:
                errors[CONF_URL] = "invalid_url"
            elif document := await self._async_check(url, entry.data[CONF_TOKEN], errors):
                await self.async_set_unique_id(document.server.instance_id)
                self._abort_if_unique_id_mismatch(reason="wrong_device")
                return self.async_update_reload_and_abort(entry, data_updates={CONF_URL: url})
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                STEP_URL_SCHEMA, user_input or {CONF_URL: entry.data[CONF_URL]}
            ),
            errors=errors,
            description_placeholders=self._failure,
        )

    @staticmethod
    @callback
    @override
    def async_get_options_flow(config_entry: HAsyncConfigEntry) -> HAsyncOptionsFlow:
        """Return the options flow."""
        return HAsyncOptionsFlow()


class HAsyncOptionsFlow(OptionsFlowWithReload):
    """Scan interval, alert thresholds and which repair rules are on."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Show every option; saving reloads the entry."""
        if user_input is not None:
            return self.async_create_entry(data=user_input)
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(
                OPTIONS_SCHEMA, {**DEFAULT_OPTIONS, **self.config_entry.options}
            ),
        )
