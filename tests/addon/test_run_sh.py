"""run.sh outside Supervisor (plain bash, no bashio) against the real server, and its option mapping."""

from __future__ import annotations

import os
from pathlib import Path
import shlex
import shutil
import subprocess

import pytest

from .checks import ADDON, NODE24, SERVER
from .conftest import free_port, server_env, stop, wait_for_health

RUN_SH = ADDON / "run.sh"


def node_first_path(tmp_path: Path) -> str:
    """Return a PATH whose `node` is the Node 24 the image ships and on which no bashio exists."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "node").symlink_to(NODE24.resolve())
    path = f"{bin_dir}:/usr/bin:/bin"
    assert shutil.which("bashio", path=path) is None
    return path


def test_run_sh_starts_the_server_from_environment_defaults(
    tmp_path: Path, socket_enabled: None
) -> None:
    port = free_port()
    env = server_env(tmp_path / "data", port) | {
        "PATH": node_first_path(tmp_path),
        "HASYNC_SERVER_DIR": str(SERVER),
    }
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["bash", str(RUN_SH)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_for_health(f"http://127.0.0.1:{port}", process, log)
        # exec: the bash process has become the server, so SIGTERM from s6 or docker reaches Node.
        cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes().split(b"\0")
        assert cmdline[-3:-1] == [str(SERVER / "bin" / "hasync.js").encode(), b"serve"]
    finally:
        code = stop(process)
    text = log.read_text()
    assert "not running under Supervisor: using environment variables and defaults" in text
    assert "HAsync 0.1.0 on Node v24." in text
    assert "HASYNC_API_TOKEN=" in text  # first standalone start prints the token once
    assert code == 0, text
    assert (tmp_path / "data" / "hasync.db").exists()


def test_run_sh_fails_clearly_without_the_server(tmp_path: Path) -> None:
    env = {"PATH": node_first_path(tmp_path), "HASYNC_SERVER_DIR": str(tmp_path / "missing")}
    result = subprocess.run(
        ["bash", str(RUN_SH)], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 1
    assert f"server entry point {tmp_path / 'missing'}/bin/hasync.js not found" in result.stderr


# Stand-ins for bashio's functions, exported into run.sh the way `#!/usr/bin/with-contenv bashio`
# provides them; bashio::config answers from the options, "null" for an unset one, as bashio does.
FAKE_BASHIO = r"""
bashio::config() { case "$1" in %s *) echo null ;; esac; }
bashio::config.has_value() { [[ "$(bashio::config "$1")" != null ]]; }
bashio::addon.hostname() { echo local-hasync; }
bashio::log.level() { echo "log level $1"; }
bashio::log.info() { echo "INFO $*"; }
bashio::log.fatal() { echo "FATAL $*" >&2; }
export -f bashio::config bashio::config.has_value bashio::addon.hostname
export -f bashio::log.level bashio::log.info bashio::log.fatal
exec bash "$RUN_SH"
"""


def fake_bashio(options: dict[str, object]) -> str:
    """Return the bash program that defines the stand-ins for these options, then runs run.sh."""
    cases = " ".join(f"{key}) echo {shlex.quote(str(value))} ;;" for key, value in options.items())
    return FAKE_BASHIO % cases


# Instead of the server: print the environment run.sh hands over.
FAKE_NODE = """#!/bin/sh
case "$1" in
  --version) echo v24.18.1 ;;
  -p) echo 0.1.0 ;;
  *) env | grep '^HASYNC_' | sort; echo "args: $*" ;;
esac
"""


@pytest.mark.parametrize(
    ("options", "expected", "absent"),
    [
        (
            {"log_level": "debug", "history_days": 30, "token": "s3cret-token"},
            {"HASYNC_LOG_LEVEL=debug", "HASYNC_RETENTION_DAYS=30", "HASYNC_TOKEN=s3cret-token"},
            set(),
        ),
        ({"history_days": 7}, {"HASYNC_RETENTION_DAYS=7"}, {"HASYNC_LOG_LEVEL", "HASYNC_TOKEN"}),
    ],
)
def test_run_sh_maps_supervisor_options(
    tmp_path: Path, options: dict[str, object], expected: set[str], absent: set[str]
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "node").write_text(FAKE_NODE)
    (bin_dir / "node").chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "SUPERVISOR_TOKEN": "supervisor-token",
        "RUN_SH": str(RUN_SH),
        "HASYNC_SERVER_DIR": str(SERVER),
    }
    result = subprocess.run(
        ["bash", "-c", fake_bashio(options)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = set(result.stdout.splitlines())
    assert expected | {"HASYNC_ADVERTISE_HOST=local-hasync"} <= lines, result.stdout
    assert not {line.split("=", 1)[0] for line in lines if line.startswith("HASYNC_")} & absent
    assert "INFO HAsync 0.1.0 on Node v24.18.1" in lines
    assert f"args: {SERVER}/bin/hasync.js serve" in lines
