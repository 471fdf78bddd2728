"""Shared by the Python benches: machine info, result files and small statistics.

Each bench writes `bench/results/<name>.md` (a section of the report) and `<name>.json` (its
figures); `assemble()` joins the sections under the machine info into `bench/results/latest.md`.
"""

from __future__ import annotations

from datetime import UTC, datetime
import json
import os
from pathlib import Path
import platform
import statistics
import subprocess
import sys
from typing import Any

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results"
NODE_BIN = REPO / ".toolchain" / "bin"
SECTIONS = ("server", "load", "poll", "abuse", "fuzz", "integration", "detection", "soak")
"""The order of the sections in latest.md (server, load, poll and abuse are written by the Node benches)."""

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def _first_line(path: str, key: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as file:
            for line in file:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def _version(command: list[str]) -> str:
    try:
        return subprocess.run(
            command, capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
    except OSError, subprocess.SubprocessError:
        return "not found"


def machine_info() -> dict[str, str]:
    """Describe the machine and the runtimes the figures were measured with."""
    from homeassistant.const import __version__ as ha_version  # noqa: PLC0415

    mem_kib = _first_line("/proc/meminfo", "MemTotal")
    ram = f"{int(mem_kib.split()[0]) / 1024 / 1024:.1f} GiB" if mem_kib else "unknown"
    return {
        "CPU": _first_line("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "Cores": str(os.cpu_count()),
        "RAM": ram,
        "Kernel": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "Node": ", ".join(
            _version([str(NODE_BIN / f"node{major}"), "--version"]) for major in (20, 24)
        ),
        "Python": platform.python_version(),
        "Home Assistant": ha_version,
    }


def load_average() -> str:
    """Return the 1/5/15-minute load average now, for a bench to record at its start."""
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def write_result(name: str, markdown: str, figures: dict[str, Any]) -> Path:
    """Write `<name>.md` and `<name>.json` into bench/results and print the section."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    figures = {"name": name, "measured_at": stamp, **figures}
    (RESULTS / f"{name}.json").write_text(json.dumps(figures, indent=2, default=str) + "\n")
    path = RESULTS / f"{name}.md"
    load = figures.get("load_average_at_start")
    note = f"_Measured {stamp}" + (f"; load average at the start {load}" if load else "") + "._"
    path.write_text(f"{markdown.rstrip()}\n\n{note}\n")
    print(markdown)
    return path


def assemble() -> Path:
    """Join the sections that exist into latest.md, under the machine info."""
    info = machine_info()
    lines = [
        "# HAsync benchmarks: latest results",
        "",
        f"Assembled {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} by `bench/run-all`.",
        "",
        "| Machine | |",
        "|---|---|",
        *(f"| {key} | {value} |" for key, value in info.items()),
        "",
    ]
    missing = []
    for name in SECTIONS:
        path = RESULTS / f"{name}.md"
        if not path.exists():
            missing.append(name)
            continue
        text = path.read_text().strip()
        # Each section's own title becomes a second-level heading.
        if text.startswith("# "):
            text = "#" + text
        lines += [text, ""]
    if missing:
        lines += [f"_Not run: {', '.join(missing)}._", ""]
    latest = RESULTS / "latest.md"
    latest.write_text("\n".join(lines))
    return latest


def percentile(values: list[float], pct: float) -> float:
    """Return the nearest-rank percentile of the values (pct in 0..100)."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def linear_slope(xs: list[float], ys: list[float]) -> float:
    """Return the least-squares slope of ys over xs."""
    return statistics.linear_regression(xs, ys).slope


def verdict(ok: bool) -> str:
    """PASS or FAIL, for the result tables."""
    return "PASS" if ok else "FAIL"


if __name__ == "__main__":
    print(assemble().read_text())
