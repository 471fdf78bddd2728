"""scripts/verify-addon: its pure parts, no-engine behaviour, and --url against the real server."""

from __future__ import annotations

import json
import os
from pathlib import Path
import subprocess
import sys
from typing import Any

import pytest

from tests.common import load_script_module

from .checks import ROOT
from .conftest import Server

SCRIPT = ROOT / "scripts" / "verify-addon"


va = load_script_module("verify_addon")


def run_script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        env=env or os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


# --- pure parts ---------------------------------------------------------------------------------


def test_percentiles_interpolate_between_ranks() -> None:
    values = [float(n) for n in range(1, 101)]
    assert va.percentile(values, 50) == pytest.approx(50.5)
    assert va.percentile(values, 95) == pytest.approx(95.05)
    assert va.percentile(values, 99) == pytest.approx(99.01)
    assert va.percentile(values, 0) == 1.0
    assert va.percentile(values, 100) == 100.0
    assert va.percentile([7.0], 99) == 7.0
    assert va.percentile([3.0, 1.0, 2.0], 50) == 2.0  # order of input does not matter


@pytest.mark.parametrize("bad", [-1, 100.5])
def test_percentile_rejects_bad_input(bad: float) -> None:
    with pytest.raises(ValueError, match="outside"):
        va.percentile([1.0], bad)
    with pytest.raises(ValueError, match="no values"):
        va.percentile([], 50)


def test_memory_growth_compares_the_ends_and_ignores_a_spike() -> None:
    assert va.memory_growth([100.0] * 10) == 0.0
    # Ten samples: medians of the first two (100.5) and the last two (109).
    rising = [100.0, 101, 102, 103, 104, 105, 106, 107, 108, 110]
    assert va.memory_growth(rising) == pytest.approx((109 - 100.5) / 100.5)
    # One garbage-collection spike in the middle is not a trend.
    assert va.memory_growth([100.0] * 4 + [300.0] + [100.0] * 5) == 0.0
    assert va.memory_growth([100.0]) is None
    assert va.memory_growth([0.0, 10.0]) is None


def test_leak_is_flagged_above_five_percent() -> None:
    assert not va.leak_suspected(None)
    assert not va.leak_suspected(0.05)
    assert va.leak_suspected(0.0501)
    assert not va.leak_suspected(-0.2)
    flat = va.StatsResult("test", [va.Sample(t * 10, 50_000_000, 1.0, True) for t in range(10)])
    assert flat.summary()["leak_suspected"] is False
    growing = va.StatsResult(
        "test", [va.Sample(t * 10, 50_000_000 + t * 1_000_000, 1.0, True) for t in range(10)]
    )
    assert growing.summary()["leak_suspected"] is True
    assert growing.summary()["memory_growth_percent"] == pytest.approx(8 / 50.5 * 100, abs=0.01)
    # The same growth over 9 s is warm-up as often as a leak: reported, not judged.
    short = va.StatsResult(
        "test", [va.Sample(t, 50_000_000 + t * 1_000_000, 1.0, True) for t in range(10)]
    )
    assert short.summary()["leak_suspected"] is None


def test_leak_check_fails_the_run_only_over_a_long_enough_window() -> None:
    def memory_check(samples: list[Any]) -> Any:
        checks: list[Any] = []
        va.finish_stats(va.StatsResult("test", samples), checks, {})
        return next(c for c in checks if c.name == "memory growth")

    rising = [va.Sample(t * 10, 50_000_000 + t * 1_000_000, 1.0, True) for t in range(10)]
    check = memory_check(rising)
    assert not check.ok
    assert "suspected leak" in check.detail
    warm_up = [va.Sample(t, 50_000_000 + t * 1_000_000, 1.0, True) for t in range(10)]
    assert memory_check(warm_up).ok
    assert "not judged" in memory_check(warm_up).detail


def test_docker_stats_figures_match_docker_cli() -> None:
    stats = {
        "cpu_stats": {
            "cpu_usage": {"total_usage": 3_000_000},
            "system_cpu_usage": 200_000_000,
            "online_cpus": 4,
        },
        "precpu_stats": {"cpu_usage": {"total_usage": 1_000_000}, "system_cpu_usage": 100_000_000},
        "memory_stats": {"usage": 80_000_000, "stats": {"inactive_file": 20_000_000}},
    }
    assert va.docker_cpu_percent(stats) == pytest.approx(8.0)
    assert va.docker_memory_bytes(stats) == 60_000_000
    cgroup_v1 = {"memory_stats": {"usage": 50, "stats": {"total_inactive_file": 10}}}
    assert va.docker_memory_bytes(cgroup_v1) == 40
    assert va.docker_cpu_percent({"cpu_stats": {}, "precpu_stats": {}}) is None
    assert va.docker_memory_bytes({}) is None


def test_report_is_written_as_json_and_markdown(tmp_path: Path) -> None:
    load = va.LoadResult("/health", 4, 2, 1, 0.5, [1.0, 2.0, 3.0, 4.0], {"HTTP 503": 1})
    report = {
        "tool": "scripts/verify-addon",
        "started_at": "2026-11-26T00:00:00Z",
        "host": "Linux x86_64",
        "mode": "url",
        "target": "http://127.0.0.1:8099",
        "checks": [{"name": "load test", "ok": False, "detail": "1 failures in 4 requests"}],
        "load": load.summary(),
        "ok": False,
    }
    json_path, md_path = va.write_report(report, tmp_path / "reports")
    assert json.loads(json_path.read_text())["load"]["p50_ms"] == 2.5
    markdown = md_path.read_text()
    assert markdown.startswith("# verify-addon report: FAIL")
    assert "| load test | FAIL | 1 failures in 4 requests |" in markdown
    assert "| p99_ms | 3.97 |" in markdown


def test_reports_folder_is_git_ignored() -> None:
    result = subprocess.run(
        ["git", "check-ignore", "-q", "reports/verify-addon-x.json"], cwd=ROOT, check=False
    )
    assert result.returncode == 0


def test_arguments_that_need_the_engine_are_refused_with_url() -> None:
    with pytest.raises(SystemExit) as excinfo:
        va.parse_args(["--url", "http://127.0.0.1:1", "--arch", "aarch64"])
    assert excinfo.value.code == 2


# --- the command ----------------------------------------------------------------------------------


def test_no_engine_exits_2_with_one_clear_line(tmp_path: Path) -> None:
    env = os.environ | {"DOCKER_HOST": f"unix://{tmp_path}/docker.sock"}
    result = run_script("--report-dir", str(tmp_path), env=env)
    assert result.returncode == 2
    assert result.stdout == ""
    expected = (
        f"verify-addon: no Docker engine reachable (nothing answers at unix://{tmp_path}/docker.sock); "
        "use --url http://HOST:PORT to test a running server"
    )
    assert result.stderr.splitlines() == [expected]
    assert not list(tmp_path.glob("*.json"))


def test_url_mode_load_tests_the_real_server(server: Server, tmp_path: Path) -> None:
    result = run_script(
        "--url", server.url, "--minutes", "0.05", "--interval", "1", "--report-dir", str(tmp_path)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "load test /health: 1000 requests, concurrency 10, 0 failures; p50" in result.stdout
    (report_path,) = tmp_path.glob("verify-addon-*.json")
    report = json.loads(report_path.read_text())
    assert report["ok"] is True
    assert report["load"]["requests"] == 1000
    assert report["load"]["failures"] == 0
    assert report["load"]["p50_ms"] <= report["load"]["p95_ms"] <= report["load"]["p99_ms"]
    assert report["stats"]["source"] == "/health only (no --token)"
    assert report["stats"]["healthy_samples"] == report["stats"]["samples"] >= 2
    assert (tmp_path / report_path.name.replace(".json", ".md")).exists()


def test_url_mode_with_token_samples_the_servers_own_memory(server: Server, tmp_path: Path) -> None:
    result = run_script(
        "--url",
        server.url,
        "--token",
        server.token,
        "--requests",
        "200",
        "--minutes",
        "0.05",
        "--interval",
        "1",
        "--report-dir",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (report_path,) = tmp_path.glob("verify-addon-*.json")
    stats = json.loads(report_path.read_text())["stats"]
    assert stats["source"] == "/api/v1/status (process)"
    assert stats["memory_start_mib"] > 10
    assert stats["memory_growth_percent"] is not None
    assert stats["leak_suspected"] is None  # a 3 s window is not judged


def test_url_mode_reports_failures_against_a_dead_server(tmp_path: Path) -> None:
    result = run_script(
        "--url",
        "http://127.0.0.1:9",
        "--requests",
        "50",
        "--minutes",
        "0",
        "--interval",
        "0.1",
        "--report-dir",
        str(tmp_path),
    )
    assert result.returncode == 1
    assert "50 failures" in result.stdout
    assert "FAIL GET /health" in result.stdout


# --- engine mode against a stand-in Docker client -------------------------------------------------
# No engine runs here, so the Docker SDK calls are answered by fakes; the container's published port
# is the real server's, so /health, the load test and the report are real.


class FakeContainer:
    """The parts of docker.models.containers.Container that run_engine uses."""

    short_id = "fake"

    def __init__(self, port: int) -> None:
        """Publish 8099/tcp on the given host port; the HEALTHCHECK already reports healthy."""
        self.attrs = {
            "State": {"Running": True, "Health": {"Status": "healthy"}},
            "NetworkSettings": {
                "Ports": {"8099/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
            },
        }
        self.removed = False

    def reload(self) -> None:
        """Nothing to refresh."""

    def exec_run(self, command: list[str]) -> tuple[int, bytes]:
        """Answer the two commands run_engine executes inside the image."""
        if command == ["node", "--version"]:
            return 0, b"v24.18.1\n"
        assert command == ["node", va.ENTRY_POINT, "verify-native"]
        return 0, b"bcrypt: ok\nbetter-sqlite3: ok\n"

    def stats(self, stream: bool) -> dict[str, Any]:
        """Return one stats document: 2% CPU on two CPUs, 60 MB of memory."""
        assert stream is False
        return {
            "cpu_stats": {
                "cpu_usage": {"total_usage": 2},
                "system_cpu_usage": 200,
                "online_cpus": 2,
            },
            "precpu_stats": {"cpu_usage": {"total_usage": 1}, "system_cpu_usage": 100},
            "memory_stats": {"usage": 60_000_000, "stats": {"inactive_file": 0}},
        }

    def logs(self, tail: int) -> bytes:
        """Return no log lines."""
        return b""

    def remove(self, force: bool) -> None:
        """Record the removal."""
        self.removed = force


class FakeClient:
    """A docker.DockerClient stand-in; it is its own `images` and `containers` collection."""

    def __init__(self, port: int) -> None:
        """Create the container the client hands out."""
        self.built: dict[str, Any] = {}
        self.container = FakeContainer(port)
        self.images = self
        self.containers = self

    def info(self) -> dict[str, str]:
        """Report an amd64 engine."""
        return {"Architecture": "x86_64"}

    def build(self, **kwargs: Any) -> None:
        """Record the build arguments."""
        self.built = kwargs

    def get(self, tag: str) -> Any:
        """Return an image of 120 MB."""
        return type("Image", (), {"attrs": {"Size": 120_000_000}})()

    def run(self, tag: str, **kwargs: Any) -> FakeContainer:
        """Start the container, published on 127.0.0.1 only."""
        assert kwargs["ports"] == {"8099/tcp": ("127.0.0.1", None)}
        return self.container


def test_engine_mode_builds_like_supervisor_and_checks_the_container(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, socket_enabled: None
) -> None:
    client = FakeClient(int(server.url.rsplit(":", 1)[1]))
    monkeypatch.setattr(va, "docker_client", lambda: client)
    args = va.parse_args(
        ["--minutes", "0", "--interval", "0.1", "--requests", "100", "--report-dir", str(tmp_path)]
    )
    checks: list[Any] = []
    report: dict[str, Any] = {}
    va.run_engine(args, checks, report, lambda message: None)
    assert client.built["path"] == str(va.ADDON)
    assert client.built["buildargs"] == {"BUILD_ARCH": "amd64", "BUILD_VERSION": "0.1.0"}
    assert client.built["pull"] is True
    assert {c.name: c.ok for c in checks} == {
        "image size": True,
        "start to healthy": True,
        "node --version": True,
        "verify-native": True,
        "GET /health": True,
        "load test": True,
        "availability while sampling": True,
        "memory growth": True,
    }
    assert report["stats"]["source"] == "container.stats()"
    assert report["stats"]["memory_start_mib"] == pytest.approx(57.22, abs=0.01)
    assert client.container.removed


def test_engine_mode_builds_another_arch_through_buildx(monkeypatch: pytest.MonkeyPatch) -> None:
    commands: list[list[str]] = []
    monkeypatch.setattr(va.subprocess, "run", lambda command, check: commands.append(command))
    tag = va.build_image(FakeClient(1), "aarch64", "amd64", "0.1.0", lambda message: None)
    assert tag == "hasync-verify:0.1.0-aarch64"
    assert commands == [
        [
            "docker",
            "buildx",
            "build",
            "--platform",
            "linux/arm64",
            "--pull",
            "--load",
            "-t",
            tag,
            "--build-arg",
            "BUILD_ARCH=aarch64",
            "--build-arg",
            "BUILD_VERSION=0.1.0",
            str(va.ADDON),
        ]
    ]
