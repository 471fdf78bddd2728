"""Run a real Home Assistant process and drive it through its REST API, as a user's browser would."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
import json
import os
from pathlib import Path
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from typing import Any, cast
import urllib.error
import urllib.parse
import urllib.request

import homeassistant

REPO = Path(__file__).resolve().parent.parent
CONFIG_TEMPLATE = REPO / "scripts" / "dev" / "configuration.yaml"
INTEGRATION = REPO / "custom_components" / "hasync"
# Every onboarding step but "user": creating the user through the API then completes onboarding,
# without the core_config step's cloud integrations (met, radio_browser, ...).
ONBOARDING_DONE_BUT_USER = {
    "version": 4,
    "minor_version": 1,
    "key": "onboarding",
    "data": {"done": ["core_config", "analytics", "integration"]},
}


# For tests: only what a user's browser and the HAsync integration need (HA always adds its default
# integrations, frontend among them). No history/recorder: a test instance needs no database.
LEAN_CONFIGURATION = """\
# Written by devtools/hass.py for a test instance of Home Assistant.
homeassistant:
  name: HAsync test
  time_zone: UTC
  country: US
  unit_system: metric

api:
config:
onboarding:
repairs:
websocket_api:
system_health:

logger:
  default: warning
  logs:
    homeassistant.setup: info
    homeassistant.config_entries: info
    custom_components.hasync: debug
"""


def prepare_config(config_dir: Path, *, port: int = 8123, configuration: str | None = None) -> None:
    """Write the configuration, link the integration and pre-complete onboarding (first run only).

    ``configuration`` is the YAML text to use; the default is scripts/dev/configuration.yaml.
    """
    (config_dir / "custom_components").mkdir(parents=True, exist_ok=True)
    template = CONFIG_TEMPLATE.read_text() if configuration is None else configuration
    (config_dir / "configuration.yaml").write_text(template)
    link = config_dir / "custom_components" / "hasync"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(INTEGRATION, target_is_directory=True)
    storage = config_dir / ".storage"
    storage.mkdir(exist_ok=True)
    (storage / "http").write_text(json.dumps(http_store(port), indent=2))
    onboarding = storage / "onboarding"
    if not onboarding.exists():
        onboarding.write_text(json.dumps(ONBOARDING_DONE_BUT_USER))


def http_store(port: int) -> dict[str, Any]:
    """HA's stored HTTP settings: loopback on ``port``, confirmed, no YAML left to migrate.

    Since 2026.10 `http:` in YAML is migrated once into a *pending* trial that HA reverts (with a
    restart nobody answers here) after 5 minutes unless a user confirms it, and it raises a
    deprecation repair. Writing the store with HA's own schema avoids both.
    """
    from homeassistant.components.http import config as http_config  # noqa: PLC0415

    stable = http_config.HTTP_STORAGE_SCHEMA({"server_host": ["127.0.0.1"], "server_port": port})
    return {
        "version": http_config.STORAGE_VERSION,
        "minor_version": http_config.STORAGE_MINOR_VERSION,
        "key": http_config.STORAGE_KEY,
        "data": {
            http_config.KEY_STABLE: stable
            | {
                http_config.HTTP_CONFIG_CREATED_AT: datetime.now(UTC).isoformat(),
                http_config.HTTP_CONFIG_ERROR: None,
                http_config.HTTP_CONFIG_ERROR_MESSAGE: None,
            },
            http_config.KEY_PENDING: None,
            http_config.KEY_YAML_MIGRATION_DONE: True,
        },
    }


def hass_env() -> dict[str, str]:
    """Environment for hass: headers for packages HA compiles at runtime on a provisioned Python."""
    env = dict(os.environ)
    include = sysconfig.get_paths()["include"]
    multiarch = sysconfig.get_config_var("MULTIARCH")
    prefix_include = str(Path(include).parent)
    env["CPATH"] = ":".join(
        filter(None, [prefix_include, f"{prefix_include}/{multiarch}", env.get("CPATH")])
    )
    return env


def missing_requirements(domains: Iterable[str]) -> list[str]:
    """Return the pinned pip requirements of these built-in integrations that are not installed."""
    from homeassistant.util.package import is_installed  # noqa: PLC0415 - only when asked

    components = Path(homeassistant.__file__).parent / "components"
    missing: list[str] = []
    for domain in domains:
        manifest = json.loads((components / domain / "manifest.json").read_text())
        missing.extend(req for req in manifest.get("requirements", []) if not is_installed(req))
    return missing


def ensure_requirements(domains: Iterable[str] = ("frontend",)) -> list[str]:
    """Install the missing requirements of these integrations into this interpreter's environment.

    HA installs them itself at its first start, but a test runs hass with --skip-pip, so that it
    never depends on what HA decides to install at run time: the frontend (a critical integration
    HA always loads) is the one requirement the test environment lacks. Returns what it installed.
    """
    missing = missing_requirements(domains)
    if not missing:
        return []
    uv = shutil.which("uv", path=str(Path(sys.executable).parent))
    command = (
        [uv, "pip", "install", "--python", sys.executable, *missing]
        if uv
        else [sys.executable, "-m", "pip", "install", "--quiet", *missing]
    )
    subprocess.run(command, check=True, env=hass_env(), timeout=600)
    return missing


class HassProcess:
    """A `hass -c <config>` child process on 127.0.0.1."""

    def __init__(
        self,
        config_dir: Path,
        *,
        port: int = 8123,
        configuration: str | None = None,
        skip_pip: bool = False,
    ) -> None:
        """Describe the process; nothing starts until start().

        ``configuration`` replaces scripts/dev/configuration.yaml (see prepare_config);
        ``skip_pip`` runs hass with --skip-pip after installing the frontend's requirement.
        """
        self.config_dir = config_dir
        self.port = port
        self.configuration = configuration
        self.skip_pip = skip_pip
        self.log_path = config_dir / "hass-stdout.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of HA."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Prepare the config folder and spawn hass from the running interpreter's environment."""
        prepare_config(self.config_dir, port=self.port, configuration=self.configuration)
        hass = shutil.which("hass", path=str(Path(sys.executable).parent)) or "hass"
        args = [hass, "-c", str(self.config_dir)]
        if self.skip_pip:
            ensure_requirements()
            args.append("--skip-pip")
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                args,
                env=hass_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_up(self, timeout: float = 180.0) -> None:
        """Block until HA's HTTP server answers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"hass exited with {self._proc.returncode}; see {self.log_path}")
            try:
                urllib.request.urlopen(f"{self.url}/api/onboarding", timeout=2)
            except urllib.error.HTTPError:
                return
            except OSError:
                time.sleep(0.5)
                continue
            return
        raise TimeoutError(f"hass did not answer within {timeout}s; see {self.log_path}")

    @property
    def pid(self) -> int | None:
        """PID of the process, once started."""
        return None if self._proc is None else self._proc.pid

    @property
    def running(self) -> bool:
        """Whether the process was started and has not exited."""
        return self._proc is not None and self._proc.poll() is None

    def log_text(self) -> str:
        """HA's own log file (home-assistant.log), or its stdout if that does not exist yet."""
        for path in (self.config_dir / "home-assistant.log", self.log_path):
            if path.exists():
                return path.read_text(errors="replace")
        return ""

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM, as Ctrl-C in a terminal; returns the exit code."""
        if self._proc is None or self._proc.poll() is not None:
            return None if self._proc is None else self._proc.returncode
        self._proc.send_signal(signal.SIGTERM)
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            return self._proc.wait()


class HassHTTPError(RuntimeError):
    """Home Assistant answered a request with an HTTP error."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        """Keep the status for callers that expect some errors."""
        super().__init__(f"{method} {path}: {status} {body}")
        self.status = status


class HassClient:
    """Minimal REST client for HA's onboarding, auth and config-flow endpoints."""

    def __init__(self, url: str) -> None:
        """Talk to the HA at url."""
        self.url = url
        self.client_id = f"{url}/"
        self.access_token: str | None = None

    def request(self, method: str, path: str, body: Any = None, *, form: bool = False) -> Any:
        """Send a request and return the decoded JSON answer; raise on HTTP errors."""
        headers = {}
        data = None
        if self.access_token:
            headers["Authorization"] = f"Bearer {self.access_token}"
        if body is not None and form:
            data = urllib.parse.urlencode(body).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(f"{self.url}{path}", data, headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                raw = response.read()
        except urllib.error.HTTPError as err:
            raise HassHTTPError(method, path, err.code, err.read().decode()) from err
        return json.loads(raw) if raw else None

    def user_onboarded(self) -> bool:
        """Whether the first user exists (HA drops the onboarding API once onboarding is done)."""
        try:
            steps = cast("list[dict[str, Any]]", self.request("GET", "/api/onboarding"))
        except HassHTTPError as err:
            if err.status == 404:
                return True
            raise
        return any(step["step"] == "user" and step["done"] for step in steps)

    def onboard(self, name: str, username: str, password: str) -> None:
        """Create the owner through the onboarding API and log in as them."""
        answer = self.request(
            "POST",
            "/api/onboarding/users",
            {
                "client_id": self.client_id,
                "name": name,
                "username": username,
                "password": password,
                "language": "en",
            },
        )
        self._exchange(answer["auth_code"])

    def login(self, username: str, password: str) -> None:
        """Log in through the login flow, as the frontend's login page does."""
        flow = self.request(
            "POST",
            "/auth/login_flow",
            {
                "client_id": self.client_id,
                "handler": ["homeassistant", None],
                "redirect_uri": f"{self.url}/?auth_callback=1",
            },
        )
        result = self.request(
            "POST",
            f"/auth/login_flow/{flow['flow_id']}",
            {"client_id": self.client_id, "username": username, "password": password},
        )
        if result.get("type") != "create_entry":
            raise RuntimeError(f"login failed: {result}")
        self._exchange(result["result"])

    def _exchange(self, code: str) -> None:
        tokens = self.request(
            "POST",
            "/auth/token",
            {"grant_type": "authorization_code", "code": code, "client_id": self.client_id},
            form=True,
        )
        self.access_token = tokens["access_token"]

    def wait_running(self, timeout: float = 180.0) -> None:
        """Block until HA reports the RUNNING state (bootstrap done, SIGTERM handled cleanly).

        Until then a SIGTERM ends hass without its shutdown (exit code -15), so a start is only
        complete after this.
        """
        deadline = time.monotonic() + timeout
        while (state := self.request("GET", "/api/config")["state"]) != "RUNNING":
            if time.monotonic() > deadline:
                raise TimeoutError(f"Home Assistant still {state} after {timeout}s")
            time.sleep(0.5)

    def config_entries(self, domain: str) -> list[dict[str, Any]]:
        """Return the config entries of one integration."""
        entries = self.request("GET", f"/api/config/config_entries/entry?domain={domain}")
        return cast("list[dict[str, Any]]", entries)

    def run_user_flow(self, domain: str, user_input: dict[str, Any]) -> dict[str, Any]:
        """Start the integration's user flow and submit one form; return the final step."""
        flow = self.request("POST", "/api/config/config_entries/flow", {"handler": domain})
        return cast(
            "dict[str, Any]",
            self.request("POST", f"/api/config/config_entries/flow/{flow['flow_id']}", user_input),
        )

    def run_options_flow(self, entry_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Open the entry's options flow and submit its form with ``changes`` applied.

        The options form carries every current value as a suggested value, as the frontend
        shows it; this submits all of them, with the given ones replaced.
        """
        flow = self.request(
            "POST", "/api/config/config_entries/options/flow", {"handler": entry_id}
        )
        if flow.get("type") != "form":
            raise RuntimeError(f"options flow did not show a form: {flow}")
        values = {
            field["name"]: field.get("description", {}).get("suggested_value")
            for field in flow["data_schema"]
        }
        unknown = set(changes) - set(values)
        if unknown:
            raise RuntimeError(f"options flow has no fields {sorted(unknown)}: {flow}")
        values |= changes
        return cast(
            "dict[str, Any]",
            self.request(
                "POST", f"/api/config/config_entries/options/flow/{flow['flow_id']}", values
            ),
        )

    def states(self) -> list[dict[str, Any]]:
        """Return every entity state."""
        return cast("list[dict[str, Any]]", self.request("GET", "/api/states"))
