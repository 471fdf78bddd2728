"""The backup_pre checkpoint (addon/checkpoint.mjs), with the server's own better-sqlite3."""

from __future__ import annotations

from pathlib import Path
import subprocess

from .checks import ADDON, NODE24, SERVER
from .conftest import Server

CHECKPOINT = ADDON / "checkpoint.mjs"

# Writes rows into a WAL-mode database and keeps the connection open, as the running server does.
WRITER = """
const Database = require('better-sqlite3');
const db = new Database(process.argv[1]);
db.pragma('journal_mode = WAL');
db.pragma('wal_autocheckpoint = 0');
db.exec('CREATE TABLE samples (n INTEGER)');
const insert = db.prepare('INSERT INTO samples VALUES (?)');
for (let n = 0; n < 2000; n += 1) insert.run(n);
console.log('written');
setInterval(() => {}, 1000);
"""


def run_checkpoint(data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "HASYNC_SERVER_DIR": str(SERVER),
        "HASYNC_DATA_DIR": str(data_dir),
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(
        [str(NODE24), str(CHECKPOINT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_checkpoint_folds_the_wal_while_a_writer_holds_the_database(tmp_path: Path) -> None:
    db = tmp_path / "hasync.db"
    writer = subprocess.Popen(
        [str(NODE24), "-e", WRITER, str(db)], cwd=SERVER, stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "written"
        wal = tmp_path / "hasync.db-wal"
        assert wal.stat().st_size > 0
        result = run_checkpoint(tmp_path)
        assert result.returncode == 0, result.stderr
        assert "checkpoint: ok, WAL folded into" in result.stdout
        assert wal.stat().st_size == 0
    finally:
        writer.kill()
        writer.wait()
    count = subprocess.run(
        [
            str(NODE24),
            "-e",
            "console.log(new (require('better-sqlite3'))(process.argv[1]).prepare('SELECT count(*) AS c FROM samples').get().c)",
            str(db),
        ],
        cwd=SERVER,
        capture_output=True,
        text=True,
        check=True,
    )
    assert count.stdout.strip() == "2000"


def test_checkpoint_without_a_database_is_a_no_op(tmp_path: Path) -> None:
    result = run_checkpoint(tmp_path)
    assert result.returncode == 0
    assert "does not exist yet, nothing to do" in result.stdout


def test_checkpoint_against_the_running_server(server: Server) -> None:
    """What backup_pre does in production: the server is up and holds its database open."""
    result = run_checkpoint(server.data_dir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(("checkpoint: ok", "checkpoint: busy")), result.stdout


def test_checkpoint_fails_loudly_on_a_corrupt_database(tmp_path: Path) -> None:
    (tmp_path / "hasync.db").write_bytes(b"this is not a database" * 100)
    result = run_checkpoint(tmp_path)
    assert result.returncode != 0
    assert "not a database" in result.stderr
