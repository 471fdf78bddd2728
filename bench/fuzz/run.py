#!/usr/bin/env python3
"""Long schemathesis run against a real HAsync server (issue 9; the bounded one is in tests/server).

    .venv/bin/python bench/fuzz/run.py [--examples 2000] [--seed N] [--node 24] [--max-time S]

Two runs of `st run` (the schemathesis 4 CLI), each on a fresh server and data dir:
- authenticated: the printed token sent as a configured header (`-H`), every check (`-c all`);
  `ignored_auth` probes each secured operation once with a wrong and with no token;
- anonymous: no token; schemathesis generates its own Authorization values, so the address meets
  the documented rate limit (429 after 10 wrong tokens), which every secured operation documents.

The document is the one the server serves (`GET /api/v1/openapi.json`), saved to a file so the run
covers all eight operations (loaded from its URL, schemathesis leaves the document's own operation
out). Event streams are read for one event each. Counts every response by status from the NDJSON
report; expects 0 responses with status 5xx, 0 failures, and a server that still answers and
exits 0 on SIGTERM with no ERROR line in its log. Prints the summary and writes
bench/results/fuzz.md and fuzz.json.
"""

from __future__ import annotations

import argparse
from collections import Counter
import json
from pathlib import Path
import subprocess
import sys
import tempfile
import time
from typing import Any
import urllib.error
import urllib.request

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from devtools.server import SERVER_DIR, ServerProcess, node_binary  # noqa: E402

RESULTS = REPO / "bench" / "results"
FRONTEND_FIXTURE = SERVER_DIR / "test-support" / "frontend"
ST = REPO / ".venv" / "bin" / "st"


def run_mode(
    mode: str, *, examples: int, seed: int, node: int, max_time: int | None, work: Path
) -> dict[str, Any]:
    """Start a fresh server, fuzz it with `st run`, stop it; return the figures."""
    server = ServerProcess(
        work / f"data-{mode}",
        node=node_binary(node),
        env={"HASYNC_FRONTEND_DIR": str(FRONTEND_FIXTURE), "HASYNC_LOG_LEVEL": "debug"},
    )
    server.start()
    try:
        server.wait_healthy(60.0)
        served = f"{server.url}/api/v1/openapi.json"
        with urllib.request.urlopen(served, timeout=10) as response:  # noqa: S310 - 127.0.0.1
            document = response.read()
        spec = work / f"openapi-{mode}.json"
        spec.write_bytes(document)
        config = work / f"schemathesis-{mode}.toml"
        config.write_text("max-stream-events = 1\nrequest-timeout = 10\n")
        reports = work / f"reports-{mode}"
        command = [
            str(ST),
            "--config-file",
            str(config),
            "--no-color",
            "run",
            str(spec),
            "--url",
            server.url,
            "--checks",
            "all",
            "--max-examples",
            str(examples),
            "--seed",
            str(seed),
            "--generation-database",
            "none",
            "--report",
            "json,ndjson",
            "--report-dir",
            str(reports),
        ]
        if max_time:
            command += ["--max-time", str(max_time)]
        if mode == "authenticated":
            if not server.token:
                raise RuntimeError(f"the server printed no token:\n{server.output}")
            command += ["--header", f"Authorization: Bearer {server.token}"]
        started = time.monotonic()
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        seconds = time.monotonic() - started
        alive = server.running
        health = health_status(server.url)
    finally:
        exit_code = server.stop()
    summary = json.loads(next(reports.glob("*.json")).read_text())
    statuses = count_statuses(next(reports.glob("*.ndjson")))
    errors = [line for line in server.lines if " ERROR " in line or "uncaught" in line]
    return {
        "mode": mode,
        "st_exit_code": result.returncode,
        "seconds": round(seconds, 1),
        "operations": summary["operations"],
        "test_cases": summary["test_cases"],
        "failures": len(summary["failures"]),
        "errors": len(summary["errors"]),
        "warnings": {k: v for k, v in summary["warnings"].items() if v},
        "responses": sum(statuses.values()),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "server_5xx": sum(v for k, v in statuses.items() if k >= 500),
        "server_alive_after": alive,
        "health_after": health,
        "server_exit_code": exit_code,
        "server_error_lines": errors,
        "st_output_tail": "\n".join(result.stdout.splitlines()[-40:]),
    }


def health_status(url: str) -> int | None:
    """Return the HTTP status of /health, or None if nothing answers."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except OSError:
        return None


def count_statuses(ndjson: Path) -> Counter[int]:
    """Count every recorded response by status code (each interaction once)."""
    counts: Counter[int] = Counter()
    for line in ndjson.read_text().splitlines():
        event = json.loads(line)
        finished = event.get("ScenarioFinished")
        if not finished:
            continue
        for interaction in finished["recorder"].get("interactions", {}).values():
            response = interaction.get("response")
            if response is not None:
                counts[int(response["status_code"])] += 1
    return counts


def main() -> int:
    """Run both modes, print and write the report; exit 1 unless everything held."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=2000, help="max examples per operation")
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--node", type=int, default=24, choices=(20, 24))
    parser.add_argument("--max-time", type=int, default=None, help="time budget per run (s)")
    args = parser.parse_args()

    runs = []
    with tempfile.TemporaryDirectory(prefix="hasync-fuzz-") as tmp:
        for mode in ("authenticated", "anonymous"):
            print(f"[fuzz] {mode}: st run, {args.examples} examples per operation", flush=True)
            run = run_mode(
                mode,
                examples=args.examples,
                seed=args.seed,
                node=args.node,
                max_time=args.max_time,
                work=Path(tmp),
            )
            print(run["st_output_tail"], flush=True)
            runs.append(run)

    ok = all(
        r["st_exit_code"] == 0
        and r["failures"] == 0
        and r["errors"] == 0
        and r["server_5xx"] == 0
        and r["server_alive_after"]
        and r["health_after"] == 200
        and r["server_exit_code"] == 0
        and not r["server_error_lines"]
        for r in runs
    )
    lines = [
        "# HAsync server fuzzing (schemathesis)",
        "",
        (
            f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} · schemathesis 4 `st run` · "
            f"Node {args.node} · {args.examples} examples per operation · seed {args.seed}"
        ),
        (
            "Expected: 0 responses with 5xx, 0 failures (every check: status codes, content types, "
            "headers, body schemas, event streams per event, auth enforcement, negative/positive "
            "data)."
        ),
        "",
        "| Run | Operations | Test cases | Responses | By status | 5xx | Failures | Time |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        by_status = ", ".join(f"{k}: {v}" for k, v in r["statuses"].items())
        lines.append(
            f"| {r['mode']} | {r['operations']['tested']}/{r['operations']['total']} | "
            f"{r['test_cases']['generated']} | {r['responses']} | {by_status} | {r['server_5xx']} | "
            f"{r['failures']} | {r['seconds']} s |"
        )
    lines += [
        "",
        f"Result: {'PASS' if ok else 'FAIL'}. After each run the server answered /health "
        + ", ".join(str(r["health_after"]) for r in runs)
        + " and exited "
        + ", ".join(str(r["server_exit_code"]) for r in runs)
        + " on SIGTERM.",
    ]
    for r in runs:
        if r["warnings"]:
            lines.append(f"Warnings ({r['mode']}): {json.dumps(r['warnings'])}")
        if r["server_error_lines"]:
            lines.append(f"Server errors ({r['mode']}): {r['server_error_lines'][:5]}")
    lines.append("")
    report = "\n".join(lines)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "fuzz.md").write_text(report)
    (RESULTS / "fuzz.json").write_text(
        json.dumps([{k: v for k, v in r.items() if k != "st_output_tail"} for r in runs], indent=2)
        + "\n"
    )
    print(report)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
