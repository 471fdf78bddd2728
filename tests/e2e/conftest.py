"""Fixtures for the end-to-end tests: the real HAsync server (Node 20 and 24) as a child process.

Each test gets its own server: a temp data dir, a free port on 127.0.0.1, its own copy of a
frontend build (tests change it), the token the server prints at first start. Teardown stops it
with SIGTERM and expects exit code 0; whatever happens, no server outlives its test.
"""

from collections.abc import Iterator
import json
from pathlib import Path
import shutil

import pytest

from devtools.server import REPO, SERVER_DIR, ServerProcess, node_binary

NODE_MAJORS = (20, 24)
FRONTEND_DIST = REPO / "addon" / "frontend" / "dist"
STARTUP_TIMEOUT = 60.0
"""Seconds for a server to answer /health; generous for a loaded 2-core machine."""


@pytest.fixture(params=NODE_MAJORS, ids=[f"node{major}" for major in NODE_MAJORS])
def node_major(request: pytest.FixtureRequest) -> int:
    """Run the test once on each supported Node major."""
    major: int = request.param
    assert node_binary(major).exists(), f"Node {major} is missing: run scripts/setup"
    return major


@pytest.fixture(scope="session")
def frontend_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a frontend build the server accepts: addon/frontend/dist, or a minimal one.

    The server needs index.html and hasync-build.json with a build_id (src/checks.js), so the
    minimal one is a real frontend dir from its point of view.
    """
    if (FRONTEND_DIST / "index.html").is_file() and (FRONTEND_DIST / "hasync-build.json").is_file():
        return FRONTEND_DIST
    dist = tmp_path_factory.mktemp("frontend-dist")
    (dist / "index.html").write_text("<!doctype html><title>HAsync</title><p>e2e build</p>\n")
    (dist / "hasync-build.json").write_text(
        json.dumps({"build_id": "e2e00000", "built_at": "2026-01-01T00:00:00.000Z"})
    )
    return dist


@pytest.fixture
def frontend_dir(tmp_path: Path, frontend_build: Path) -> Path:
    """Copy the frontend build for this test; the server serves it through HASYNC_FRONTEND_DIR."""
    return Path(shutil.copytree(frontend_build, tmp_path / "frontend"))


@pytest.fixture(scope="session")
def server_without_bcrypt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Copy addon/server and delete bcrypt's compiled binary: a real load failure.

    bcrypt 6 loads through node-gyp-build, which looks in build/ and prebuilds/; both go.
    """
    copy = tmp_path_factory.mktemp("server-copy") / "server"
    shutil.copytree(SERVER_DIR, copy, symlinks=True)
    bcrypt = copy / "node_modules" / "bcrypt"
    removed = [path for path in bcrypt.glob("prebuilds/**/*.node") if path.is_file()]
    assert removed, f"no bcrypt prebuilds found under {bcrypt}"
    for path in removed:
        path.unlink()
    shutil.rmtree(bcrypt / "build", ignore_errors=True)
    assert not list(bcrypt.rglob("*.node")), "a bcrypt binary is left"
    assert list((copy / "node_modules" / "better-sqlite3").rglob("*.node")), "sqlite binary lost"
    return copy


def start_server(
    data_dir: Path,
    node_major: int,
    frontend_dir: Path,
    *,
    server_dir: Path = SERVER_DIR,
    env: dict[str, str] | None = None,
) -> ServerProcess:
    """Start a server and wait for /health and its token; kill it if it does not come up."""
    server = ServerProcess(
        data_dir,
        node=node_binary(node_major),
        server_dir=server_dir,
        env={"HASYNC_FRONTEND_DIR": str(frontend_dir), "HASYNC_LOG_LEVEL": "debug", **(env or {})},
    )
    server.start()
    try:
        server.wait_healthy(STARTUP_TIMEOUT)
    except BaseException:
        server.kill()
        raise
    return server


def stop_server(server: ServerProcess) -> None:
    """SIGTERM a running server and expect a clean exit; kill it on any failure."""
    try:
        if server.running:
            code = server.stop()
            assert code == 0, f"server exited with {code} on SIGTERM:\n{server.output}"
    finally:
        server.kill()  # a no-op unless the SIGTERM path failed


@pytest.fixture
def hasync_server(
    socket_enabled: None, node_major: int, tmp_path: Path, frontend_dir: Path
) -> Iterator[ServerProcess]:
    """Run the real server from addon/server on this test's Node."""
    server = start_server(tmp_path / "data", node_major, frontend_dir)
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture
def hasync_server_without_bcrypt(
    socket_enabled: None,
    node_major: int,
    tmp_path: Path,
    frontend_dir: Path,
    server_without_bcrypt: Path,
) -> Iterator[ServerProcess]:
    """Run the real server from the copy whose bcrypt binary is gone."""
    server = start_server(
        tmp_path / "data", node_major, frontend_dir, server_dir=server_without_bcrypt
    )
    try:
        yield server
    finally:
        stop_server(server)
