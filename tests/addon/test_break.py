"""Deliberate breaks: each rule, fed a broken copy through the same checker, must report it."""

from __future__ import annotations

from collections.abc import Callable
import copy
from pathlib import Path
import re
import shutil
from typing import Any

import pytest

from tests.common import load_script_module

from .checks import (
    ADDON,
    actionlint,
    apparmor,
    config_problems,
    copy_repository,
    dockerfile_problems,
    hadolint,
    option_problems,
    shellcheck,
    stray_config_files,
    yamllint,
)

release = load_script_module("release")

DOCKERFILE = (ADDON / "Dockerfile").read_text(encoding="utf-8")


def with_changes(config: dict[str, Any], **changes: Any) -> dict[str, Any]:
    broken = copy.deepcopy(config)
    broken.update(changes)
    return broken


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("init", True),
        ("startup", "application"),
        ("boot", "auto"),
        ("ingress_port", 8099),
        ("backup", "hot"),
    ],
)
def test_default_valued_key_fails(config: dict[str, Any], key: str, value: Any) -> None:
    problems = config_problems(with_changes(config, **{key: value}))
    assert any(p.startswith(f"{key}: remove it") for p in problems), problems


@pytest.mark.parametrize("arch", [["armv7"], ["aarch64", "amd64", "i386"], ["armhf"], ["x86_64"]])
def test_bad_arch_fails(config: dict[str, Any], arch: list[str]) -> None:
    problems = config_problems(with_changes(config, arch=arch))
    assert any(p.startswith("arch.") for p in problems), problems


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"watchdog": "http://[HOST]:[PORT:8099]/health"}, "watchdog: obsolete"),
        ({"webui": "http://[HOST]:[PORT:8099]/"}, "webui: remove it"),
        ({"backup": "cold"}, "backup_pre: not valid with cold backups"),
        ({"ports": {"8099": None}}, "ports:"),
        ({"ports": {"8099/tcp": 70000}}, "ports.8099/tcp:"),
        ({"discovery": "hasync"}, "discovery:"),
        ({"discovery": ["HAsync"]}, "discovery.0:"),
        ({"ingres": True}, "<root>: Additional properties"),
        ({"version": 1.0}, "version:"),
        ({"image": "ghcr.io/hasync/{arch}-hasync:1.0"}, "image:"),  # Supervisor: no tag
        ({"image": "GHCR.io/hasync/{arch}-hasync"}, "image:"),  # Supervisor: lowercase registry
        ({"schema": {"history_days": "int(1,365"}}, "schema: {'history_days'"),
    ],
)
def test_other_config_rules_fail(
    config: dict[str, Any], changes: dict[str, Any], expected: str
) -> None:
    problems = config_problems(with_changes(config, **changes))
    assert any(p.startswith(expected) for p in problems), problems


def test_missing_required_key_fails(config: dict[str, Any]) -> None:
    broken = copy.deepcopy(config)
    del broken["slug"]
    assert "<root>: 'slug' is a required property" in config_problems(broken)


def test_missing_translation_fails(config: dict[str, Any], translations: dict[str, Any]) -> None:
    broken = copy.deepcopy(translations)
    del broken["configuration"]["token"]
    assert "schema entry 'token' has no translation 'name'" in option_problems(config, broken)


def test_option_without_schema_entry_fails(
    config: dict[str, Any], translations: dict[str, Any]
) -> None:
    broken = with_changes(config, options={**config["options"], "retention": 7})
    assert "option 'retention' has no schema entry" in option_problems(broken, translations)


@pytest.mark.parametrize(
    ("path", "old", "new"),
    [
        ("custom_components/hasync/manifest.json", '"version": "', '"version": "9'),
        ("addon/server/package.json", '"version": "', '"version": "9'),
        (
            "addon/server/package-lock.json",
            '"hasync-server",\n      "version": "',
            '"hasync-server",\n      "version": "9',
        ),
        ("addon/frontend/package.json", '"version": "', '"version": "9'),
        ("pyproject.toml", 'version = "', 'version = "9'),
        ("addon/CHANGELOG.md", "## [", "## [9.9.9] - 2099-01-01\n\n- later\n\n## ["),
    ],
)
def test_version_mismatch_fails(tmp_path: Path, path: str, old: str, new: str) -> None:
    root = copy_repository(tmp_path)
    text = (root / path).read_text(encoding="utf-8")
    assert old in text
    (root / path).write_text(text.replace(old, new, 1))
    problems = release.version_problems(root)
    assert len(problems) == 1, problems
    assert problems[0].startswith(path), problems


def test_stray_config_file_fails(tmp_path: Path) -> None:
    (tmp_path / "addon").mkdir()
    (tmp_path / "addon" / "config.yaml").write_text("name: x\n")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "config.yaml").write_text("x: 1\n")
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "config.json").write_text("{}")  # dependencies do not count
    assert stray_config_files(tmp_path, tmp_path / "addon") == [tmp_path / "docs" / "config.yaml"]


def broken_dockerfile(old: str, new: str) -> str:
    assert old in DOCKERFILE, old
    return DOCKERFILE.replace(old, new)


def test_nonexistent_healthcheck_path_fails(
    server_subcommands: set[str], route_exists: Callable[[str], bool]
) -> None:
    text = broken_dockerfile("http://127.0.0.1:8099/health", "http://127.0.0.1:8099/healthz")
    problems = dockerfile_problems(text, ADDON, server_subcommands, route_exists)
    assert "HEALTHCHECK path /healthz is not a route of the server" in problems


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "node /opt/hasync/server/bin/hasync.js verify-native",
            "node /opt/hasync/server/bin/hasync-server.js verify-native",
            "verify-native runs /opt/hasync/server/bin/hasync-server.js, which no COPY puts into the image",
        ),
        (
            "node /opt/hasync/server/bin/hasync.js verify-native",
            "node /opt/hasync/server/bin/hasync.js verify-natives",
            "the final stage never runs the server's verify-native",
        ),
        (
            "RUN apk add --no-cache nodejs=~${NODE_MAJOR}",
            "RUN apk add --no-cache nodejs",
            "stage 1: apk package nodejs has no release-line constraint",
        ),
        (
            "RUN apk add --no-cache nodejs=~${NODE_MAJOR}",
            "RUN apk add --no-cache nodejs=24.18.1-r0",
            "stage 1: apk package nodejs=24.18.1-r0 is not a release-line constraint",
        ),
        (
            "        nodejs=~${NODE_MAJOR} \\\n        npm",
            "        'nodejs>=24' \\\n        npm",
            "stage build: apk package nodejs>=24 is not a release-line constraint",
        ),
        (
            "ARG NODE_MAJOR=24\n",
            "ARG NODE_MAJOR=24.18.1-r0\n",
            "stage build: apk package nodejs-dev=~24.18.1-r0 is not a release-line constraint",
        ),
        (
            "ARG BUILD_FROM=ghcr.io/home-assistant/base:3.24",
            "ARG BUILD_FROM=ghcr.io/home-assistant/base:3.15",
            "ARG BUILD_FROM",
        ),
        (
            "nodejs-dev=~${NODE_MAJOR}",
            "nodejs-dev=~23",
            "nodejs-dev is constrained to ['23'], nodejs to ['24']",
        ),
        ("--start-interval=2s ", "", "HEALTHCHECK has no --start-interval"),
        ('io.hass.arch="${BUILD_ARCH}" \\\n', "", "LABEL io.hass.arch is missing"),
        ("--omit=dev", "", "server dependencies are not installed with npm ci --omit=dev"),
        (
            "--virtual .build-deps",
            "",
            "build dependencies are not in an apk --virtual .build-deps group",
        ),
    ],
)
def test_dockerfile_rules_fail(
    server_subcommands: set[str],
    route_exists: Callable[[str], bool],
    old: str,
    new: str,
    expected: str,
) -> None:
    problems = dockerfile_problems(
        broken_dockerfile(old, new), ADDON, server_subcommands, route_exists
    )
    assert any(p.startswith(expected) for p in problems), problems


def test_unknown_subcommand_fails(route_exists: Callable[[str], bool]) -> None:
    problems = dockerfile_problems(DOCKERFILE, ADDON, {"serve", "rotate-token"}, route_exists)
    assert any("has no subcommand 'verify-native'" in p for p in problems), problems


def test_dockerignored_entry_point_fails(
    tmp_path: Path, server_subcommands: set[str], route_exists: Callable[[str], bool]
) -> None:
    context = tmp_path / "addon"
    shutil.copytree(ADDON, context, ignore=shutil.ignore_patterns("server", "frontend"))
    (context / "server").symlink_to(ADDON / "server")
    (context / "frontend").symlink_to(ADDON / "frontend")
    with (context / ".dockerignore").open("a") as ignore:
        ignore.write("server/bin\n")
    problems = dockerfile_problems(DOCKERFILE, context, server_subcommands, route_exists)
    assert any("which no COPY puts into the image" in p for p in problems), problems


def test_hadolint_catches_an_unpinned_package(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        broken_dockerfile("apk add --no-cache nodejs=~${NODE_MAJOR}", "apk add --no-cache nodejs")
    )
    assert any("DL3018" in line for line in hadolint(dockerfile))


def test_shellcheck_catches_an_unquoted_variable(tmp_path: Path) -> None:
    script = tmp_path / "run.sh"
    script.write_text(
        (ADDON / "run.sh").read_text().replace('exec node "$ENTRY" serve', "exec node $ENTRY serve")
    )
    assert any("SC2086" in line for line in shellcheck([script]))


def test_yamllint_catches_a_duplicate_key(tmp_path: Path) -> None:
    broken = tmp_path / "config.yaml"
    broken.write_text((ADDON / "config.yaml").read_text() + "ingress: true\n")
    assert any("duplication of key" in line for line in yamllint([broken]))


def test_actionlint_catches_an_undefined_job_output(tmp_path: Path) -> None:
    workflow = tmp_path / "build.yaml"
    text = (ADDON.parent / ".github" / "workflows" / "build.yaml").read_text()
    workflow.write_text(
        text.replace(
            "version: ${{ needs.init.outputs.version }}",
            "version: ${{ needs.init.outputs.versoin }}",
        )
    )
    assert any('property "versoin" is not defined' in p for p in actionlint([workflow]))


def test_apparmor_catches_two_top_level_profiles_and_syntax_errors(tmp_path: Path) -> None:
    text = (ADDON / "apparmor.txt").read_text()
    two = tmp_path / "two.txt"
    two.write_text(text + "\nprofile other flags=(attach_disconnected) {\n  file,\n}\n")
    assert any("exactly one top-level profile" in p for p in apparmor(two))
    bad = tmp_path / "bad.txt"
    bad.write_text(re.sub(r"/opt/hasync/\*\* r,", "/opt/hasync/** rq,", text))
    assert any("syntax error" in p for p in apparmor(bad))
