"""Shared fixtures for the HAsync tests."""

import asyncio
from collections.abc import Generator, Mapping
import json
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from unittest.mock import AsyncMock, MagicMock, PropertyMock, patch

from homeassistant.const import CONF_TOKEN, CONF_URL
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion

from custom_components.hasync.client.models import StatusDocument
from custom_components.hasync.client.sse import SSEDecoder, SSEEvent
from custom_components.hasync.const import CONF_ADDON_SLUG, DOMAIN

FIXTURES = Path(__file__).parent / "fixtures"

INSTANCE_ID = "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"
SERVER_URL = "http://192.168.1.10:8099"
TOKEN = "hasync-test-token-3b9f27c1d4e8"  # noqa: S105 - a test token
TITLE = "HAsync (192.168.1.10)"
ADDON_SLUG = "local_hasync"


def load_json(name: str) -> dict[str, Any]:
    """Return a fixture document as a dict."""
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def load_status(name: str = "status.json") -> StatusDocument:
    """Return a fixture document parsed into the client's model."""
    return StatusDocument.from_dict(load_json(name))


def status_json(
    changes: Mapping[str, Any] | None = None, name: str = "status.json"
) -> dict[str, Any]:
    """Return a fixture document with values replaced by dotted path.

    ``status_json({"container.memory_used_bytes": None, "native_modules.bcrypt.loaded": False})``
    """
    data = load_json(name)
    for path, value in (changes or {}).items():
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node[key]
        assert last in node, path
        node[last] = value
    if not any(path.startswith("effective") for path in changes or {}):
        derive_effective(data)
    return data


def derive_effective(data: dict[str, Any]) -> None:
    """Set ``effective`` from ``container`` and ``process``, as the server does (status.js)."""
    container, process = data["container"], data["process"]
    memory, cpu = container["memory_used_bytes"], container["cpu_percent"]
    data["effective"] = {
        "memory_bytes": process["rss_bytes"] if memory is None else memory,
        "memory_source": "process" if memory is None else "container",
        "cpu_percent": process["cpu_percent"] if cpu is None else cpu,
        "cpu_source": "process" if cpu is None else "container",
    }


def status_document(
    changes: Mapping[str, Any] | None = None, name: str = "status.json"
) -> StatusDocument:
    """Return a fixture document with values replaced by dotted path, parsed."""
    return StatusDocument.from_dict(status_json(changes, name))


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/hasync in every test."""


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Serialize Home Assistant objects without their random ids (phcc's extension)."""
    return snapshot.use_extension(HomeAssistantSnapshotExtension)


@pytest.fixture
def entity_registry_enabled_by_default() -> Generator[None]:
    """Create every entity enabled, also those disabled by default."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        return_value=True,
        new_callable=PropertyMock,
    ):
        yield


@pytest.fixture
def mock_config_entry() -> MockConfigEntry:
    """Return a config entry for the server at SERVER_URL, as the user flow creates it."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=TITLE,
        unique_id=INSTANCE_ID,
        data={CONF_URL: SERVER_URL, CONF_TOKEN: TOKEN},
        version=1,
        minor_version=1,
    )


@pytest.fixture
def discovered_entry() -> MockConfigEntry:
    """Return an entry as Supervisor discovery creates it, with the add-on slug."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="HAsync",
        unique_id=INSTANCE_ID,
        data={
            CONF_URL: "http://local-hasync:8099",
            CONF_TOKEN: TOKEN,
            CONF_ADDON_SLUG: ADDON_SLUG,
        },
    )


@pytest.fixture
def supervisor_client() -> Generator[MagicMock]:
    """Pretend Supervisor is present; return its mocked client (a locally built add-on)."""
    client = MagicMock()
    client.addons.restart_addon = AsyncMock()
    client.addons.rebuild_addon = AsyncMock()
    client.addons.addon_info = AsyncMock(return_value=MagicMock(build=True, update_available=True))
    client.store.update_addon = AsyncMock()
    with (
        patch("custom_components.hasync.supervisor.is_hassio", return_value=True),
        patch("custom_components.hasync.supervisor.get_supervisor_client", return_value=client),
        patch("custom_components.hasync.rollback.get_supervisor_client", return_value=client),
    ):
        yield client


@pytest.fixture
def mock_setup_entry() -> Generator[AsyncMock]:
    """Keep config flow tests from setting the entry up."""
    with patch("custom_components.hasync.async_setup_entry", return_value=True) as mock_setup:
        yield mock_setup


class FakeEventStream:
    """Stands in for HAsyncEventStream: events come from a queue the test fills."""

    def __init__(self) -> None:
        """Open with no events."""
        self.queue: asyncio.Queue[SSEEvent | None] = asyncio.Queue()
        self.decoder = SSEDecoder()
        self.opened = False
        self.closed = False

    async def __aenter__(self) -> Self:
        """Open the fake connection."""
        self.opened = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close it."""
        self.closed = True

    async def next_event(self) -> SSEEvent | None:
        """Wait for the test to push an event, or to end the stream (None)."""
        return await self.queue.get()


class FakeEventSource:
    """What the mocked client's event_stream() returns: one FakeEventStream per connection."""

    def __init__(self) -> None:
        """No connection yet."""
        self.streams: list[FakeEventStream] = []

    def __call__(self, **kwargs: Any) -> FakeEventStream:
        """Open a new stream."""
        stream = FakeEventStream()
        self.streams.append(stream)
        return stream

    @property
    def current(self) -> FakeEventStream:
        """The latest stream."""
        return self.streams[-1]

    def push(self, document: dict[str, Any], event: str = "status") -> None:
        """Push a document on the latest stream."""
        self.current.queue.put_nowait(SSEEvent(event, json.dumps(document), "1"))

    def end(self) -> None:
        """Let the server close the latest stream."""
        self.current.queue.put_nowait(None)


@pytest.fixture
def event_source() -> FakeEventSource:
    """Return the push streams of the mocked client."""
    return FakeEventSource()


@pytest.fixture
def mock_hasync_client(event_source: FakeEventSource) -> Generator[MagicMock]:
    """Patch the client where the integration creates it; status() returns status.json."""
    with (
        patch("custom_components.hasync.coordinator.HAsyncClient", autospec=True) as client_class,
        patch("custom_components.hasync.config_flow.HAsyncClient", new=client_class),
    ):
        client = client_class.return_value
        client.url = SERVER_URL
        client.request_timeout = 10.0
        client.status.return_value = load_status()
        client.event_stream.side_effect = event_source
        yield client


@pytest.fixture
async def init_integration(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, mock_hasync_client: MagicMock
) -> MockConfigEntry:
    """Set the integration up with the mocked client."""
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    return mock_config_entry
