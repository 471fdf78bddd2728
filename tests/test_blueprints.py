"""The automation blueprints: loaded by Home Assistant's own code, and run against the integration.

Each blueprint under blueprints/automation/hasync/ is read and validated as Home Assistant reads it
(``Blueprint(..., schema=AUTOMATION_BLUEPRINT_SCHEMA)``), then instantiated as an automation in a
test instance whose config dir holds a copy of the blueprints. The integration's entities are driven
through the mocked client (polls and pushes of status documents), and the actions are asserted
with ``async_mock_service``; the restart blueprint also once through the real button.
"""

from pathlib import Path
import re
import shutil
from typing import Any
from unittest.mock import MagicMock
from urllib.parse import quote

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.automation.config import AUTOMATION_BLUEPRINT_SCHEMA
from homeassistant.components.blueprint.models import Blueprint
from homeassistant.const import STATE_OFF, STATE_ON
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.setup import async_setup_component
from homeassistant.util.yaml import load_yaml_dict
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    async_mock_service,
)

from custom_components.hasync.client.errors import HAsyncConnectionError

from .common import load_script_module
from .conftest import FakeEventSource, status_document, status_json

ROOT = Path(__file__).resolve().parents[1]
BLUEPRINTS = ROOT / "blueprints" / "automation" / "hasync"
REPOSITORY = load_script_module("repo_identity").identity(ROOT).url
"""The repository as repository.yaml names it (a fork's after scripts/set-repository)."""
NOTIFY = "hasync/notify_problem.yaml"
RESTART = "hasync/restart_on_problem.yaml"
MINUTE = 60
BCRYPT_FAILED = "status_bcrypt_failed.json"


def _files() -> list[Path]:
    return sorted(BLUEPRINTS.glob("*.yaml"))


def test_there_are_blueprints() -> None:
    """The notify and the restart blueprint, and nothing that is no blueprint."""
    assert [path.name for path in _files()] == ["notify_problem.yaml", "restart_on_problem.yaml"]


@pytest.mark.parametrize("path", _files(), ids=lambda path: path.name)
def test_home_assistant_loads_the_blueprint(path: Path) -> None:
    """Home Assistant's blueprint code accepts it; its source and the README's import link agree."""
    blueprint = Blueprint(
        load_yaml_dict(path), expected_domain="automation", schema=AUTOMATION_BLUEPRINT_SCHEMA
    )
    assert blueprint.domain == "automation"
    assert blueprint.name
    url = f"{REPOSITORY}/blob/main/{path.relative_to(ROOT)}"
    assert blueprint.metadata["source_url"] == url
    # Every input has a name and a default, so the import dialog can be saved as it comes
    # (the restart button's default is the entity id discovery gives it).
    for name, spec in blueprint.inputs.items():
        assert spec["name"], name
        assert "default" in spec, name
    readme = (ROOT / "README.md").read_text()
    link = f"https://my.home-assistant.io/redirect/blueprint_import/?blueprint_url={quote(url, safe='')}"
    assert link in readme


@pytest.fixture
async def automations(hass: HomeAssistant, tmp_path: Path) -> Any:
    """Return a function that sets up automations from the repository's blueprints."""
    # Blueprints are read from <config>/blueprints: give this instance its own config dir.
    hass.config.config_dir = str(tmp_path)
    shutil.copytree(BLUEPRINTS, tmp_path / "blueprints" / "automation" / "hasync")

    async def setup(*instances: tuple[str, dict[str, Any]]) -> None:
        config = [
            {"alias": f"hasync {index}", "use_blueprint": {"path": path, "input": inputs}}
            for index, (path, inputs) in enumerate(instances)
        ]
        assert await async_setup_component(hass, "automation", {"automation": config})
        await hass.async_block_till_done()
        for index in range(len(instances)):
            state = hass.states.get(f"automation.hasync_{index}")
            assert state is not None
            assert state.state == STATE_ON, f"automation {index} did not load"

    return setup


async def _tick(hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float) -> None:
    """Let time pass in 30 s steps (the poll interval), firing the timers due."""
    while seconds > 0:
        step = min(30.0, seconds)
        freezer.tick(step)
        async_fire_time_changed(hass)
        await hass.async_block_till_done()
        seconds -= step


async def _setup_entry(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


def _failing(mock_hasync_client: MagicMock, event_source: FakeEventSource) -> None:
    """Make the server report bcrypt failing, by push and in every poll."""
    mock_hasync_client.status.return_value = status_document(name=BCRYPT_FAILED)
    event_source.push(status_json(name=BCRYPT_FAILED))


# --- notify ---------------------------------------------------------------------------------


async def test_notify_names_the_failing_checks_and_links_the_repairs(  # noqa: PLR0917
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    automations: Any,
    mock_config_entry: MockConfigEntry,
    mock_hasync_client: MagicMock,
    event_source: FakeEventSource,
) -> None:
    """A problem that lasts the chosen minutes sends one message to the chosen notify action."""
    notified: list[ServiceCall] = async_mock_service(hass, "notify", "mobile_app_phone")
    await _setup_entry(hass, mock_config_entry)
    await automations((NOTIFY, {"notify_action": "notify.mobile_app_phone", "minutes": 2}))

    _failing(mock_hasync_client, event_source)
    await hass.async_block_till_done()
    assert (state := hass.states.get("binary_sensor.hasync_problem")) is not None
    assert state.state == STATE_ON
    await _tick(hass, freezer, 2 * MINUTE - 10)
    assert notified == []
    await _tick(hass, freezer, 20)
    assert len(notified) == 1
    data = notified[0].data
    assert data["title"] == "HAsync reports a problem"
    assert data["message"] == (
        "Failing checks: bcrypt, database.\nRepairs: https://my.home-assistant.io/redirect/repairs/"
    )
    assert data["data"] == {"url": "/config/repairs", "clickAction": "/config/repairs"}

    # Still the same problem: no second message.
    await _tick(hass, freezer, 10 * MINUTE)
    assert len(notified) == 1


async def test_notify_an_unreachable_server(  # noqa: PLR0917
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    automations: Any,
    mock_config_entry: MockConfigEntry,
    mock_hasync_client: MagicMock,
    event_source: FakeEventSource,
) -> None:
    """A server Home Assistant cannot reach is reported with the defaults (notify.notify, 1 min)."""
    notified: list[ServiceCall] = async_mock_service(hass, "notify", "notify")
    await _setup_entry(hass, mock_config_entry)
    await automations((NOTIFY, {}))
    mock_hasync_client.status.side_effect = HAsyncConnectionError("Connection refused")
    event_source.end()
    await hass.async_block_till_done()
    assert (state := hass.states.get("binary_sensor.hasync_connected")) is not None
    assert state.state == STATE_OFF
    await _tick(hass, freezer, MINUTE + 30)
    assert [call.data["title"] for call in notified] == ["HAsync is unreachable"]
    assert notified[0].data["message"].startswith("Home Assistant cannot reach the HAsync server.")


# --- restart --------------------------------------------------------------------------------


@pytest.mark.usefixtures("supervisor_client")
async def test_restart_presses_the_button_after_the_minutes(  # noqa: PLR0917
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    automations: Any,
    discovered_entry: MockConfigEntry,
    mock_hasync_client: MagicMock,
    event_source: FakeEventSource,
) -> None:
    """After N minutes of a problem the button is pressed, then not again within the hours."""
    await _setup_entry(hass, discovered_entry)
    assert hass.states.get("button.hasync_restart") is not None
    pressed: list[ServiceCall] = async_mock_service(hass, "button", "press")
    await automations((RESTART, {"minutes": 5}))

    _failing(mock_hasync_client, event_source)
    await _tick(hass, freezer, 5 * MINUTE - 30)
    assert pressed == []
    await _tick(hass, freezer, 60)
    assert [call.data["entity_id"] for call in pressed] == [["button.hasync_restart"]]

    # The restart did not help: the problem comes back within the hour, no second restart.
    mock_hasync_client.status.return_value = status_document()
    event_source.push(status_json())
    await hass.async_block_till_done()
    _failing(mock_hasync_client, event_source)
    await _tick(hass, freezer, 10 * MINUTE)
    assert len(pressed) == 1
    # An hour after the last restart it may restart again.
    mock_hasync_client.status.return_value = status_document()
    event_source.push(status_json())
    await _tick(hass, freezer, 50 * MINUTE)
    _failing(mock_hasync_client, event_source)
    await _tick(hass, freezer, 5 * MINUTE + 30)
    assert len(pressed) == 2


async def test_restart_through_the_real_button(  # noqa: PLR0917
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    automations: Any,
    discovered_entry: MockConfigEntry,
    mock_hasync_client: MagicMock,
    supervisor_client: MagicMock,
    event_source: FakeEventSource,
) -> None:
    """An unreachable server for N minutes: the integration's button asks Supervisor to restart."""
    await _setup_entry(hass, discovered_entry)
    await automations((RESTART, {"minutes": 3}))
    mock_hasync_client.status.side_effect = HAsyncConnectionError("Connection refused")
    event_source.end()
    await _tick(hass, freezer, 3 * MINUTE - 30)
    supervisor_client.addons.restart_addon.assert_not_awaited()
    await _tick(hass, freezer, 60)
    supervisor_client.addons.restart_addon.assert_awaited_once_with(
        discovered_entry.data["addon_slug"]
    )


def test_the_readme_links_each_blueprint_once() -> None:
    """One import link per blueprint file, and none to a file that does not exist."""
    readme = (ROOT / "README.md").read_text()
    linked = re.findall(r"blueprint_url=https%3A%2F%2Fgithub\.com%2F[^)\s]+", readme)
    files = {quote(f"{REPOSITORY}/blob/main/{p.relative_to(ROOT)}", safe="") for p in _files()}
    assert sorted(link.removeprefix("blueprint_url=") for link in linked) == sorted(files)
