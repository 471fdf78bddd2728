"""Build, start and measure the HAsync app image: the seed's Phase 1-2 on any machine with Docker.

Engine mode (default) uses the Docker SDK: build the image for the host arch (or another arch through
`docker buildx`), check its size and the time from start to a healthy HEALTHCHECK, exec `node
--version` and `verify-native` inside it, hit /health, run the load test and sample
`container.stats()`. URL mode (`--url`) runs only the load test and the sampling against a server
that is already running, so it works without an engine; with `--token` it samples the server's own
memory and CPU figures from /api/v1/status, without one only /health.

Every run writes a JSON and a Markdown report. Exit codes: 0 every check passed, 1 a check failed,
2 no Docker engine (or bad arguments).
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
import http.client
import json
import os
from pathlib import Path
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
ADDON = ROOT / "addon"
SERVER_PACKAGE = ADDON / "server" / "package.json"
ENTRY_POINT = "/opt/hasync/server/bin/hasync.js"  # where the Dockerfile puts the server

IMAGE_SIZE_GOAL_MB = 150.0
HEALTHY_GOAL_S = 40.0
HEALTHY_TIMEOUT_S = 180.0
LEAK_GROWTH = 0.05  # memory growth over the sampling window above this is flagged
LEAK_MIN_WINDOW_S = 60.0  # a shorter window mostly shows warm-up (caches, JIT), not a trend
PLATFORMS = {"aarch64": "linux/arm64", "amd64": "linux/amd64"}
HOST_ARCHES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "aarch64", "arm64": "aarch64"}


# A tuple, not `except A, B:`: the harness must also run on the Python of a plain CI runner.
NETWORK_ERRORS = (OSError, http.client.HTTPException)
SAMPLE_ERRORS = (*NETWORK_ERRORS, ValueError)  # ValueError: a body that is not JSON


class NoEngineError(Exception):
    """No Docker engine answers (or the Docker SDK is missing)."""


# --- Pure parts: statistics, checks, reports ------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Return the q-th percentile (0-100), interpolating linearly between closest ranks."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0-100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def memory_growth(values: Sequence[float]) -> float | None:
    """Return the relative growth from the first to the last fifth of the samples (medians).

    Medians of a fifth at each end keep one garbage-collection spike from looking like a trend.
    None when there are fewer than two samples or the start is zero.
    """
    if len(values) < 2:
        return None
    window = max(1, len(values) // 5)
    start = statistics.median(values[:window])
    end = statistics.median(values[-window:])
    return None if start <= 0 else (end - start) / start


def leak_suspected(growth: float | None, threshold: float = LEAK_GROWTH) -> bool:
    """Return whether memory grew by more than the threshold over the window."""
    return growth is not None and growth > threshold


def docker_cpu_percent(stats: dict[str, Any]) -> float | None:
    """CPU use from one `container.stats()` document, computed the way `docker stats` does."""
    cpu, pre = stats.get("cpu_stats") or {}, stats.get("precpu_stats") or {}
    try:
        cpu_delta = cpu["cpu_usage"]["total_usage"] - pre["cpu_usage"]["total_usage"]
        system_delta = cpu["system_cpu_usage"] - pre["system_cpu_usage"]
    except KeyError:
        return None
    cpus = cpu.get("online_cpus") or len(cpu["cpu_usage"].get("percpu_usage") or []) or 1
    return cpu_delta / system_delta * cpus * 100 if system_delta > 0 and cpu_delta >= 0 else None


def docker_memory_bytes(stats: dict[str, Any]) -> int | None:
    """Memory use without reclaimable page cache, as `docker stats` and Supervisor report it."""
    memory = stats.get("memory_stats") or {}
    usage = memory.get("usage")
    if usage is None:
        return None
    inner = memory.get("stats") or {}
    cache = inner.get("inactive_file", inner.get("total_inactive_file", 0))
    return int(usage - cache) if cache < usage else int(usage)


@dataclass
class Check:
    """One pass/fail line of the report."""

    name: str
    ok: bool
    detail: str


@dataclass
class LoadResult:
    """Outcome of the load test."""

    path: str
    requests: int
    concurrency: int
    failures: int
    duration_s: float
    latencies_ms: list[float] = field(repr=False)
    errors: dict[str, int]

    def summary(self) -> dict[str, Any]:
        """Figures for the report (latencies reduced to percentiles)."""
        done = self.latencies_ms or [0.0]
        return {
            "path": self.path,
            "requests": self.requests,
            "concurrency": self.concurrency,
            "failures": self.failures,
            "errors": self.errors,
            "duration_s": round(self.duration_s, 3),
            "requests_per_s": round(self.requests / self.duration_s, 1)
            if self.duration_s
            else None,
            "p50_ms": round(percentile(done, 50), 2),
            "p95_ms": round(percentile(done, 95), 2),
            "p99_ms": round(percentile(done, 99), 2),
            "max_ms": round(max(done), 2),
        }

    def line(self) -> str:
        """One-line human summary."""
        s = self.summary()
        return (
            f"load test {s['path']}: {s['requests']} requests, concurrency {s['concurrency']}, "
            f"{s['failures']} failures; p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms, "
            f"p99 {s['p99_ms']} ms; {s['requests_per_s']} req/s"
        )


@dataclass
class Sample:
    """One resource sample; None where the source cannot measure."""

    t_s: float
    memory_bytes: int | None
    cpu_percent: float | None
    healthy: bool


@dataclass
class StatsResult:
    """Resource samples over the window, and what they suggest."""

    source: str
    samples: list[Sample]

    def summary(self) -> dict[str, Any]:
        """Figures for the report."""
        memory = [s.memory_bytes for s in self.samples if s.memory_bytes is not None]
        cpu = [s.cpu_percent for s in self.samples if s.cpu_percent is not None]
        growth = memory_growth(memory)
        window = self.samples[-1].t_s if self.samples else 0.0
        return {
            "source": self.source,
            "samples": len(self.samples),
            "window_s": round(window, 1),
            "healthy_samples": sum(s.healthy for s in self.samples),
            "memory_start_mib": round(memory[0] / 2**20, 2) if memory else None,
            "memory_end_mib": round(memory[-1] / 2**20, 2) if memory else None,
            "memory_max_mib": round(max(memory) / 2**20, 2) if memory else None,
            "memory_growth_percent": None if growth is None else round(growth * 100, 2),
            # None: the window is too short to judge.
            "leak_suspected": leak_suspected(growth) if window >= LEAK_MIN_WINDOW_S else None,
            "cpu_mean_percent": round(statistics.fmean(cpu), 2) if cpu else None,
            "cpu_max_percent": round(max(cpu), 2) if cpu else None,
        }


def render_markdown(report: dict[str, Any]) -> str:
    """Render the report as Markdown: verdict, checks, load test, resource sampling."""
    lines = [
        f"# verify-addon report: {'PASS' if report['ok'] else 'FAIL'}",
        "",
        f"- mode: {report['mode']}, target: `{report['target']}`",
        f"- started: {report['started_at']}, host: {report['host']}",
        "",
        "| check | result | detail |",
        "|---|---|---|",
    ]
    lines += [
        f"| {c['name']} | {'ok' if c['ok'] else 'FAIL'} | {c['detail']} |" for c in report["checks"]
    ]
    for title, key in (("Load test", "load"), ("Resources", "stats")):
        if report.get(key):
            lines += ["", f"## {title}", "", "| figure | value |", "|---|---|"]
            lines += [f"| {name} | {value} |" for name, value in report[key].items()]
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    """Write report-<UTC time>.json and .md into directory; return both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = "verify-addon-" + report["started_at"].replace(":", "").replace("-", "")
    json_path, md_path = directory / f"{stem}.json", directory / f"{stem}.md"
    json_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    md_path.write_text(render_markdown(report), encoding="utf-8")
    return json_path, md_path


def node_minimum() -> int:
    """Return the oldest supported Node major, from the server's package.json (engines.node)."""
    engines = json.loads(SERVER_PACKAGE.read_text(encoding="utf-8"))["engines"]["node"]
    match = re.search(r"\d+", engines)
    if match is None:
        raise ValueError(f"cannot read a Node major from engines.node {engines!r}")
    return int(match.group())


# --- HTTP: health, load test, sampling through the server's API ---------------------------------


@dataclass
class Target:
    """Where the server answers."""

    host: str
    port: int
    base_path: str = ""

    @classmethod
    def from_url(cls, url: str) -> Target:
        """Parse http://host:port[/prefix]."""
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"--url must be http://host:port, got {url!r}")
        return cls(parts.hostname, parts.port or 80, parts.path.rstrip("/"))

    def __str__(self) -> str:
        """Return the URL form."""
        return f"http://{self.host}:{self.port}{self.base_path}"


def http_get(
    target: Target, path: str, token: str | None = None, timeout: float = 10.0
) -> tuple[int, bytes]:
    """GET one path on a fresh connection; return status and body."""
    connection = http.client.HTTPConnection(target.host, target.port, timeout=timeout)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        connection.request("GET", target.base_path + path, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def load_test(
    target: Target, path: str = "/health", requests: int = 1000, concurrency: int = 10
) -> LoadResult:
    """Send `requests` GETs from `concurrency` keep-alive clients; a non-2xx answer is a failure."""
    remaining = iter(range(requests))
    lock = threading.Lock()
    latencies: list[float] = []
    errors: Counter[str] = Counter()

    def worker() -> None:
        connection: http.client.HTTPConnection | None = None
        while True:
            with lock:
                if next(remaining, None) is None:
                    break
            start = time.perf_counter()
            try:
                if connection is None:
                    connection = http.client.HTTPConnection(target.host, target.port, timeout=10)
                connection.request("GET", target.base_path + path)
                response = connection.getresponse()
                response.read()
                outcome = None if 200 <= response.status < 300 else f"HTTP {response.status}"
            except NETWORK_ERRORS as err:
                outcome = type(err).__name__
                if connection is not None:
                    connection.close()
                connection = None
            elapsed_ms = (time.perf_counter() - start) * 1000
            with lock:
                latencies.append(elapsed_ms)
                if outcome:
                    errors[outcome] += 1
        if connection is not None:
            connection.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="verify-load") as pool:
        for future in [pool.submit(worker) for _ in range(concurrency)]:
            future.result()
    duration = time.perf_counter() - started
    return LoadResult(
        path=path,
        requests=requests,
        concurrency=concurrency,
        failures=sum(errors.values()),
        duration_s=duration,
        latencies_ms=latencies,
        errors=dict(errors),
    )


def sample_loop(
    minutes: float, interval_s: float, take: Callable[[float], Sample], log: Callable[[str], None]
) -> list[Sample]:
    """Call take(elapsed) every interval for the window (at least twice)."""
    samples: list[Sample] = []
    start = time.monotonic()
    deadline = start + minutes * 60
    while True:
        elapsed = time.monotonic() - start
        samples.append(take(elapsed))
        if len(samples) >= 2 and time.monotonic() + interval_s > deadline:
            break
        if len(samples) % 12 == 0:
            log(f"  sampled {len(samples)} times over {elapsed:.0f} s")
        time.sleep(interval_s)
    return samples


def api_sample(target: Target, token: str | None) -> Callable[[float], Sample]:
    """Sample through the server: /api/v1/status with a token, else only /health."""

    def take(elapsed: float) -> Sample:
        try:
            if token is None:
                status, _ = http_get(target, "/health")
                return Sample(elapsed, None, None, status == 200)
            status, body = http_get(target, "/api/v1/status", token)
            if status != 200:
                return Sample(elapsed, None, None, False)
            document = json.loads(body)
            # The Node process's own figures: a leak grows them wherever the server runs, while
            # the cgroup figures outside a container describe the whole host.
            process = document.get("process") or {}
            healthy = document.get("status") in {"ok", "degraded"}
            return Sample(elapsed, process.get("rss_bytes"), process.get("cpu_percent"), healthy)
        except SAMPLE_ERRORS:
            return Sample(elapsed, None, None, False)

    return take


# --- Engine mode ------------------------------------------------------------------------------------


def docker_client() -> Any:
    """Return a Docker SDK client whose engine answers, or raise NoEngineError."""
    try:
        import docker  # type: ignore[import-untyped]  # noqa: PLC0415  (only engine mode needs it)
    except ImportError as err:
        raise NoEngineError(
            "the Docker SDK is missing (pip install docker==7.2.0; scripts/setup puts it in .venv)"
        ) from err
    endpoint = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except docker.errors.DockerException as err:
        raise NoEngineError(f"nothing answers at {endpoint}") from err
    return client


def build_image(
    client: Any, arch: str, host_arch: str, version: str, log: Callable[[str], None]
) -> str:
    """Build addon/ as Supervisor does (BUILD_ARCH, BUILD_VERSION, --pull); return the tag."""
    tag = f"hasync-verify:{version}-{arch}"
    args = {"BUILD_ARCH": arch, "BUILD_VERSION": version}
    if arch == host_arch:
        log(f"building {tag} for the host arch with the Docker SDK")
        client.images.build(
            path=str(ADDON), tag=tag, buildargs=args, pull=True, rm=True, forcerm=True
        )
    else:
        log(f"building {tag} for {PLATFORMS[arch]} with docker buildx (needs QEMU binfmt)")
        command = [
            "docker",
            "buildx",
            "build",
            "--platform",
            PLATFORMS[arch],
            "--pull",
            "--load",
            "-t",
            tag,
        ]
        for key, value in args.items():
            command += ["--build-arg", f"{key}={value}"]
        subprocess.run([*command, str(ADDON)], check=True)
    return tag


def wait_healthy(container: Any, timeout_s: float) -> tuple[str, float]:
    """Poll the HEALTHCHECK status until healthy or unhealthy; return it and the seconds taken."""
    start = time.monotonic()
    status = "starting"
    while time.monotonic() - start < timeout_s:
        container.reload()
        state = container.attrs["State"]
        status = (state.get("Health") or {}).get("Status", "none")
        if status in {"healthy", "unhealthy"} or not state.get("Running"):
            break
        time.sleep(0.5)
    return status, time.monotonic() - start


def run_engine(
    args: argparse.Namespace,
    checks: list[Check],
    report: dict[str, Any],
    log: Callable[[str], None],
) -> None:
    """Build, start, probe, load and sample the image; fill checks and report."""
    client = docker_client()
    host_arch = HOST_ARCHES.get(client.info().get("Architecture", ""), "amd64")
    arch = args.arch or host_arch
    version = json.loads(SERVER_PACKAGE.read_text(encoding="utf-8"))["version"]
    report["target"] = args.image or f"addon/ ({arch})"
    tag = args.image or build_image(client, arch, host_arch, version, log)
    image = client.images.get(tag)
    size_mb = image.attrs["Size"] / 1e6
    checks.append(
        Check(
            "image size",
            size_mb < IMAGE_SIZE_GOAL_MB,
            f"{size_mb:.1f} MB (goal < {IMAGE_SIZE_GOAL_MB:.0f} MB)",
        )
    )

    container = client.containers.run(tag, detach=True, ports={"8099/tcp": ("127.0.0.1", None)})
    try:
        status, seconds = wait_healthy(container, HEALTHY_TIMEOUT_S)
        checks.append(
            Check(
                "start to healthy",
                status == "healthy" and seconds < HEALTHY_GOAL_S,
                f"{status} after {seconds:.1f} s (goal < {HEALTHY_GOAL_S:.0f} s)",
            )
        )
        if status != "healthy":
            log(container.logs(tail=40).decode(errors="replace"))
            return
        code, output = container.exec_run(["node", "--version"])
        text = output.decode().strip()
        major = int(text.lstrip("v").split(".")[0]) if code == 0 and text.startswith("v") else 0
        checks.append(
            Check("node --version", major >= node_minimum(), f"{text} (minimum {node_minimum()})")
        )
        code, output = container.exec_run(["node", ENTRY_POINT, "verify-native"])
        checks.append(
            Check(
                "verify-native",
                code == 0,
                output.decode(errors="replace").strip().splitlines()[-1:][0]
                if output
                else f"exit {code}",
            )
        )

        container.reload()
        port = int(container.attrs["NetworkSettings"]["Ports"]["8099/tcp"][0]["HostPort"])
        target = Target("127.0.0.1", port)
        probe_and_load(target, args, checks, report, log)

        log(f"sampling container.stats() for {args.minutes} min")

        def take(elapsed: float) -> Sample:
            stats = container.stats(stream=False)
            container.reload()
            healthy = (container.attrs["State"].get("Health") or {}).get("Status") == "healthy"
            return Sample(elapsed, docker_memory_bytes(stats), docker_cpu_percent(stats), healthy)

        finish_stats(
            StatsResult("container.stats()", sample_loop(args.minutes, args.interval, take, log)),
            checks,
            report,
        )
    finally:
        if args.keep:
            log(f"kept container {container.short_id}")
        else:
            container.remove(force=True)


# --- Shared steps and the command line -----------------------------------------------------------


def probe_and_load(
    target: Target,
    args: argparse.Namespace,
    checks: list[Check],
    report: dict[str, Any],
    log: Callable[[str], None],
) -> None:
    """GET /health, then run the load test; fill checks and report."""
    try:
        status, body = http_get(target, "/health")
        detail = f"HTTP {status} {body.decode(errors='replace').strip()[:120]}"
    except NETWORK_ERRORS as err:
        status, detail = 0, f"no answer: {err}"
    checks.append(Check("GET /health", status == 200, detail))
    log(f"GET /health: {detail}")
    result = load_test(target, args.load_path, args.requests, args.concurrency)
    log(result.line())
    report["load"] = result.summary()
    checks.append(
        Check(
            "load test",
            result.failures == 0,
            f"{result.failures} failures in {result.requests} requests",
        )
    )


def finish_stats(result: StatsResult, checks: list[Check], report: dict[str, Any]) -> None:
    """Record the sampling summary and its leak and availability checks."""
    summary = result.summary()
    report["stats"] = summary
    healthy = f"{summary['healthy_samples']}/{summary['samples']} samples healthy"
    checks.append(
        Check(
            "availability while sampling", summary["healthy_samples"] == summary["samples"], healthy
        )
    )
    growth = f"{summary['memory_growth_percent']}% over {summary['window_s']} s"
    if summary["memory_growth_percent"] is None:
        checks.append(Check("memory growth", True, f"not measured: {result.source}"))
    elif summary["leak_suspected"] is None:
        checks.append(
            Check("memory growth", True, f"{growth} (under {LEAK_MIN_WINDOW_S:.0f} s: not judged)")
        )
    elif summary["leak_suspected"]:
        checks.append(
            Check("memory growth", False, f"{growth}: suspected leak (above {LEAK_GROWTH:.0%})")
        )
    else:
        checks.append(Check("memory growth", True, f"{growth} (flagged above {LEAK_GROWTH:.0%})"))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="scripts/verify-addon",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--arch",
        choices=sorted(PLATFORMS),
        help="build for this arch (default: the host's); another arch goes through buildx",
    )
    parser.add_argument("--image", help="test this existing image instead of building addon/")
    parser.add_argument(
        "--url",
        help="skip Docker: load-test and sample a running server, e.g. http://127.0.0.1:8099",
    )
    parser.add_argument("--token", help="API token for /api/v1/status sampling in --url mode")
    parser.add_argument(
        "--minutes", type=float, default=5.0, help="resource sampling window (default 5)"
    )
    parser.add_argument(
        "--interval", type=float, default=5.0, help="seconds between samples (default 5)"
    )
    parser.add_argument(
        "--requests", type=int, default=1000, help="load-test requests (default 1000)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=10, help="load-test clients (default 10)"
    )
    parser.add_argument(
        "--load-path", default="/health", help="path the load test requests (default /health)"
    )
    parser.add_argument(
        "--report-dir",
        type=Path,
        default=ROOT / "reports",
        help="where the JSON and Markdown reports go (default reports/)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="leave the container running afterwards"
    )
    args = parser.parse_args(argv)
    if args.url and (args.arch or args.image):
        parser.error("--url tests a running server; --arch and --image need the engine")
    if args.minutes < 0 or args.interval <= 0 or args.requests < 1 or args.concurrency < 1:
        parser.error(
            "--minutes must be >= 0; --interval, --requests and --concurrency must be positive"
        )
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the checks; return the exit code."""
    args = parse_args(argv)

    def log(message: str) -> None:
        print(message, flush=True)

    checks: list[Check] = []
    report: dict[str, Any] = {
        "tool": "scripts/verify-addon",
        "started_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": f"{platform.system()} {platform.machine()}",
        "mode": "url" if args.url else "engine",
        "target": args.url or "",
    }
    try:
        if args.url:
            target = Target.from_url(args.url)
            probe_and_load(target, args, checks, report, log)
            source = "/api/v1/status (process)" if args.token else "/health only (no --token)"
            log(f"sampling {source} for {args.minutes} min")
            samples = sample_loop(args.minutes, args.interval, api_sample(target, args.token), log)
            finish_stats(StatsResult(source, samples), checks, report)
        else:
            run_engine(args, checks, report, log)
    except NoEngineError as err:
        print(
            f"verify-addon: no Docker engine reachable ({err}); use --url http://HOST:PORT to test a running server",
            file=sys.stderr,
        )
        return 2
    except ValueError as err:
        print(f"verify-addon: {err}", file=sys.stderr)
        return 2
    report["checks"] = [asdict(check) for check in checks]
    report["ok"] = all(check.ok for check in checks)
    json_path, md_path = write_report(report, args.report_dir)
    for check in checks:
        log(f"{'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}")
    log(f"report: {json_path} and {md_path.name}")
    return 0 if report["ok"] else 1
