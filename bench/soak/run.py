#!/usr/bin/env python3
"""Soak: the real server under a fixed request rate for an hour, its memory sampled every 10 s.

Two servers (Node 24 by default, fresh data dirs) run side by side under the same open-loop load:
one on this machine's own malloc (glibc here) and one on the allocator the app image uses, set up
the way addon/Dockerfile sets it (jemalloc through LD_PRELOAD, with the Dockerfile's MALLOC_CONF;
Debian's libjemalloc2 here, which scripts/setup installs). Each gets requests on a fixed schedule
(default 50 per second, whatever the answers take), alternating the authenticated status document
(what the integration polls) and /health (what the Docker HEALTHCHECK polls), while one client per
server holds the event stream open and reads every push, as Home Assistant does.

After a warm-up (default 5 min, not judged: V8 tiers up the hot code, which maps more of node's own
binary, and the heap and SQLite caches fill), each server's RSS, anonymous and file-backed parts
are read from /proc/<pid>/status every 10 s. Reported per server: growth % (mean of the last three
samples against the first three), the leak slope (least squares, MiB/h) over the whole run, its
second half and its last third, the plateau (mean RSS over the last third), with request counts
and latencies. The run levels off when growth is at most 5 % and the last third's slope at most
1 MiB/h: a slope that small needs a long last third to be told from noise, hence the hour by
default; `--minutes 120` is the long soak.

    .venv/bin/python bench/soak/run.py [--minutes 60] [--rate 50] [--warmup 300] [--node 24]
                                       [--allocator both|system|image]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes.util
from dataclasses import dataclass, field
from pathlib import Path
import re
import statistics
import sys
import time
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.lib.report import REPO, linear_slope, load_average, percentile, verdict, write_result
from devtools.server import ServerProcess, fetch_status, fresh_server

GOAL_GROWTH_PERCENT = 5.0
GOAL_SLOPE_MIB_PER_HOUR = 1.0
SAMPLE_EVERY_S = 10.0
MIB = 1024 * 1024
DOCKERFILE = REPO / "addon" / "Dockerfile"
JEMALLOC = "libjemalloc.so.2"
# t (s), VmRSS, RssAnon, RssFile (KiB), V8 heap used (bytes)
Sample = tuple[float, int, int, int, int | None]


def image_allocator_env() -> dict[str, str]:
    """LD_PRELOAD and MALLOC_CONF as the app image sets them, with this machine's jemalloc.

    The settings are read from addon/Dockerfile, so the soak always runs what the image runs.
    """
    text = DOCKERFILE.read_text()
    if not re.search(rf'\bLD_PRELOAD="?\S*{re.escape(JEMALLOC)}', text):
        raise SystemExit(f"{DOCKERFILE} preloads no {JEMALLOC}: update bench/soak/run.py")
    if ctypes.util.find_library("jemalloc") is None:
        raise SystemExit(
            f"{JEMALLOC} not found: install Debian's libjemalloc2 (scripts/setup does), "
            "or run with --allocator system"
        )
    conf = re.search(r'\bMALLOC_CONF="?([^"\s\\]+)', text)
    return {"LD_PRELOAD": JEMALLOC} | ({"MALLOC_CONF": conf[1]} if conf else {})


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS, RssAnon and RssFile of a process in KiB, from /proc (what `ps` and the kernel report)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            fields[key] = int(value.split()[0])
    return fields


def allocator_of(pid: int) -> str:
    """Which malloc the process really uses: jemalloc when its library is mapped."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    if "jemalloc" in maps:
        return "jemalloc (LD_PRELOAD)"
    return "musl mallocng" if "ld-musl" in maps else "glibc malloc"


class Load:
    """Open-loop load on one server: request i starts at start + i / rate."""

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


@dataclass
class Soaked:
    """One server under the soak: its load, stream and samples."""

    name: str
    server: ServerProcess
    version: str
    allocator: str = ""
    pushes: list[int] = field(default_factory=lambda: [0])
    load: Load = field(init=False)  # the judged load, set after the warm-up
    # (seconds since the end of the warm-up, VmRSS, RssAnon, RssFile in KiB, heap used in bytes)
    samples: list[Sample] = field(default_factory=list)

    async def sample(self, session: aiohttp.ClientSession, elapsed: float) -> None:
        """Record one sample: /proc figures, and the V8 heap from the status document."""
        heap = None
        with contextlib.suppress(OSError, aiohttp.ClientError, KeyError, ValueError):
            async with session.get(
                f"{self.server.url}/api/v1/status",
                headers={"Authorization": f"Bearer {self.server.token or ''}"},
            ) as response:
                heap = (await response.json())["process"]["heap_used_bytes"]
        kib = memory_kib(self.server.pid)
        self.samples.append((elapsed, kib["VmRSS"], kib["RssAnon"], kib["RssFile"], heap))


async def soak(servers: list[Soaked], minutes: float, rate: float, warmup: float) -> None:
    """Warm every server up, then load them together while sampling their memory."""
    connector = aiohttp.TCPConnector(limit=64 * len(servers))
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=10)
    ) as session:
        streams = [
            asyncio.create_task(read_stream(session, s.server.url, s.server.token or "", s.pushes))
            for s in servers
        ]
        try:
            print(f"warm-up: {warmup:g} s at {rate:g} req/s per server", flush=True)
            await asyncio.gather(
                *(
                    Load(session, s.server.url, s.server.token or "", rate).run(warmup)
                    for s in servers
                )
            )
            for s in servers:
                s.load = Load(session, s.server.url, s.server.token or "", rate)
            duration = minutes * 60

            async def sample() -> None:
                started = time.monotonic()
                count = 0
                while True:
                    elapsed = time.monotonic() - started
                    await asyncio.gather(*(s.sample(session, elapsed) for s in servers))
                    count += 1
                    print(
                        f"  {elapsed:6.0f} s  "
                        + "  ".join(
                            f"{s.name}: RSS {s.samples[-1][1] / 1024:6.1f} MiB" for s in servers
                        ),
                        flush=True,
                    )
                    await asyncio.sleep(
                        max(0.0, started + count * SAMPLE_EVERY_S - time.monotonic())
                    )

            print(
                f"soak: {minutes:g} min at {rate:g} req/s per server, memory every "
                f"{SAMPLE_EVERY_S:g} s",
                flush=True,
            )
            sampler = asyncio.create_task(sample())
            await asyncio.gather(*(s.load.run(duration) for s in servers))
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
            for s in servers:  # one at the end of the load
                if duration - s.samples[-1][0] > SAMPLE_EVERY_S / 2:
                    await s.sample(session, duration)
        finally:
            for stream in streams:
                stream.cancel()
            for stream in streams:
                with contextlib.suppress(asyncio.CancelledError):
                    await stream


def tail_of(samples: list[Sample], fraction: float) -> list[Sample]:
    """Return the samples after ``fraction`` of the run."""
    end = samples[-1][0]
    return [s for s in samples if s[0] >= end * fraction]


def slope_since(samples: list[Sample], fraction: float) -> float:
    """Least-squares slope of RSS (MiB/h) over the samples after ``fraction`` of the run."""
    tail = tail_of(samples, fraction)
    return linear_slope([t / 3600 for t, *_ in tail], [rss / 1024 for _, rss, *_ in tail])


def figures_of(s: Soaked, minutes: float) -> dict[str, Any]:
    """Return the judged and informative figures of one server's run."""
    load = s.load
    first = [sample[1:4] for sample in s.samples[:3]]
    last = [sample[1:4] for sample in s.samples[-3:]]
    mean = [
        [statistics.mean(sample[i] for sample in group) / 1024 for i in range(3)]
        for group in (first, last)
    ]
    heaps = [sample[4] for sample in s.samples if sample[4] is not None]
    growth = (mean[1][0] - mean[0][0]) / mean[0][0] * 100
    last_third = slope_since(s.samples, 2 / 3)
    return {
        "node": s.version,
        "allocator": s.allocator,
        "samples": [
            {"t_s": t, "rss_kib": rss, "anon_kib": anon, "file_kib": file, "heap_used_bytes": heap}
            for t, rss, anon, file, heap in s.samples
        ],
        "rss_first_mib": mean[0][0],
        "rss_last_mib": mean[1][0],
        "anon_first_mib": mean[0][1],
        "anon_last_mib": mean[1][1],
        "file_first_mib": mean[0][2],
        "file_last_mib": mean[1][2],
        "rss_min_mib": min(sample[1] for sample in s.samples) / 1024,
        "rss_max_mib": max(sample[1] for sample in s.samples) / 1024,
        "growth_percent": growth,
        "slope_mib_per_hour": slope_since(s.samples, 0),
        "slope_second_half_mib_per_hour": slope_since(s.samples, 1 / 2),
        "slope_last_third_mib_per_hour": last_third,
        "plateau_mib": statistics.mean(rss for _, rss, *_ in tail_of(s.samples, 2 / 3)) / 1024,
        "levels_off": growth <= GOAL_GROWTH_PERCENT and last_third <= GOAL_SLOPE_MIB_PER_HOUR,
        "heap_first_mib": heaps[0] / MIB if heaps else None,
        "heap_last_mib": heaps[-1] / MIB if heaps else None,
        "requests": load.sent,
        "answered": sum(load.statuses.values()),
        "statuses": load.statuses,
        "errors": load.errors,
        "late_starts": load.late,
        "achieved_rate_per_s": load.sent / (minutes * 60),
        "latency_p50_ms": statistics.median(load.latencies_ms),
        "latency_p99_ms": percentile(load.latencies_ms, 99),
        "pushes_received": s.pushes[0],
    }


def markdown_of(args: argparse.Namespace, runs: dict[str, dict[str, Any]]) -> str:
    """Return the report section: one column per server, then every sample."""
    names = list(runs)
    cols = " | ".join(names)

    def row(label: str, goal: str, cell: Any) -> str:
        return f"| {label} | {goal} | " + " | ".join(cell(runs[n]) for n in names) + " |"

    def judged(label: str, goal: str, cell: Any, ok: Any) -> str:
        return row(label, goal, lambda f: f"{cell(f)} {verdict(ok(f))}")

    table = "\n".join(
        [
            f"| Metric | Goal | {cols} |",
            "|---|---|" + "---|" * len(names),
            row("Node; allocator", "", lambda f: f"{f['node']}; {f['allocator']}"),
            judged(
                "RSS growth (mean of the last 3 samples vs the first 3)",
                f"≤ {GOAL_GROWTH_PERCENT:g} %",
                lambda f: (
                    f"{f['growth_percent']:+.2f} % "
                    f"({f['rss_first_mib']:.1f} → {f['rss_last_mib']:.1f} MiB)"
                ),
                lambda f: f["growth_percent"] <= GOAL_GROWTH_PERCENT,
            ),
            judged(
                "Leak slope over the last third (least squares)",
                f"≤ {GOAL_SLOPE_MIB_PER_HOUR:g} MiB/h",
                lambda f: f"{f['slope_last_third_mib_per_hour']:+.2f} MiB/h",
                lambda f: f["slope_last_third_mib_per_hour"] <= GOAL_SLOPE_MIB_PER_HOUR,
            ),
            row(
                "Leak slope, whole run; second half",
                "",
                lambda f: (
                    f"{f['slope_mib_per_hour']:+.2f}; "
                    f"{f['slope_second_half_mib_per_hour']:+.2f} MiB/h"
                ),
            ),
            row(
                "Levels off (growth and last-third slope within their goals); plateau",
                "",
                lambda f: (
                    ("yes" if f["levels_off"] else "**no**")
                    + f"; {f['plateau_mib']:.1f} MiB (mean RSS over the last third)"
                ),
            ),
            row(
                "Anonymous / file-backed RSS, first → last",
                "",
                lambda f: (
                    f"{f['anon_first_mib']:.1f} → {f['anon_last_mib']:.1f} / "
                    f"{f['file_first_mib']:.1f} → {f['file_last_mib']:.1f} MiB"
                ),
            ),
            row(
                "RSS min / max",
                "",
                lambda f: f"{f['rss_min_mib']:.1f} / {f['rss_max_mib']:.1f} MiB",
            ),
            row(
                "V8 heap used, first / last sample",
                "",
                lambda f: f"{f['heap_first_mib'] or 0:.1f} / {f['heap_last_mib'] or 0:.1f} MiB",
            ),
            row(
                "Requests (achieved rate)",
                "",
                lambda f: (
                    f"{f['requests']:,} ({f['achieved_rate_per_s']:.1f}/s); "
                    + ", ".join(f"{k}: {v:,}" for k, v in sorted(f["statuses"].items()))
                    + f"; {f['errors']} errors"
                ),
            ),
            row(
                "Latency p50 / p99",
                "",
                lambda f: f"{f['latency_p50_ms']:.2f} / {f['latency_p99_ms']:.2f} ms",
            ),
            row("Pushed documents read on the stream", "", lambda f: str(f["pushes_received"])),
            judged(
                "Exit code on SIGTERM at the end",
                "0",
                lambda f: str(f["exit_code"]),
                lambda f: f["exit_code"] == 0,
            ),
        ]
    )
    samples = "\n".join(
        f"| {sample['t_s']:.0f} | "
        + " | ".join(
            f"{runs[n]['samples'][i]['rss_kib'] / 1024:.1f}" if i < len(runs[n]["samples"]) else ""
            for n in names
        )
        + " |"
        for i, sample in enumerate(runs[names[0]]["samples"])
    )
    command = (
        f".venv/bin/python bench/soak/run.py --minutes {args.minutes:g} --rate {args.rate:g} "
        f"--warmup {args.warmup:g} --node {args.node} --allocator {args.allocator}"
    )
    return f"""# Soak: {args.minutes:g} minutes at {args.rate:g} requests/s

The real server (fresh data dir per allocator, run side by side under the same load): an
open-loop load alternating `GET /api/v1/status` (with the token) and `GET /health`, plus one
client reading the event stream, after a {args.warmup:g} s warm-up that is not judged. Memory
from `/proc/<pid>/status` every {SAMPLE_EVERY_S:g} s. The image allocator is the one
`addon/Dockerfile` sets, with its `MALLOC_CONF`.

{table}

<details><summary>RSS samples (MiB)</summary>

| t (s) | {cols} |
|---|{"---|" * len(names)}
{samples}

</details>

Command: `{command}`
"""


def main() -> int:
    """Run the soak and write bench/results/soak.{md,json}."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--rate", type=float, default=50, help="requests per second per server")
    parser.add_argument("--warmup", type=float, default=300, help="seconds, not judged")
    parser.add_argument("--node", type=int, default=24, choices=(20, 24))
    parser.add_argument(
        "--allocator",
        choices=("both", "system", "image"),
        default="both",
        help="system: this machine's malloc; image: the one addon/Dockerfile sets",
    )
    args = parser.parse_args()
    load = load_average()
    envs: dict[str, dict[str, str]] = {}
    if args.allocator in ("both", "system"):
        envs["system malloc"] = {}
    if args.allocator in ("both", "image"):
        envs["image allocator"] = image_allocator_env()

    with contextlib.ExitStack() as stack:
        servers = []
        for name, env in envs.items():
            server = stack.enter_context(fresh_server(args.node, env=env))
            version = fetch_status(server.url, server.token or "")["node"]["version"]
            servers.append(Soaked(name, server, version, allocator_of(server.pid)))
        asyncio.run(soak(servers, args.minutes, args.rate, args.warmup))
        runs = {
            s.name: figures_of(s, args.minutes) | {"exit_code": s.server.stop()} for s in servers
        }
    write_result(
        "soak",
        markdown_of(args, runs),
        {
            "minutes": args.minutes,
            "rate_per_s": args.rate,
            "warmup_s": args.warmup,
            "goal_growth_percent": GOAL_GROWTH_PERCENT,
            "goal_slope_mib_per_hour": GOAL_SLOPE_MIB_PER_HOUR,
            "runs": runs,
            "pass": all(r["levels_off"] and r["exit_code"] == 0 for r in runs.values()),
            "load_average_at_start": load,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
