"""config.yaml, translations, versions and store metadata."""

from __future__ import annotations

import json
from pathlib import PurePosixPath
import re
import shlex
from typing import Any

import yaml

from tests.common import load_script_module

from .checks import (
    ADDON,
    ROOT,
    config_problems,
    option_problems,
    parse_dockerfile,
    resolve_image_path,
    stray_config_files,
)

release = load_script_module("release")


def test_config_follows_supervisor_schema_and_linter_rules(config: dict[str, Any]) -> None:
    assert config_problems(config) == []


def test_config_has_the_agreed_keys(config: dict[str, Any]) -> None:
    assert config["slug"] == "hasync"
    assert config["arch"] == ["aarch64", "amd64"]
    assert config["init"] is False
    assert config["ingress"] is True
    assert config["discovery"] == ["hasync"]
    assert config["ports"] == {"8099/tcp": None}
    assert "8099/tcp" in config["ports_description"]
    assert config["homeassistant"] == home_assistant_minimum()
    # Supervisor pulls the published per-arch image instead of building on the device.
    assert config["image"].endswith("/{arch}-hasync")


def home_assistant_minimum() -> str:
    """Return the Home Assistant version the integration needs: hacs.json, the one source."""
    minimum: str = json.loads((ROOT / "hacs.json").read_text())["homeassistant"]
    return minimum


def test_one_home_assistant_minimum(config: dict[str, Any]) -> None:
    """The app needs what the integration needs; each document states it once, as hacs.json does."""
    minimum = home_assistant_minimum()
    assert re.fullmatch(r"\d{4}\.\d{1,2}\.\d+", minimum)
    assert config["homeassistant"] == minimum
    for doc in (ADDON / "DOCS.md", ROOT / "docs" / "integration.md"):
        stated = re.findall(r"Home Assistant\s+(\d{4}\.\d{1,2}\.\d+)\s+or newer", doc.read_text())
        assert stated == [minimum], f"{doc.relative_to(ROOT)} states {stated}"
    # Nothing else names another minimum.
    for doc in (ROOT / "README.md", ROOT / "CONTRIBUTING.md", ADDON / "README.md"):
        stated = re.findall(r"Home Assistant\s+(\d{4}\.\d{1,2}\.\d+)\s+or newer", doc.read_text())
        assert set(stated) <= {minimum}, f"{doc.relative_to(ROOT)} states {stated}"


def test_every_option_has_schema_and_translation(
    config: dict[str, Any], translations: dict[str, Any]
) -> None:
    assert option_problems(config, translations) == []
    assert set(config["schema"]) == {"log_level", "history_days", "token"}


def test_one_version_everywhere() -> None:
    """config.yaml, the server's and page's packages, manifest.json, pyproject and the changelog."""
    found = release.versions(ROOT)
    assert {
        "addon/config.yaml",
        "custom_components/hasync/manifest.json",
        "addon/CHANGELOG.md",
    } <= set(found)
    assert release.version_problems(ROOT) == []


def test_no_other_file_is_named_like_an_app_config() -> None:
    assert stray_config_files(ROOT, ADDON) == []


def test_discovery_service_is_the_integration_domain(config: dict[str, Any]) -> None:
    manifest = json.loads((ROOT / "custom_components" / "hasync" / "manifest.json").read_text())
    assert config["discovery"] == [manifest["domain"]]


def test_apparmor_profile_is_named_after_the_slug(config: dict[str, Any]) -> None:
    text = (ADDON / "apparmor.txt").read_text(encoding="utf-8")
    assert re.findall(r"^profile ([^ ]+)", text, re.MULTILINE) == [config["slug"]]
    assert f"peer=*_{config['slug']}" in text


def test_backup_pre_runs_a_file_the_image_contains(config: dict[str, Any]) -> None:
    command = shlex.split(config["backup_pre"])
    assert command[0] == "node"
    dockerfile = parse_dockerfile((ADDON / "Dockerfile").read_text(encoding="utf-8"))
    source = resolve_image_path(dockerfile, dockerfile.final, PurePosixPath(command[1]), ADDON)
    assert source == ADDON / "checkpoint.mjs"


def test_repository_yaml_describes_the_store() -> None:
    repository = yaml.safe_load((ROOT / "repository.yaml").read_text(encoding="utf-8"))
    assert {"name", "url", "maintainer"} <= set(repository)
    assert repository["url"].startswith("https://")


def heading_anchors(markdown: str) -> set[str]:
    """Anchors GitHub derives from headings: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#{1,6} (.+)$", markdown, re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_docs_have_the_anchors_the_integration_links_to() -> None:
    anchors = heading_anchors((ADDON / "DOCS.md").read_text(encoding="utf-8"))
    expected = {
        "native-module-failed",
        "node-unsupported",
        "database-unavailable",
        "frontend-missing",
        "health-check",
        "high-memory",
        "high-cpu",
        "memory-leak-suspected",
        "unreachable",
    }
    assert expected <= anchors
