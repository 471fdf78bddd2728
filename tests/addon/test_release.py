"""scripts/release sets one version in every file; scripts/set-repository moves every copy of the identity."""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys

import pytest
import yaml

from tests.common import load_script_module

from .checks import config_problems, copy_repository

release = load_script_module("release")
repo_identity = load_script_module("repo_identity")


def run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=root, capture_output=True, text=True, timeout=60, check=False
    )


def test_release_sets_one_version_everywhere(tmp_path: Path) -> None:
    root = copy_repository(tmp_path)
    before = release.versions(root)["addon/config.yaml"]
    major, minor, _ = map(int, before.split("."))
    new = f"{major}.{minor + 1}.0"

    result = run(root, "scripts/release", new, "--date", "2027-01-15")

    assert result.returncode == 0, result.stderr
    assert set(release.versions(root).values()) == {new}
    assert release.version_problems(root) == []
    changelog = (root / "addon" / "CHANGELOG.md").read_text()
    # The Unreleased entries became the release's entry; a new, empty Unreleased section opens above.
    assert f"## [Unreleased]\n\n## [{new}] - 2027-01-15\n\n### Added" in changelog
    config = yaml.safe_load((root / "addon" / "config.yaml").read_text())
    assert config_problems(config) == []
    lock = json.loads((root / "addon" / "server" / "package-lock.json").read_text())
    assert lock["version"] == lock["packages"][""]["version"] == new
    # The server reports the new version (its package.json is its single source).
    assert f"Next: commit, push, and publish a GitHub release tagged {new}." in result.stdout

    # Releasing again with nothing new under Unreleased is refused, and changes nothing.
    again = run(root, "scripts/release", f"{major}.{minor + 2}.0")
    assert again.returncode == 1
    assert "nothing under '## [Unreleased]'" in again.stderr
    assert set(release.versions(root).values()) == {new}


@pytest.mark.parametrize(
    ("version", "reason"),
    [
        ("0.0.1", "is not newer than"),
        ("1.0", "is not MAJOR.MINOR.PATCH"),
        ("v1.0.0", "is not MAJOR"),
    ],
)
def test_release_refuses_a_bad_version(tmp_path: Path, version: str, reason: str) -> None:
    root = copy_repository(tmp_path)
    before = release.versions(root)
    result = run(root, "scripts/release", version)
    assert result.returncode == 1
    assert reason in result.stderr
    assert release.versions(root) == before


def test_identity_copies_agree_with_repository_yaml() -> None:
    root = Path(__file__).resolve().parents[2]
    assert repo_identity.problems(root) == []


@pytest.mark.parametrize(
    ("path", "old", "new"),
    [
        ("addon/config.yaml", "url: https://github.com/hasync/", "url: https://github.com/other/"),
        ("addon/config.yaml", "image: ghcr.io/hasync/", "image: ghcr.io/other/"),
        ("custom_components/hasync/manifest.json", '"@hasync"', '"@other"'),
        ("custom_components/hasync/manifest.json", "hasync/hasync/issues", "hasync/hasync2/issues"),
        (
            "custom_components/hasync/manifest.json",
            '"documentation": "https://github.com/hasync/hasync',
            '"documentation": "https://github.com/other/hasync',
        ),
        (
            "addon/Dockerfile",
            'source="https://github.com/hasync/hasync"',
            'source="https://github.com/other/hasync"',
        ),
        ("addon/DOCS.md", "https://github.com/hasync/hasync", "https://github.com/hasynk/hasync"),
        (
            "README.md",
            "githubusercontent.com/hasync/hasync/",
            "githubusercontent.com/other/hasync/",
        ),
        (
            "custom_components/hasync/const.py",
            "github.com/hasync/hasync/",
            "github.com/hasync/hasync-app/",
        ),
        (
            ".github/workflows/build.yaml",
            "yq -r '.image' addon/config.yaml",
            "echo ghcr.io/hasync/{arch}-hasync",
        ),
    ],
)
def test_identity_mismatch_fails(tmp_path: Path, path: str, old: str, new: str) -> None:
    root = copy_repository(tmp_path, git=True)
    text = (root / path).read_text(encoding="utf-8")
    assert old in text, old
    (root / path).write_text(text.replace(old, new, 1))
    problems = repo_identity.problems(root)
    assert problems, f"planting {new!r} in {path} went unnoticed"
    assert all(p.startswith(path) for p in problems), problems


def test_an_encoded_link_is_checked_too(tmp_path: Path) -> None:
    root = copy_repository(tmp_path, git=True)
    readme = root / "README.md"
    readme.write_text(
        readme.read_text()
        + "\n[Add](https://my.home-assistant.io/redirect/supervisor_add_addon_repository/"
        "?repository_url=https%3A%2F%2Fgithub.com%2Fother%2Fhasync)\n"
    )
    assert repo_identity.problems(root) == [
        "README.md: links github.com/other/hasync, expected https://github.com/hasync/hasync"
    ]


def test_set_repository_moves_every_copy(tmp_path: Path) -> None:
    root = copy_repository(tmp_path, git=True)
    result = run(root, "scripts/set-repository", "Someone/hasync-fork")
    assert result.returncode == 0, result.stderr
    assert repo_identity.problems(root) == []
    assert repo_identity.identity(root) == repo_identity.Identity("Someone", "hasync-fork")
    config = yaml.safe_load((root / "addon" / "config.yaml").read_text())
    assert config["image"] == "ghcr.io/someone/{arch}-hasync"
    assert config["url"] == "https://github.com/Someone/hasync-fork/tree/main/addon"
    manifest = json.loads((root / "custom_components" / "hasync" / "manifest.json").read_text())
    assert manifest["codeowners"] == ["@Someone"]
    assert "https://github.com/Someone/hasync-fork" in (root / "addon" / "DOCS.md").read_text()
    assert "githubusercontent.com/Someone/hasync-fork/main/" in (root / "README.md").read_text()
    assert run(root, "scripts/set-repository", "not a repo").returncode == 2
