#!/usr/bin/env python3
"""Soak: the real server under a fixed request rate for minutes, its RSS sampled every 10 s.

The server (Node 24 by default, fresh data dir) gets an open-loop load: requests start on a fixed
schedule (default 50 per second, whatever the answers take), alternating the authenticated
status document (what the integration polls) and /health (what the Docker HEALTHCHECK polls),
while one client holds the event stream open and reads every push, as Home Assistant does.
After a warm-up (default 60 s, not judged: V8 and SQLite caches fill up), the server's resident
memory is read from /proc/<pid>/status every 10 s.

Reported: growth % (mean of the last three samples against the first three; goal <= 5 %) and the
leak slope (least-squares fit over every sample, MiB/h), with request counts and latencies.

    .venv/bin/python bench/soak/run.py [--minutes 10] [--rate 50] [--warmup 60] [--node 24]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from pathlib import Path
import statistics
import sys
import time
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.lib.report import linear_slope, load_average, percentile, verdict, write_result
from devtools.server import ServerProcess, fetch_status, fresh_server

GOAL_GROWTH_PERCENT = 5.0
SAMPLE_EVERY_S = 10.0
MIB = 1024 * 1024


def rss_bytes(pid: int) -> int:
    """Resident set size of a process, from /proc (what `ps` and the kernel report)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


class Load:
    """Open-loop load: request i starts at start + i / rate."""

    def __init__(self, session: aiohttp.ClientSession, url: str, token: str, rate: float) -> None:
        """Prepare the two requests the load alternates."""
        self.session = session
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}"}
        self.rate = rate
        self.latencies_ms: list[float] = []
        self.statuses: dict[int, int] = {}
        self.errors = 0
        self.sent = 0
        self.late = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def _one(self, index: int) -> None:
        path, headers = ("/api/v1/status", self.headers) if index % 2 == 0 else ("/health", {})
        started = time.perf_counter()
        try:
            async with self.session.get(f"{self.url}{path}", headers=headers) as response:
                await response.read()
                self.statuses[response.status] = self.statuses.get(response.status, 0) + 1
        except aiohttp.ClientError, TimeoutError:
            self.errors += 1
            return
        self.latencies_ms.append((time.perf_counter() - started) * 1000)

    async def run(self, seconds: float) -> None:
        """Start requests on schedule for ``seconds``, then wait for the last answers."""
        start = time.monotonic()
        index = 0
        while (due := start + index / self.rate) < start + seconds:
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.1:
                self.late += 1
            task = asyncio.create_task(self._one(self.sent))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            self.sent += 1
            index += 1
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=30)


async def read_stream(
    session: aiohttp.ClientSession, url: str, token: str, seen: list[int]
) -> None:
    """Hold /api/v1/events open and count the pushed documents, reconnecting if it ends."""
    while True:
        try:
            async with session.get(
                f"{url}/api/v1/events",
                headers={"Authorization": f"Bearer {token}", "Accept": "text/event-stream"},
                timeout=aiohttp.ClientTimeout(total=None, sock_read=90),
            ) as response:
                async for line in response.content:
                    if line.startswith(b"event: status"):
                        seen[0] += 1
        except aiohttp.ClientError, TimeoutError:
            await asyncio.sleep(1)


async def soak(server: ServerProcess, minutes: float, rate: float, warmup: float) -> dict[str, Any]:
    """Warm up, then load the server while sampling its RSS; return the figures."""
    token = server.token or ""
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=10)
    ) as session:
        pushes = [0]
        stream = asyncio.create_task(read_stream(session, server.url, token, pushes))
        try:
            print(f"warm-up: {warmup:g} s at {rate:g} req/s", flush=True)
            await Load(session, server.url, token, rate).run(warmup)
            load = Load(session, server.url, token, rate)
            duration = minutes * 60
            samples: list[tuple[float, int, int | None]] = []

            async def sample() -> None:
                started = time.monotonic()
                while True:
                    elapsed = time.monotonic() - started
                    heap = None
                    with contextlib.suppress(OSError, aiohttp.ClientError):
                        async with session.get(
                            f"{server.url}/api/v1/status",
                            headers={"Authorization": f"Bearer {token}"},
                        ) as response:
                            heap = (await response.json())["process"]["heap_used_bytes"]
                    rss = rss_bytes(server.pid)
                    samples.append((elapsed, rss, heap))
                    print(
                        f"  {elapsed:6.0f} s  RSS {rss / MIB:6.1f} MiB  "
                        f"heap {heap / MIB if heap else float('nan'):5.1f} MiB  "
                        f"requests {load.sent:,}",
                        flush=True,
                    )
                    await asyncio.sleep(
                        max(0.0, started + len(samples) * SAMPLE_EVERY_S - time.monotonic())
                    )

            print(
                f"soak: {minutes:g} min at {rate:g} req/s, RSS every {SAMPLE_EVERY_S:g} s",
                flush=True,
            )
            sampler = asyncio.create_task(sample())
            await load.run(duration)
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
            if duration - samples[-1][0] > SAMPLE_EVERY_S / 2:  # one at the end of the load
                samples.append((duration, rss_bytes(server.pid), None))
        finally:
            stream.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stream
    first = statistics.mean(rss for _, rss, _ in samples[:3])
    last = statistics.mean(rss for _, rss, _ in samples[-3:])
    hours = [elapsed / 3600 for elapsed, _, _ in samples]
    mib = [rss / MIB for _, rss, _ in samples]
    heaps = [heap for _, _, heap in samples if heap is not None]
    return {
        "minutes": minutes,
        "rate_per_s": rate,
        "warmup_s": warmup,
        "samples": [
            {"t_s": t, "rss_bytes": rss, "heap_used_bytes": heap} for t, rss, heap in samples
        ],
        "rss_first_mib": first / MIB,
        "rss_last_mib": last / MIB,
        "rss_min_mib": min(mib),
        "rss_max_mib": max(mib),
        "growth_percent": (last - first) / first * 100,
        "slope_mib_per_hour": linear_slope(hours, mib),
        "slope_second_half_mib_per_hour": linear_slope(
            hours[len(hours) // 2 :], mib[len(mib) // 2 :]
        ),
        "heap_first_mib": heaps[0] / MIB if heaps else None,
        "heap_last_mib": heaps[-1] / MIB if heaps else None,
        "requests": load.sent,
        "answered": sum(load.statuses.values()),
        "statuses": load.statuses,
        "errors": load.errors,
        "late_starts": load.late,
        "achieved_rate_per_s": load.sent / duration,
        "latency_p50_ms": statistics.median(load.latencies_ms),
        "latency_p99_ms": percentile(load.latencies_ms, 99),
        "pushes_received": pushes[0],
    }


def main() -> int:
    """Run the soak and write bench/results/soak.{md,json}."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--rate", type=float, default=50, help="requests per second")
    parser.add_argument("--warmup", type=float, default=60, help="seconds, not judged")
    parser.add_argument("--node", type=int, default=24, choices=(20, 24))
    args = parser.parse_args()
    load = load_average()

    with fresh_server(args.node) as server:
        version = fetch_status(server.url, server.token or "")["node"]["version"]
        figures = asyncio.run(soak(server, args.minutes, args.rate, args.warmup))
        code = server.stop()
    ok = figures["growth_percent"] <= GOAL_GROWTH_PERCENT
    statuses = ", ".join(
        f"{status}: {count:,}" for status, count in sorted(figures["statuses"].items())
    )
    table = "\n".join(
        f"| {sample['t_s']:.0f} | {sample['rss_bytes'] / MIB:.1f} | "
        + (f"{sample['heap_used_bytes'] / MIB:.1f}" if sample["heap_used_bytes"] else "")
        + " |"
        for sample in figures["samples"]
    )
    markdown = f"""# Soak: {args.minutes:g} minutes at {args.rate:g} requests/s

The real server on Node {version} (fresh data dir), an open-loop load alternating
`GET /api/v1/status` (with the token) and `GET /health`, plus one client reading the event stream,
after a {args.warmup:g} s warm-up that is not judged. RSS from `/proc/<pid>/status` every
{SAMPLE_EVERY_S:g} s.

| Metric | Goal | Measured | Result |
|---|---|---|---|
| RSS growth (mean of the last 3 samples vs the first 3) | ≤ {GOAL_GROWTH_PERCENT:g} % | {figures["growth_percent"]:+.2f} % ({figures["rss_first_mib"]:.1f} → {figures["rss_last_mib"]:.1f} MiB) | {verdict(ok)} |
| Leak slope (least squares over {len(figures["samples"])} samples; over the second half only) | | {figures["slope_mib_per_hour"]:+.2f} MiB/h; {figures["slope_second_half_mib_per_hour"]:+.2f} MiB/h | info |
| RSS min / max | | {figures["rss_min_mib"]:.1f} / {figures["rss_max_mib"]:.1f} MiB | info |
| V8 heap used, first / last sample | | {figures["heap_first_mib"] or 0:.1f} / {figures["heap_last_mib"] or 0:.1f} MiB | info |
| Requests (achieved rate) | | {figures["requests"]:,} ({figures["achieved_rate_per_s"]:.1f}/s); {statuses}; {figures["errors"]} errors | info |
| Latency p50 / p99 | | {figures["latency_p50_ms"]:.2f} / {figures["latency_p99_ms"]:.2f} ms | info |
| Pushed documents read on the stream | | {figures["pushes_received"]} | info |
| Exit code on SIGTERM at the end | 0 | {code} | {verdict(code == 0)} |

<details><summary>RSS samples</summary>

| t (s) | RSS (MiB) | heap (MiB) |
|---|---|---|
{table}

</details>

Command: `.venv/bin/python bench/soak/run.py --minutes {args.minutes:g} --rate {args.rate:g} --warmup {args.warmup:g} --node {args.node}`
"""
    write_result(
        "soak",
        markdown,
        figures
        | {
            "exit_code": code,
            "goal_growth_percent": GOAL_GROWTH_PERCENT,
            "pass": ok,
            "load_average_at_start": load,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
