"""Crash safety of the database: SIGKILL while sampling, and a full disk.

Both run the real server (`node bin/hasync.js`) with one sample a second
(HASYNC_SAMPLE_INTERVAL_S=1) and read its database from this process with Python's sqlite3: another
connection, as rotate-token or a backup would be.
"""

from __future__ import annotations

from collections.abc import Iterator
import errno
import functools
import os
from pathlib import Path
import random
import shutil
import sqlite3
import subprocess
import time

import pytest

from devtools.server import ServerProcess

from .conftest import Started, get_json, read_db, wait_until

KILLS = 20
SEED = 9
FAST = {"HASYNC_SAMPLE_INTERVAL_S": "1"}


def sample_times(db: Path) -> set[int]:
    """Timestamps of every stored sample, as a reader on another connection sees them now."""
    return {int(ts) for (ts,) in read_db(db, "SELECT ts FROM samples")}


def sampled_since(db: Path, since_ms: float) -> bool:
    """Whether a sample newer than since_ms is stored."""
    return max(sample_times(db) or {0}) > since_ms


def integrity(db: Path) -> str:
    """PRAGMA integrity_check, joined into one line."""
    return "; ".join(str(row[0]) for row in read_db(db, "PRAGMA integrity_check"))


def healthy_again(server: ServerProcess) -> dict[str, object]:
    """Wait for /health 200 and return the status document (the token must still work)."""
    wait_until(
        lambda: get_json(server.url, "/health")[0] == 200, what="/health 200 after the restart"
    )
    assert server.token
    status, document = get_json(server.url, "/api/v1/status", token=server.token)
    assert status == 200, document
    return dict(document)


def test_sigkill_20_times_while_sampling(start_server: Started, tmp_path: Path) -> None:
    """Kill -9 at random moments; every sample a reader saw before a kill is still there after it.

    Half the kills land at a uniformly random moment of the process's life (start-up included:
    migrations, the token, the first checks); the other half are aimed at the next sample's commit,
    predicted from the last stored timestamp, with a few milliseconds of jitter either side, so that
    some land inside the write. After every kill, from another connection: integrity_check is ok and
    no previously visible row is missing. After every restart: /health 200, the token still works,
    and the server's own full integrity check (run at start) is ok.
    """
    rng = random.Random(SEED)  # noqa: S311 - timing jitter, not security
    data = tmp_path / "data"
    db = data / "hasync.db"
    started_ms = time.time() * 1000
    server = start_server(data, env=FAST)
    report: list[str] = []
    total_lost = 0
    for cycle in range(1, KILLS + 1):
        if cycle % 2:
            delay = rng.uniform(0.0, 2.0)
            time.sleep(delay)
            how = f"after {delay:.3f} s"
        else:
            # The sampler's phase is this process's: wait for its first sample, aim at the next.
            wait_until(
                functools.partial(sampled_since, db, started_ms), what="this process's first sample"
            )
            latest_ms = max(sample_times(db))
            jitter_ms = rng.uniform(-3.0, 6.0)
            target = (latest_ms + 1000 + jitter_ms) / 1000
            while target < time.time():
                target += 1.0
            time.sleep(target - time.time())
            how = f"at the next sample {jitter_ms:+.1f} ms"
        before = sample_times(db) if db.exists() else set()
        server.kill()
        after = sample_times(db) if db.exists() else set()
        lost = before - after
        total_lost += len(lost)
        check = integrity(db) if db.exists() else "no database yet"
        report.append(
            f"kill {cycle:2d} {how:<28} rows before {len(before):3d} after {len(after):3d} "
            f"lost {len(lost)} integrity {check}"
        )
        assert not lost, f"kill {cycle}: committed samples lost: {sorted(lost)}\n" + "\n".join(
            report
        )
        assert check in {"ok", "no database yet"}, "\n".join(report)

        started_ms = time.time() * 1000
        server.start()
        server.wait_healthy(60.0)
        document = healthy_again(server)
        database = document["database"]
        assert isinstance(database, dict)
        assert database["ok"] is True, database
        assert database["integrity"] == "ok", database
    print("\n" + "\n".join(report))  # noqa: T201 - the run's report, shown with -s
    print(f"{KILLS} kills, rows lost {total_lost}, integrity ok every time")  # noqa: T201
    assert total_lost == 0
    final = sample_times(db)
    assert len(final) >= KILLS // 2, "the server kept sampling between the kills"
    assert server.stop() == 0


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """Mount a 2 MiB tmpfs under this test's temp dir; unmount it at the end."""
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", str(mount)],
        check=True,
        capture_output=True,
    )
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False, capture_output=True)


def fill(mount: Path) -> Path:
    """Write a file until the file system is full (ENOSPC); return it."""
    filler = mount / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as err:
                if err.errno != errno.ENOSPC:
                    raise
    finally:
        os.close(fd)
    assert shutil.disk_usage(mount).free == 0
    return filler


def database_check(server: ServerProcess) -> dict[str, object]:
    """Return the `database` entry of the checks list."""
    assert server.token
    status, document = get_json(server.url, "/api/v1/status", token=server.token)
    assert status == 200, document
    return next(c for c in document["checks"] if c["name"] == "database")


LOST_SAMPLE = "sample not stored: database or disk is full"


def test_full_disk(start_server: Started, tiny_disk: Path) -> None:
    """A full data disk: reported, /health 503 naming `database`, no crash, recovery when space returns.

    Why a real tmpfs: a full /data is a file system returning ENOSPC to SQLite's WAL appends, and a
    tiny tmpfs does exactly that (SQLITE_FULL, "database or disk is full") through the same I/O
    paths (WAL, -shm, checkpoint, the data-dir probe). `PRAGMA max_page_count` stops SQLite
    before any write reaches the disk (the node suite covers that case in-process), and
    RLIMIT_FSIZE limits one process's file size, not the disk. Tests run as root here and in CI,
    where mounting a tmpfs works; the mount is lazily unmounted at the end.

    Also: a restart while the disk is still full starts (a full disk is not a configuration
    error), answers /health 503 naming `database` and keeps the committed samples.
    """
    data = tiny_disk / "data"
    server = start_server(data, env=FAST)
    db = data / "hasync.db"
    wait_until(lambda: len(sample_times(db)) >= 2, what="samples on the small disk")
    # A server that has run for a while has pages in its WAL that the main file does not have yet
    # (new samples take new pages), so its final checkpoint must grow the file. A new database is
    # built complete before first use: give this one a few hours of older samples from the side.
    writer = sqlite3.connect(db, timeout=10)
    try:
        with writer:
            writer.executemany(
                "INSERT INTO samples (ts, rss_bytes, status) VALUES (?, 1, 'ok')",
                [(int(time.time() * 1000) - 3_600_000 - i * 10_000,) for i in range(2000)],
            )
    finally:
        writer.close()

    filler = fill(tiny_disk)
    wait_until(
        lambda: (
            get_json(server.url, "/health") == (503, {"status": "error", "failing": ["database"]})
        ),
        what="/health 503 naming database",
    )
    check = database_check(server)
    assert check == {
        "name": "database",
        "ok": False,
        "critical": True,
        "message": "write failed: database or disk is full",
    }
    _, document = get_json(server.url, "/api/v1/status", token=server.token)
    assert document["status"] == "error"
    assert document["database"]["error"] == "write failed: database or disk is full"
    # Each lost sample is an error record, counted in memory while nothing can be stored.
    wait_until(
        lambda: (
            get_json(server.url, "/api/v1/status", token=server.token)[1]["errors"]["last_message"]
            == LOST_SAMPLE
        ),
        what="the lost samples counted",
    )
    for _ in range(20):  # keeps serving, never crashes, under repeated failing writes
        assert get_json(server.url, "/health")[0] == 503
        time.sleep(0.1)
    assert server.running
    kept = sample_times(db)

    # SIGTERM while full: the checkpoint fails, the data stays in the WAL; exit 0.
    assert server.stop() == 0, server.output
    assert any("checkpoint before closing failed" in line for line in server.lines)
    # Restart on the full disk: up, reporting the problem, nothing lost.
    server.start()
    server.wait_healthy(60.0)
    assert any("has no space left (ENOSPC); starting anyway" in line for line in server.lines)
    wait_until(
        lambda: (
            get_json(server.url, "/health") == (503, {"status": "error", "failing": ["database"]})
        ),
        what="/health 503 naming database after a restart on the full disk",
    )
    assert kept <= sample_times(db)

    filler.unlink()
    wait_until(
        lambda: get_json(server.url, "/health") == (200, {"status": "ok"}),
        what="recovery once space is freed",
    )
    assert database_check(server)["ok"] is True
    count = len(sample_times(db))
    wait_until(lambda: len(sample_times(db)) > count, what="samples stored again")
    assert integrity(db) == "ok"
    assert server.stop() == 0
    errors = [
        line
        for line in server.lines
        if (" ERROR " in line and not line.endswith(f" ERROR {LOST_SAMPLE}")) or "uncaught" in line
    ]
    assert not errors, "\n".join(errors)
