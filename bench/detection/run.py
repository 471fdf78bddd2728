#!/usr/bin/env python3
"""Detection and recovery: the server's SIGKILL to connected=off, its return to connected=on.

The real integration runs in a Home Assistant test instance against the real server (Node 24).
Each trial kills the server with SIGKILL at a random moment of the poll cycle, times how long
`binary_sensor.hasync_connected` takes to turn off, restarts the server on the same port and
data dir and waits for the entry to recover.

- push: the integration as shipped: the end of the event stream triggers an immediate check.
- poll-only: the same integration with its push listener not started, so only the poll timer
  (the shortest scan interval the options allow, 10 s) can notice; the latency is bounded by
  the scan interval. The default configuration's figure is computed: 30 s to notice, and the
  seed's 3 failures x 30 s = 90 s until `unreachable`.

It also times `unreachable` (failure_threshold 3) once in each mode with the 10 s interval.

Recovery: with the default options (scan 30 s, push on), the server is stopped with SIGTERM (as
Supervisor stops the app for an update) at a random moment of the poll cycle, stays down for
each outage (10 s, 60 s, 5 min), is started again on the same port and data dir, and the bench
times from the moment the server accepts TCP connections again (a probe connects every few
milliseconds) to `binary_sensor.hasync_connected` turning on.

    .venv/bin/python bench/detection/run.py [--trials 5] [--scan-interval 10] [--outages 10,60,300]
                                            [--recovery-only]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path
import random
import socket
import statistics
import sys
import time
from typing import Any
from unittest.mock import patch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.lib.report import load_average, verdict, write_result

GOAL_PUSH_S = 3.0
GOAL_RECOVERY_S = 5.0
OUTAGES_S = (10, 60, 300)
DEFAULT_SCAN_S = 30
DEFAULT_FAILURES = 3


async def run_mode(
    mode: str, trials: int, scan: int, server: Any, instance_id: str
) -> dict[str, Any]:
    """Time connected=off after SIGKILL over several trials, then `unreachable` once."""
    from homeassistant.helpers import issue_registry as ir  # noqa: PLC0415

    from bench.lib.hass_instance import add_entry, test_hass, until  # noqa: PLC0415
    from custom_components.hasync.const import (  # noqa: PLC0415
        CONF_FAILURE_THRESHOLD,
        CONF_SCAN_INTERVAL,
        DOMAIN,
        ISSUE_UNREACHABLE,
    )
    from custom_components.hasync.coordinator import (  # noqa: PLC0415
        HAsyncDataUpdateCoordinator,
    )
    from custom_components.hasync.repairs import issue_id  # noqa: PLC0415

    push = mode == "push"
    options = {CONF_SCAN_INTERVAL: scan, CONF_FAILURE_THRESHOLD: DEFAULT_FAILURES}
    latencies: list[float] = []
    with patch.object(
        HAsyncDataUpdateCoordinator,
        "async_start_push",
        HAsyncDataUpdateCoordinator.async_start_push if push else lambda _self: None,
    ):
        async with test_hass() as hass:
            entry = await add_entry(hass, server.url, server.token, instance_id, options)
            coordinator = entry.runtime_data.coordinator

            def connected() -> bool:
                state = hass.states.get("binary_sensor.hasync_connected")
                return state is not None and state.state == "on"

            async def ready() -> None:
                await until(connected, 120, "connected")
                if push:
                    await until(
                        lambda: coordinator.listener.state.connected, 120, "the stream reopens"
                    )

            async def restart() -> None:
                await asyncio.to_thread(server.start)
                await asyncio.to_thread(server.wait_healthy, 60)
                await ready()

            await ready()
            for trial in range(trials):
                # A random moment of the poll cycle.
                await asyncio.sleep(random.uniform(0, scan))
                killed = time.monotonic()
                server.kill()
                await until(lambda: not connected(), scan * 3 + 30, "connected turns off")
                latencies.append(time.monotonic() - killed)
                print(f"  {mode}: trial {trial + 1}: off after {latencies[-1]:.3f} s", flush=True)
                await restart()

            await asyncio.sleep(random.uniform(0, scan))
            killed = time.monotonic()
            server.kill()
            unreachable = issue_id(entry.entry_id, ISSUE_UNREACHABLE)
            registry = ir.async_get(hass)
            await until(
                lambda: (
                    (issue := registry.async_get_issue(DOMAIN, unreachable)) is not None
                    and issue.active
                ),
                scan * (DEFAULT_FAILURES + 2) + 30,
                "unreachable is raised",
            )
            unreachable_s = time.monotonic() - killed
            print(f"  {mode}: unreachable after {unreachable_s:.1f} s", flush=True)
            await restart()
            await hass.config_entries.async_unload(entry.entry_id)
            await hass.async_block_till_done()
    return {
        "latencies_s": latencies,
        "median_s": statistics.median(latencies),
        "max_s": max(latencies),
        "min_s": min(latencies),
        "unreachable_s": unreachable_s,
    }


def wait_accepting(port: int, limit: float) -> float:
    """Block until a TCP connect to 127.0.0.1:port succeeds; return that moment (monotonic)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return time.monotonic()
        except OSError:
            time.sleep(0.002)
    raise TimeoutError(f"nothing accepts connections on port {port} within {limit:g} s")


async def run_recovery(outages: list[int], server: Any, instance_id: str) -> list[dict[str, Any]]:
    """Default options: stop the server, keep it down, start it; time accept to connected=on."""
    from homeassistant.core import Event, EventStateChangedData, callback  # noqa: PLC0415
    from homeassistant.helpers.event import async_track_state_change_event  # noqa: PLC0415

    from bench.lib.hass_instance import add_entry, test_hass, until  # noqa: PLC0415

    connected_id = "binary_sensor.hasync_connected"
    rows: list[dict[str, Any]] = []
    async with test_hass() as hass:
        entry = await add_entry(hass, server.url, server.token, instance_id)
        coordinator = entry.runtime_data.coordinator
        turned_on: list[tuple[float, int]] = []
        """When connected turned on, and the pushes applied by then."""

        @callback
        def stamp(event: Event[EventStateChangedData]) -> None:
            if (new := event.data["new_state"]) is not None and new.state == "on":
                turned_on.append((time.monotonic(), coordinator.pushes))

        unsubscribe = async_track_state_change_event(hass, [connected_id], stamp)

        def connected() -> bool:
            state = hass.states.get(connected_id)
            return state is not None and state.state == "on"

        await until(connected, 60, "connected")
        for outage in outages:
            await until(lambda: coordinator.listener.state.connected, 60, "the stream is open")
            await asyncio.sleep(random.uniform(0, DEFAULT_SCAN_S))
            stopped = time.monotonic()
            await asyncio.to_thread(server.stop)
            await until(lambda: not connected(), 30, "connected turns off")
            await asyncio.sleep(max(0.0, stopped + outage - time.monotonic()))
            turned_on.clear()
            pushes = coordinator.pushes
            down_s = time.monotonic() - stopped
            await asyncio.to_thread(server.start)
            accepted = await asyncio.to_thread(wait_accepting, server.port, 60)
            await until(lambda: bool(turned_on), 120, "connected turns on")
            recovery_s = turned_on[0][0] - accepted
            # A pushed document or a poll turned it on.
            by = "push" if turned_on[0][1] > pushes else "poll"
            rows.append({"outage_s": outage, "down_s": down_s, "recovery_s": recovery_s, "by": by})
            print(
                f"  recovery: {outage} s outage ({down_s:.1f} s down): connected on "
                f"{recovery_s:.3f} s after the server accepted connections ({by})",
                flush=True,
            )
        unsubscribe()
        await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
    return rows


async def measure(
    trials: int, scan: int, outages: list[int], server: Any, instance_id: str, *, detection: bool
) -> dict[str, Any]:
    """Both detection modes, one after the other, then recovery."""
    figures: dict[str, Any] = {}
    if detection:
        figures["push"] = await run_mode("push", trials, scan, server, instance_id)
        figures["poll_only"] = await run_mode("poll-only", trials, scan, server, instance_id)
    figures["recovery"] = await run_recovery(outages, server, instance_id)
    return figures


def detection_section(figures: dict[str, Any], trials: int, scan: int) -> tuple[str, bool]:
    """Return the detection table and whether push met its goal."""
    push, poll = figures["push"], figures["poll_only"]
    ok = bool(push["max_s"] <= GOAL_PUSH_S)

    def row(values: list[float]) -> str:
        return ", ".join(f"{value:.2f}" for value in values)

    return (
        f"""## Detection: SIGKILL of the server to `connected` off

Real server (Node 24) killed with SIGKILL at a random moment of the poll cycle, {trials} trials
per mode; the real integration in a Home Assistant test instance. Poll-only is the same
integration with its push listener not started. Scan interval {scan} s (the options' minimum),
`unreachable` after {DEFAULT_FAILURES} consecutive failures.

| Mode | Goal | connected off: median / max | all trials (s) | `unreachable` raised after | Result |
|---|---|---|---|---|---|
| push | ≤ {GOAL_PUSH_S:g} s | {push["median_s"]:.3f} / {push["max_s"]:.3f} s | {row(push["latencies_s"])} | {push["unreachable_s"]:.1f} s | {verdict(ok)} |
| poll-only, scan {scan} s | bounded by {scan} s | {poll["median_s"]:.2f} / {poll["max_s"]:.2f} s | {row(poll["latencies_s"])} | {poll["unreachable_s"]:.1f} s | info |
| poll-only, default config (scan {DEFAULT_SCAN_S} s), computed | | mean {DEFAULT_SCAN_S / 2:g} s, max {DEFAULT_SCAN_S} s | | max {DEFAULT_FAILURES} x {DEFAULT_SCAN_S} s = {DEFAULT_FAILURES * DEFAULT_SCAN_S} s (the seed's figure) | info |
| push, default config, computed | | as measured above | | first failure at the stream's end, then {DEFAULT_FAILURES - 1} polls: max {(DEFAULT_FAILURES - 1) * DEFAULT_SCAN_S} s | info |

With push, a dead server is noticed when its event stream ends (the kernel closes the socket of a
killed process), independent of the scan interval; poll-only waits for the next poll.
""",
        ok,
    )


def recovery_section(rows: list[dict[str, Any]]) -> tuple[str, bool]:
    """Return the recovery table and whether every outage met the goal."""
    ok = all(row["recovery_s"] <= GOAL_RECOVERY_S for row in rows)
    lines = "\n".join(
        f"| {row['outage_s']} s ({row['down_s']:.1f} s down) | ≤ {GOAL_RECOVERY_S:g} s | "
        f"{row['recovery_s']:.3f} s | {row['by']} | {verdict(row['recovery_s'] <= GOAL_RECOVERY_S)} |"
        for row in rows
    )
    return (
        f"""## Recovery: the server accepting connections again to `connected` on

Default options (scan {DEFAULT_SCAN_S} s, push on). The server is stopped with SIGTERM, as Supervisor
stops the app for an update, at a random moment of the poll cycle; after the outage it starts
again on the same port and data dir. Timed from the first TCP connect the server accepts (a probe
tries every few milliseconds) to the state change of `binary_sensor.hasync_connected`. While the
server is away the event stream retries at most every 3 s (`UNREACHABLE_RETRY_S` in push.py); *by*
says whether the reopened stream's document or a poll turned `connected` on. The checks at the
stream's end restart the poll timer, so with an outage that is a multiple of the scan interval a
poll can land just after the restart; without it the stream's retry still bounds the wait at 3 s.

| Outage | Goal | connected on after | by | Result |
|---|---|---|---|---|
{lines}
""",
        ok,
    )


def main() -> int:
    """Run the bench and write bench/results/detection.{md,json}."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--scan-interval", type=int, default=10)
    parser.add_argument(
        "--outages",
        default=",".join(map(str, OUTAGES_S)),
        help="outage lengths in seconds for the recovery rows (default %(default)s)",
    )
    parser.add_argument("--recovery-only", action="store_true", help="skip the detection modes")
    args = parser.parse_args()
    outages = [int(value) for value in args.outages.split(",") if value.strip()]
    load = load_average()
    logging.basicConfig(level=logging.CRITICAL)

    from devtools.server import fetch_status, fresh_server  # noqa: PLC0415

    scan = args.scan_interval
    with fresh_server() as server:
        instance_id = fetch_status(server.url, server.token or "")["server"]["instance_id"]
        figures = asyncio.run(
            measure(
                args.trials, scan, outages, server, instance_id, detection=not args.recovery_only
            )
        )

    sections, results = [], {}
    if not args.recovery_only:
        text, results["detection_pass"] = detection_section(figures, args.trials, scan)
        sections.append(text)
    text, results["recovery_pass"] = recovery_section(figures["recovery"])
    sections.append(text)
    command = (
        f"`.venv/bin/python bench/detection/run.py --trials {args.trials} --scan-interval {scan}"
        f" --outages {','.join(map(str, outages))}{' --recovery-only' if args.recovery_only else ''}`"
    )
    markdown = "# Detection and recovery: the server gone and back, seen by `connected`\n\n"
    markdown += "\n".join(sections) + f"\nCommand: {command}\n"
    write_result(
        "detection",
        markdown,
        {
            **figures,
            "scan_interval_s": scan,
            "goal_push_s": GOAL_PUSH_S,
            "goal_recovery_s": GOAL_RECOVERY_S,
            **results,
            "pass": all(results.values()),
            "load_average_at_start": load,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
