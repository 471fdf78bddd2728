"""The project's one version, in every file that states it, and the release step that sets it.

Supervisor reads addon/config.yaml, the server reports its package.json, HACS and Home Assistant read
the integration's manifest.json, and the changelog names each release: one version, several files that
cannot read each other. `versions()` reads every copy (tests/addon/test_config.py wants them equal);
`release()` sets them all and turns the changelog's Unreleased section into the release's entry
(scripts/release).
"""

from __future__ import annotations

from dataclasses import dataclass
import datetime as dt
import json
from pathlib import Path
import re

RE_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
CHANGELOG = "addon/CHANGELOG.md"
UNRELEASED = "## [Unreleased]"


@dataclass(frozen=True)
class Location:
    """Where one copy of the version lives: a file and the pattern around it (group 2 is the value)."""

    path: str
    pattern: str

    def regex(self) -> re.Pattern[str]:
        """Compile the pattern (multi-line)."""
        return re.compile(self.pattern, re.MULTILINE)


_TOP_LEVEL_JSON = r'^(  "version": ")([^"]*)(")'
_LOCK_ROOT = r'^(    "": \{\n      "name": "[^"]*",\n      "version": ")([^"]*)(")'
LOCATIONS = (
    Location("addon/config.yaml", r'^(version: ")([^"]*)(")'),
    Location("addon/server/package.json", _TOP_LEVEL_JSON),
    Location("addon/server/package-lock.json", _TOP_LEVEL_JSON),
    Location("addon/server/package-lock.json", _LOCK_ROOT),
    Location("addon/frontend/package.json", _TOP_LEVEL_JSON),
    Location("addon/frontend/package-lock.json", _TOP_LEVEL_JSON),
    Location("addon/frontend/package-lock.json", _LOCK_ROOT),
    Location("custom_components/hasync/manifest.json", _TOP_LEVEL_JSON),
    Location("pyproject.toml", r'^(version = ")([^"]*)(")'),
)


class ReleaseError(Exception):
    """A release that cannot be made as asked; the message says why."""


def changelog_versions(text: str) -> list[str]:
    """Versions in a Keep-a-Changelog file, newest first (`## [1.2.3]` or `## 1.2.3`)."""
    return re.findall(r"^## \[?(\d+\.\d+\.\d+)\]?", text, re.MULTILINE)


def versions(root: Path) -> dict[str, str]:
    """Every copy of the version, keyed by `file` (or `file#N` for a file's later copies)."""
    found: dict[str, str] = {}
    for location in LOCATIONS:
        match = location.regex().search((root / location.path).read_text(encoding="utf-8"))
        key = location.path if location.path not in found else f"{location.path}#root-package"
        found[key] = match.group(2) if match else "(missing)"
    newest = changelog_versions((root / CHANGELOG).read_text(encoding="utf-8"))
    found[CHANGELOG] = newest[0] if newest else "(missing)"
    return found


def version_problems(root: Path) -> list[str]:
    """List the copies that disagree with addon/config.yaml, the version Supervisor installs."""
    found = versions(root)
    want = found["addon/config.yaml"]
    return [
        f"{key} says {value}, addon/config.yaml says {want}"
        for key, value in found.items()
        if value != want
    ]


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _changelog_with_release(text: str, version: str, date: dt.date) -> str:
    """Turn the Unreleased section into the release's entry and open a new, empty one above it."""
    start = text.find(UNRELEASED)
    if start < 0:
        raise ReleaseError(f"{CHANGELOG} has no '{UNRELEASED}' section to release")
    body_start = start + len(UNRELEASED)
    following = re.search(r"^## ", text[body_start:], re.MULTILINE)
    body = text[body_start : body_start + following.start()] if following else text[body_start:]
    if not body.strip():
        raise ReleaseError(
            f"nothing under '{UNRELEASED}' in {CHANGELOG}: describe the changes first"
        )
    heading = f"{UNRELEASED}\n\n## [{version}] - {date.isoformat()}"
    return text[:start] + heading + text[body_start:]


def release(root: Path, version: str, date: dt.date) -> list[str]:
    """Set `version` everywhere and date the changelog entry; return the files changed."""
    if not RE_VERSION.match(version):
        raise ReleaseError(f"{version!r} is not MAJOR.MINOR.PATCH")
    current = versions(root)["addon/config.yaml"]
    if _key(version) <= _key(current):
        raise ReleaseError(f"{version} is not newer than the current version {current}")
    texts = {
        path: (root / path).read_text(encoding="utf-8") for path in {loc.path for loc in LOCATIONS}
    }
    for location in LOCATIONS:
        texts[location.path], count = location.regex().subn(
            lambda m: m.group(1) + version + m.group(3), texts[location.path], count=1
        )
        if count != 1:
            raise ReleaseError(f"no version found in {location.path} ({location.pattern})")
    texts[CHANGELOG] = _changelog_with_release(
        (root / CHANGELOG).read_text(encoding="utf-8"), version, date
    )
    for path, text in texts.items():
        if path.endswith(".json"):
            json.loads(text)  # never write a broken JSON file
        (root / path).write_text(text, encoding="utf-8")
    return sorted(texts)
