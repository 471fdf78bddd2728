"""Run a real Home Assistant process and drive it through its REST API, as a user's browser would."""

from __future__ import annotations

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


def prepare_config(config_dir: Path, *, port: int = 8123) -> None:
    """Write configuration.yaml, link the integration and pre-complete onboarding (first run only)."""
    (config_dir / "custom_components").mkdir(parents=True, exist_ok=True)
    text = CONFIG_TEMPLATE.read_text().replace("server_port: 8123", f"server_port: {port}")
    (config_dir / "configuration.yaml").write_text(text)
    link = config_dir / "custom_components" / "hasync"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(INTEGRATION, target_is_directory=True)
    storage = config_dir / ".storage"
    storage.mkdir(exist_ok=True)
    onboarding = storage / "onboarding"
    if not onboarding.exists():
        onboarding.write_text(json.dumps(ONBOARDING_DONE_BUT_USER))


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


class HassProcess:
    """A `hass -c <config>` child process on 127.0.0.1."""

    def __init__(self, config_dir: Path, *, port: int = 8123) -> None:
        """Describe the process; nothing starts until start()."""
        self.config_dir = config_dir
        self.port = port
        self.log_path = config_dir / "hass-stdout.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of HA."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Prepare the config folder and spawn hass from the running interpreter's environment."""
        prepare_config(self.config_dir, port=self.port)
        hass = shutil.which("hass", path=str(Path(sys.executable).parent)) or "hass"
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [hass, "-c", str(self.config_dir)],
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
            raise RuntimeError(f"{method} {path}: {err.code} {err.read().decode()}") from err
        return json.loads(raw) if raw else None

    def user_onboarded(self) -> bool:
        """Whether the first user exists."""
        steps = cast("list[dict[str, Any]]", self.request("GET", "/api/onboarding"))
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

    def states(self) -> list[dict[str, Any]]:
        """Return every entity state."""
        return cast("list[dict[str, Any]]", self.request("GET", "/api/states"))
