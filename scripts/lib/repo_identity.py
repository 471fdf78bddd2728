"""The repository's identity (GitHub owner/name) and the copies of it in files that cannot read it.

The one source is `url` in repository.yaml, the file Supervisor reads when a user adds the store. The
app's config.yaml (`url`, `image`), the integration's manifest.json and constants, the Dockerfile's
source label, the workflows and every document carry copies, because none of them can read another
file when Supervisor, HACS or Home Assistant loads them. `problems()` lists each copy that disagrees
(tests/addon/test_identity.py runs it); `rewrite()` moves every copy to a new identity
(scripts/set-repository, for forks).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
import json
from pathlib import Path
import re
import subprocess
from urllib.parse import unquote

SOURCE = "repository.yaml"
APP_SLUG = "hasync"
# Text files that may name the repository; lockfiles and tests (which plant wrong identities) do not.
SCAN_SUFFIXES = {".md", ".py", ".json", ".yaml", ".yml", ".ts", ".js", ".mjs", ".html", ""}
SKIP_PARTS = {"tests", "node_modules", "bench", ".toolchain", ".venv", ".git"}
SKIP_NAMES = {"package-lock.json"}

_SOURCE_URL = re.compile(
    r"^url:\s*[\"']?https://github\.com/([\w.-]+)/([\w.-]+?)/?[\"']?\s*$", re.M
)
# github.com and raw.githubusercontent.com (images HACS renders from the README) name the repository.
_GITHUB = re.compile(r"(?:github\.com|raw\.githubusercontent\.com)/([\w.-]+)/([\w.-]+)")
_IMAGE = re.compile(r"ghcr\.io/([\w.-]+)/(\{arch\}|aarch64|amd64)-([\w.-]+)")


@dataclass(frozen=True)
class Identity:
    """A GitHub repository: owner and name as GitHub spells them."""

    owner: str
    name: str

    @property
    def url(self) -> str:
        """The repository's web address."""
        return f"https://github.com/{self.owner}/{self.name}"

    @property
    def image(self) -> str:
        """The app image Supervisor pulls; registries want the owner in lower case."""
        return f"ghcr.io/{self.owner.lower()}/{{arch}}-{APP_SLUG}"


def identity(root: Path) -> Identity:
    """Read the one source: repository.yaml's url."""
    match = _SOURCE_URL.search((root / SOURCE).read_text(encoding="utf-8"))
    if match is None:
        raise ValueError(f"{SOURCE} has no url of the form https://github.com/OWNER/NAME")
    return Identity(match.group(1), match.group(2))


def scanned_files(root: Path) -> Iterator[Path]:
    """Yield the tracked text files (git ls-files) that may name the repository."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True
    ).stdout.decode()
    for relative in sorted(filter(None, listed.split("\0"))):
        path = root / relative
        parts = set(Path(relative).parts)
        if parts & SKIP_PARTS or path.name in SKIP_NAMES or path.suffix not in SCAN_SUFFIXES:
            continue
        if path.is_file() and relative != SOURCE:
            yield path


def _field_problems(root: Path, ident: Identity) -> list[str]:
    """Check the copies that must equal a value derived from the identity, field by field."""
    problems = []
    config = (root / "addon" / "config.yaml").read_text(encoding="utf-8")
    expected_config = {"url": f"{ident.url}/tree/main/addon", "image": ident.image}
    for key, want in expected_config.items():
        found = re.search(rf"^{key}:\s*[\"']?([^\"'\s]+)", config, re.M)
        if found is None or found.group(1) != want:
            got = found.group(1) if found else "nothing"
            problems.append(f"addon/config.yaml: {key} is {got}, expected {want}")

    manifest = json.loads(
        (root / "custom_components" / APP_SLUG / "manifest.json").read_text(encoding="utf-8")
    )
    if not str(manifest.get("documentation", "")).startswith(ident.url):
        problems.append(
            f"custom_components/{APP_SLUG}/manifest.json: documentation does not start with {ident.url}"
        )
    if manifest.get("issue_tracker") != f"{ident.url}/issues":
        problems.append(
            f"custom_components/{APP_SLUG}/manifest.json: issue_tracker is not {ident.url}/issues"
        )
    if f"@{ident.owner}" not in manifest.get("codeowners", []):
        problems.append(
            f"custom_components/{APP_SLUG}/manifest.json: codeowners does not name @{ident.owner}"
        )

    dockerfile = (root / "addon" / "Dockerfile").read_text(encoding="utf-8")
    label = re.search(r'org\.opencontainers\.image\.source="([^"]*)"', dockerfile)
    if label is None or label.group(1) != ident.url:
        problems.append(f"addon/Dockerfile: org.opencontainers.image.source is not {ident.url}")

    build = (root / ".github" / "workflows" / "build.yaml").read_text(encoding="utf-8")
    if "yq -r '.image' addon/config.yaml" not in build:
        problems.append(
            ".github/workflows/build.yaml: the image name must come from addon/config.yaml"
        )
    return problems


def _link_problems(path: Path, relative: str, ident: Identity) -> list[str]:
    """Links in one file that point at this repository or its image under another identity."""
    text = unquote(path.read_text(encoding="utf-8", errors="replace"))
    problems = []
    for owner, raw_name in _GITHUB.findall(text):
        name = raw_name.removesuffix(".git")
        ours = owner.lower() == ident.owner.lower() or name.lower() == ident.name.lower()
        if ours and (owner, name) != (ident.owner, ident.name):
            problems.append(f"{relative}: links github.com/{owner}/{name}, expected {ident.url}")
    for owner, arch, slug in _IMAGE.findall(text):
        if slug == APP_SLUG and owner != ident.owner.lower():
            problems.append(
                f"{relative}: names image ghcr.io/{owner}/{arch}-{slug}, expected {ident.image}"
            )
    return problems


def problems(root: Path) -> list[str]:
    """Every copy of the identity that disagrees with repository.yaml."""
    ident = identity(root)
    found = _field_problems(root, ident)
    for path in scanned_files(root):
        found += _link_problems(path, str(path.relative_to(root)), ident)
    return found


def rewrite(root: Path, new: Identity) -> list[Path]:
    """Move the source and every copy from the current identity to `new`; return the files changed."""
    old = identity(root)
    replacements = [
        (f"github.com/{old.owner}/{old.name}", f"github.com/{new.owner}/{new.name}"),
        (f"github.com%2F{old.owner}%2F{old.name}", f"github.com%2F{new.owner}%2F{new.name}"),
        (
            f"githubusercontent.com/{old.owner}/{old.name}/",
            f"githubusercontent.com/{new.owner}/{new.name}/",
        ),
        (f"ghcr.io/{old.owner.lower()}/", f"ghcr.io/{new.owner.lower()}/"),
    ]
    manifest = root / "custom_components" / APP_SLUG / "manifest.json"
    changed = []
    for path in [root / SOURCE, *scanned_files(root)]:
        text = path.read_text(encoding="utf-8")
        updated = text
        for before, after in replacements:
            updated = updated.replace(before, after)
        if path == manifest:  # codeowners
            updated = updated.replace(f'"@{old.owner}"', f'"@{new.owner}"')
        if updated != text:
            path.write_text(updated, encoding="utf-8")
            changed.append(path)
    return changed
