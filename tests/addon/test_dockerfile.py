"""The Dockerfile, parsed with dockerfile-parse, against the real server and the build context."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePosixPath

from .checks import (
    ADDON,
    cmd_of,
    dockerfile_problems,
    dockerignore_patterns,
    dockerignored,
    parse_dockerfile,
    resolve_image_path,
)

DOCKERFILE = (ADDON / "Dockerfile").read_text(encoding="utf-8")


def test_dockerfile_matches_the_server_and_the_conventions(
    server_subcommands: set[str], route_exists: Callable[[str], bool]
) -> None:
    assert "verify-native" in server_subcommands
    assert dockerfile_problems(DOCKERFILE, ADDON, server_subcommands, route_exists) == []


def test_cmd_is_run_sh_started_by_bashio() -> None:
    dockerfile = parse_dockerfile(DOCKERFILE)
    assert cmd_of(dockerfile) == ["/run.sh"]
    source = resolve_image_path(dockerfile, dockerfile.final, PurePosixPath("/run.sh"), ADDON)
    assert source == ADDON / "run.sh"
    assert source.read_text(encoding="utf-8").startswith("#!/usr/bin/with-contenv bashio\n")


def test_image_layout_matches_the_server_defaults() -> None:
    """The server finds its page at ../frontend/dist from its package: the image keeps that layout."""
    dockerfile = parse_dockerfile(DOCKERFILE)
    final = dockerfile.final
    page = resolve_image_path(
        dockerfile, final, PurePosixPath("/opt/hasync/frontend/dist/index.html"), ADDON
    )
    # dist/ is built inside the image (it is .dockerignored), so it maps to no context file...
    assert page is None
    # ...but the COPY that puts it there comes from the build stage's frontend/dist.
    copies = {str(c.dest): c for c in final.copies}
    assert copies["/opt/hasync/frontend/dist"].sources == ["/build/frontend/dist"]
    assert copies["/opt/hasync/server"].sources == ["/build/server"]


def test_dockerignore_keeps_host_builds_and_tests_out() -> None:
    patterns = dockerignore_patterns(ADDON)
    for path in (
        "server/node_modules/better-sqlite3/build/x.node",
        "frontend/node_modules/vite/x.js",
    ):
        assert dockerignored(path, patterns), path
    for path in (
        "frontend/dist/index.html",
        "server/test/x.test.js",
        "server/test-support/harness.js",
        "config.yaml",
    ):
        assert dockerignored(path, patterns), path
    for path in (
        "server/bin/hasync.js",
        "server/package-lock.json",
        "frontend/src/main.ts",
        "run.sh",
    ):
        assert not dockerignored(path, patterns), path
