"""Every path of the config flow: user, Supervisor discovery, reauth, reconfigure, options."""

from typing import Any
from unittest.mock import AsyncMock, MagicMock

from homeassistant.config_entries import SOURCE_HASSIO, SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_TOKEN, CONF_URL
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from homeassistant.helpers.service_info.hassio import HassioServiceInfo
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.hasync.client.errors import (
    HAsyncAuthError,
    HAsyncConnectionError,
    HAsyncConnectionRefusedError,
    HAsyncError,
    HAsyncInvalidResponseError,
    HAsyncRateLimitedError,
    HAsyncServiceUnavailableError,
    HAsyncTimeoutError,
    HAsyncUnsupportedVersionError,
)
from custom_components.hasync.client.models import StatusDocument
from custom_components.hasync.const import (
    CONF_ADDON_SLUG,
    CONF_CPU_MINUTES,
    CONF_CPU_THRESHOLD_PERCENT,
    CONF_ERRORS_THRESHOLD,
    CONF_FAILURE_THRESHOLD,
    CONF_LEAK_THRESHOLD_MIB_PER_HOUR,
    CONF_MEMORY_MINUTES,
    CONF_MEMORY_THRESHOLD_MIB,
    CONF_SCAN_INTERVAL,
    DOMAIN,
    RULES,
    rule_option_key,
)

from .conftest import INSTANCE_ID, SERVER_URL, TOKEN, load_json

pytestmark = pytest.mark.usefixtures("mock_setup_entry")

DISCOVERY = HassioServiceInfo(
    config={"host": "local-hasync", "port": 8099, "token": "discovered-token"},
    name="HAsync",
    slug="local_hasync",
    uuid="7b3e1f",
)
DISCOVERED_URL = "http://local-hasync:8099"

CONNECTION_ERRORS = [
    (HAsyncConnectionRefusedError("Connect call failed"), "connection_refused"),
    (HAsyncConnectionError("Server disconnected"), "communication_error"),
    (HAsyncTimeoutError("no answer"), "timeout"),
    (HAsyncAuthError("invalid token"), "invalid_auth"),
    (HAsyncRateLimitedError("slow down", 30), "rate_limited"),
    (HAsyncServiceUnavailableError("token store unavailable"), "service_unavailable"),
    (HAsyncUnsupportedVersionError("unsupported schema_version 2", "2"), "unsupported_version"),
    (HAsyncInvalidResponseError("status: missing"), "invalid_response"),
    (HAsyncError("something new"), "unknown"),
    (RuntimeError("bug"), "unknown"),
]
"""Each check failure and its error key; see test_failures.py for every sentence."""
WITHOUT_ADDRESS = {"invalid_auth", "unknown"}


def _other_instance() -> StatusDocument:
    raw = load_json("status.json")
    raw["server"]["instance_id"] = "00000000-0000-4000-8000-000000000000"
    return StatusDocument.from_dict(raw)


async def test_user_flow(
    hass: HomeAssistant, mock_hasync_client: MagicMock, mock_setup_entry: AsyncMock
) -> None:
    """The user enters URL and token; the server is checked, its instance id is the unique id."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: f" {SERVER_URL}/ ", CONF_TOKEN: TOKEN}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "HAsync (192.168.1.10)"
    assert result["data"] == {CONF_URL: SERVER_URL, CONF_TOKEN: TOKEN}
    assert result["result"].unique_id == INSTANCE_ID
    mock_hasync_client.status.assert_awaited_once()
    assert len(mock_setup_entry.mock_calls) == 1


@pytest.mark.parametrize(("error", "key"), CONNECTION_ERRORS)
async def test_user_flow_errors(
    hass: HomeAssistant, mock_hasync_client: MagicMock, error: Exception, key: str
) -> None:
    """Each failure shows its error and keeps the URL; fixing it creates the entry."""
    mock_hasync_client.status.side_effect = error
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: SERVER_URL, CONF_TOKEN: TOKEN}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": key}
    placeholders = result["description_placeholders"] or {}
    assert placeholders.get("address") == (None if key in WITHOUT_ADDRESS else "192.168.1.10:8099")
    schema = result["data_schema"]
    assert schema is not None
    url_key = next(key for key in schema.schema if key == CONF_URL)
    assert url_key.description == {"suggested_value": SERVER_URL}

    mock_hasync_client.status.side_effect = None
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: SERVER_URL, CONF_TOKEN: TOKEN}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize(
    "url", ["192.168.1.10:8099", "ftp://192.168.1.10", "http://", "http://[::1"]
)
async def test_user_flow_invalid_url(
    hass: HomeAssistant, mock_hasync_client: MagicMock, url: str
) -> None:
    """A URL that is not http(s) with a host is refused before any request."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: url, CONF_TOKEN: TOKEN}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_URL: "invalid_url"}
    mock_hasync_client.status.assert_not_awaited()


async def test_user_flow_already_configured(
    hass: HomeAssistant, mock_hasync_client: MagicMock, mock_config_entry: MockConfigEntry
) -> None:
    """The same server (same instance id) cannot be added twice, whatever the URL."""
    mock_config_entry.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: "http://hasync.local:8099", CONF_TOKEN: TOKEN}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert mock_config_entry.data[CONF_URL] == SERVER_URL  # a manual flow changes nothing


async def test_hassio_discovery(
    hass: HomeAssistant, mock_hasync_client: MagicMock, mock_setup_entry: AsyncMock
) -> None:
    """Supervisor discovery checks the server, then asks to confirm with the add-on's name."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_HASSIO}, data=DISCOVERY
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "hassio_confirm"
    assert result["description_placeholders"] == {"addon": "HAsync"}
    mock_hasync_client.status.assert_awaited_once()

    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "HAsync"
    assert result["data"] == {
        CONF_URL: DISCOVERED_URL,
        CONF_TOKEN: "discovered-token",
        CONF_ADDON_SLUG: "local_hasync",
    }
    assert result["result"].unique_id == INSTANCE_ID
    assert len(mock_setup_entry.mock_calls) == 1


async def test_hassio_discovery_updates_entry(
    hass: HomeAssistant, mock_hasync_client: MagicMock, mock_config_entry: MockConfigEntry
) -> None:
    """Rediscovery of a configured server updates URL, token and slug, and reloads it."""
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.LOADED

    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_HASSIO}, data=DISCOVERY
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert mock_config_entry.data == {
        CONF_URL: DISCOVERED_URL,
        CONF_TOKEN: "discovered-token",
        CONF_ADDON_SLUG: "local_hasync",
    }
    assert mock_config_entry.state is ConfigEntryState.LOADED
    await hass.config_entries.async_unload(mock_config_entry.entry_id)


@pytest.mark.parametrize(
    "config",
    [
        {"port": 8099, "token": "t"},
        {"host": "", "port": 8099, "token": "t"},
        {"host": "local-hasync", "token": "t"},
        {"host": "local-hasync", "port": True, "token": "t"},
        {"host": "local-hasync", "port": "80a", "token": "t"},
        {"host": "local-hasync", "port": 8099.5, "token": "t"},
        {"host": "local-hasync", "port": 8099},
        {"host": "local-hasync", "port": 8099, "token": ""},
    ],
)
async def test_hassio_discovery_invalid(
    hass: HomeAssistant, mock_hasync_client: MagicMock, config: dict[str, Any]
) -> None:
    """A discovery message without host, port or token is refused."""
    info = HassioServiceInfo(config=config, name="HAsync", slug="local_hasync", uuid="7b3e1f")
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_HASSIO}, data=info
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "invalid_discovery_info"
    mock_hasync_client.status.assert_not_awaited()


async def test_hassio_discovery_port_as_text(
    hass: HomeAssistant, mock_hasync_client: MagicMock
) -> None:
    """A port sent as digits in a string is accepted."""
    info = HassioServiceInfo(
        config={"host": "local-hasync", "port": "8099", "token": "t"},
        name="HAsync",
        slug="local_hasync",
        uuid="7b3e1f",
    )
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_HASSIO}, data=info
    )
    assert result["step_id"] == "hassio_confirm"


@pytest.mark.parametrize(("error", "key"), CONNECTION_ERRORS)
async def test_hassio_discovery_errors(
    hass: HomeAssistant, mock_hasync_client: MagicMock, error: Exception, key: str
) -> None:
    """A discovered server that cannot be checked aborts with the reason."""
    mock_hasync_client.status.side_effect = error
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_HASSIO}, data=DISCOVERY
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == key
    placeholders = result["description_placeholders"] or {}
    assert placeholders.get("address") == (None if key in WITHOUT_ADDRESS else "local-hasync:8099")


async def test_reauth(
    hass: HomeAssistant, mock_hasync_client: MagicMock, mock_config_entry: MockConfigEntry
) -> None:
    """A new token for the same server replaces the old one."""
    mock_config_entry.add_to_hass(hass)
    result = await mock_config_entry.start_reauth_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reauth_confirm"
    assert result["description_placeholders"] == {"name": mock_config_entry.title}

    mock_hasync_client.status.side_effect = HAsyncAuthError("invalid token")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOKEN: "still-wrong"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}

    mock_hasync_client.status.side_effect = None
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOKEN: "rotated-token"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert mock_config_entry.data == {CONF_URL: SERVER_URL, CONF_TOKEN: "rotated-token"}


async def test_reauth_wrong_device(
    hass: HomeAssistant, mock_hasync_client: MagicMock, mock_config_entry: MockConfigEntry
) -> None:
    """A token of another server (another instance id) is refused."""
    mock_config_entry.add_to_hass(hass)
    mock_hasync_client.status.return_value = _other_instance()
    result = await mock_config_entry.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOKEN: "other-token"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_device"
    assert mock_config_entry.data[CONF_TOKEN] == TOKEN


async def test_reconfigure(
    hass: HomeAssistant, mock_hasync_client: MagicMock, mock_config_entry: MockConfigEntry
) -> None:
    """A new URL of the same server replaces the old one; errors show on the form."""
    mock_config_entry.add_to_hass(hass)
    result = await mock_config_entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    schema = result["data_schema"]
    assert schema is not None
    assert next(iter(schema.schema)).description == {"suggested_value": SERVER_URL}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: "not a url"}
    )
    assert result["errors"] == {CONF_URL: "invalid_url"}

    mock_hasync_client.status.side_effect = HAsyncConnectionRefusedError("refused")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: "http://192.168.1.20:8099"}
    )
    assert result["errors"] == {"base": "connection_refused"}
    assert result["description_placeholders"] == {"address": "192.168.1.20:8099"}

    mock_hasync_client.status.side_effect = None
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: "http://192.168.1.20:8099/"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert mock_config_entry.data == {CONF_URL: "http://192.168.1.20:8099", CONF_TOKEN: TOKEN}


async def test_reconfigure_wrong_device(
    hass: HomeAssistant, mock_hasync_client: MagicMock, mock_config_entry: MockConfigEntry
) -> None:
    """A URL that leads to another server is refused."""
    mock_config_entry.add_to_hass(hass)
    mock_hasync_client.status.return_value = _other_instance()
    result = await mock_config_entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: "http://192.168.1.30:8099"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_device"
    assert mock_config_entry.data[CONF_URL] == SERVER_URL


def _options_defaults(result: Any) -> dict[str, Any]:
    schema = result["data_schema"]
    return {str(key): key.description["suggested_value"] for key in schema.schema}


async def test_options_flow(
    hass: HomeAssistant, mock_hasync_client: MagicMock, mock_config_entry: MockConfigEntry
) -> None:
    """The form starts from the seed's defaults; saving stores integers and reloads."""
    mock_config_entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(mock_config_entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"
    defaults = _options_defaults(result)
    assert defaults == {
        CONF_SCAN_INTERVAL: 30,
        CONF_FAILURE_THRESHOLD: 3,
        CONF_MEMORY_THRESHOLD_MIB: 500,
        CONF_MEMORY_MINUTES: 5,
        CONF_CPU_THRESHOLD_PERCENT: 80,
        CONF_CPU_MINUTES: 10,
        CONF_LEAK_THRESHOLD_MIB_PER_HOUR: 10,
        CONF_ERRORS_THRESHOLD: 10,
        **{rule_option_key(rule): True for rule in RULES},
    }

    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            **defaults,
            CONF_SCAN_INTERVAL: 15.0,
            CONF_MEMORY_THRESHOLD_MIB: 768,
            "high_cpu_enabled": False,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert mock_config_entry.options[CONF_SCAN_INTERVAL] == 15
    assert isinstance(mock_config_entry.options[CONF_SCAN_INTERVAL], int)
    assert mock_config_entry.options[CONF_MEMORY_THRESHOLD_MIB] == 768
    assert mock_config_entry.options["high_cpu_enabled"] is False

    # The form shows the stored values next time.
    result = await hass.config_entries.options.async_init(mock_config_entry.entry_id)
    assert _options_defaults(result)[CONF_SCAN_INTERVAL] == 15


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (CONF_SCAN_INTERVAL, 5),
        (CONF_SCAN_INTERVAL, 301),
        (CONF_FAILURE_THRESHOLD, 0),
        (CONF_CPU_THRESHOLD_PERCENT, 101),
        (CONF_MEMORY_MINUTES, 121),
        (CONF_ERRORS_THRESHOLD, 0),
        (CONF_ERRORS_THRESHOLD, 10001),
    ],
)
async def test_options_flow_ranges(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, key: str, value: int
) -> None:
    """Values outside their range are refused."""
    mock_config_entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(mock_config_entry.entry_id)
    with pytest.raises(InvalidData):
        await hass.config_entries.options.async_configure(
            result["flow_id"], {**_options_defaults(result), key: value}
        )
