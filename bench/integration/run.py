#!/usr/bin/env python3
"""CPU time per status update in Home Assistant, over pushed documents (goal: <= 2 ms each).

A Home Assistant test instance (phcc's, in this process) runs the real integration, set up with
a config entry against the real server (Node 24). Every entity is enabled, the repair rules run.
Then, after 100 documents not measured (one-time costs), N status documents (default 1,000) go through the integration's own push path: each is an
SSE frame fed to the client's SSEDecoder and handed to the real listener, which parses it and
gives it to the real coordinator, which updates every entity and evaluates the repair rules.
Each document differs from the last (memory, CPU, loop delay, uptime; every 10th flips the
frontend check), so every update writes states: the worst case.

`time.process_time()` around applying the pushes gives the CPU time per update. A second run
sends the same documents over a real socket from a stand-in server in this process (the socket
reads count too, and so do the server's writes, so that figure is an upper bound).

    .venv/bin/python bench/integration/run.py [--updates 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import logging
from pathlib import Path
import statistics
import sys
import time
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.lib.report import load_average, percentile, verdict, write_result

GOAL_MS = 2.0
WARMUP = 100


def documents(base: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """Return ``count`` variations of a real status document, each different from the last."""
    result = []
    for index in range(count):
        doc = copy.deepcopy(base)
        doc["server"]["uptime_s"] = base["server"]["uptime_s"] + index
        doc["process"]["rss_bytes"] = 50_000_000 + index * 4096
        doc["process"]["heap_used_bytes"] = 9_000_000 + index * 1024
        doc["process"]["event_loop_delay_p99_ms"] = 1 + (index % 50) / 10
        doc["process"]["cpu_percent"] = (index * 7) % 100
        doc["container"]["memory_used_bytes"] = 60_000_000 + index * 8192
        doc["container"]["cpu_percent"] = (index * 3) % 100
        frontend_ok = index % 20 < 10
        for check in doc["checks"]:
            if check["name"] == "frontend":
                check["ok"] = frontend_ok
                check["message"] = "build x" if frontend_ok else "not built: missing"
        doc["status"] = "ok" if frontend_ok else "degraded"
        doc["frontend"]["present"] = frontend_ok
        result.append(doc)
    return result


def frame(document: dict[str, Any], event_id: int) -> bytes:
    """Encode one document as the server frames it on /api/v1/events."""
    return f"id: {event_id}\nevent: status\ndata: {json.dumps(document)}\n\n".encode()


async def measure(updates: int, base: dict[str, Any], url: str, token: str) -> dict[str, Any]:
    """Set the integration up in a test HA and push the documents; return the figures."""
    from bench.lib.hass_instance import add_entry, test_hass, until  # noqa: PLC0415
    from custom_components.hasync.client.sse import SSEDecoder  # noqa: PLC0415
    from tests.hasync_server import FakeHAsyncServer  # noqa: PLC0415

    # A warm-up of WARMUP documents first, applied but not measured: the first repair issue,
    # the first state of each entity and Python's own caches are a one-time cost.
    all_docs = documents(base, WARMUP + updates)
    warmup_frames = [frame(doc, index + 1) for index, doc in enumerate(all_docs[:WARMUP])]
    docs = all_docs[WARMUP:]
    frames = [frame(doc, WARMUP + index + 1) for index, doc in enumerate(docs)]
    instance_id = base["server"]["instance_id"]
    figures: dict[str, Any] = {"updates": updates}
    async with test_hass() as hass:
        entry = await add_entry(hass, url, token, instance_id)
        coordinator = entry.runtime_data.coordinator
        # The real stream's first document, so it does not land in the measurement.
        await until(lambda: coordinator.pushes >= 1, 30, "the stream's first document")
        entities = len(hass.states.async_entity_ids())
        listener = coordinator.listener
        decoder = SSEDecoder()
        changes = 0

        def count(_event: Any) -> None:
            nonlocal changes
            changes += 1

        for data in warmup_frames:
            for event in decoder.feed(data):
                listener._handle(event)  # noqa: SLF001 - the listener's own dispatch
        await hass.async_block_till_done()
        unsub = hass.bus.async_listen("state_changed", count)
        pushes = coordinator.pushes
        wall: list[float] = []
        cpu_start = time.process_time()
        wall_start = time.perf_counter()
        for data in frames:
            started = time.perf_counter()
            for event in decoder.feed(data):
                listener._handle(event)  # noqa: SLF001 - the listener's own dispatch
            wall.append((time.perf_counter() - started) * 1000)
        await hass.async_block_till_done()
        cpu = time.process_time() - cpu_start
        wall_total = time.perf_counter() - wall_start
        unsub()
        applied = coordinator.pushes - pushes
        if applied < updates:
            raise RuntimeError(f"only {applied} of {updates} documents were applied")
        figures |= {
            "entities": entities,
            "state_changes": changes,
            "cpu_ms_per_update": cpu / updates * 1000,
            "wall_ms_per_update": wall_total / updates * 1000,
            "wall_p50_ms": statistics.median(wall),
            "wall_p99_ms": percentile(wall, 99),
            "wall_max_ms": max(wall),
            "history_samples": len(coordinator.samples),
        }
        await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()

    # Upper bound: the same documents over a real socket from a stand-in server in-process.
    fake = FakeHAsyncServer(token, base)
    await fake.start()
    try:
        async with test_hass() as hass:
            entry = await add_entry(hass, fake.url, token, instance_id)
            coordinator = entry.runtime_data.coordinator
            await until(lambda: coordinator.pushes >= 1, 30, "the stream's first document")
            for doc in all_docs[:WARMUP]:
                fake.push(doc)
            await until(lambda: coordinator.pushes > WARMUP, 60, "the warm-up pushes")
            await hass.async_block_till_done()
            pushes = coordinator.pushes
            cpu_start = time.process_time()
            for doc in docs:
                fake.push(doc)
                await asyncio.sleep(0)
            await until(lambda: coordinator.pushes - pushes >= updates, 120, "every push")
            await hass.async_block_till_done()
            figures["socket_cpu_ms_per_update"] = (time.process_time() - cpu_start) / updates * 1000
            await hass.config_entries.async_unload(entry.entry_id)
            await hass.async_block_till_done()
    finally:
        await fake.stop()
    return figures


def main() -> int:
    """Run the bench and write bench/results/integration.{md,json}."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=1000)
    args = parser.parse_args()
    load = load_average()
    logging.basicConfig(level=logging.CRITICAL)

    from devtools.server import fetch_status, fresh_server  # noqa: PLC0415

    with fresh_server() as server:
        token = server.token or ""
        base = fetch_status(server.url, token)
        figures = asyncio.run(measure(args.updates, base, server.url, token))

    ok = figures["cpu_ms_per_update"] <= GOAL_MS
    markdown = f"""# Integration: CPU time per status update in Home Assistant

{figures["updates"]:,} pushed documents (after {WARMUP} not measured) through the real SSE decoder, listener, coordinator,
{figures["entities"]} entities (all enabled) and repair rules, in a Home Assistant test instance
(entry set up against the real server on Node 24). Every document differs from the previous one;
{figures["state_changes"]:,} state changes were written.

| Metric | Goal | Measured | Result |
|---|---|---|---|
| CPU time per update (`time.process_time()`) | ≤ {GOAL_MS:g} ms | {figures["cpu_ms_per_update"]:.3f} ms | {verdict(ok)} |
| Wall time per update: mean / p50 / p99 / max | | {figures["wall_ms_per_update"]:.3f} / {figures["wall_p50_ms"]:.3f} / {figures["wall_p99_ms"]:.3f} / {figures["wall_max_ms"]:.3f} ms | info |
| CPU per update over a real socket (stand-in server in-process, upper bound) | | {figures["socket_cpu_ms_per_update"]:.3f} ms | info |

Command: `.venv/bin/python bench/integration/run.py --updates {figures["updates"]}`
"""  # noqa: S608 - Markdown, not SQL
    write_result(
        "integration",
        markdown,
        figures | {"goal_ms": GOAL_MS, "pass": ok, "load_average_at_start": load},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
