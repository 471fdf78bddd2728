"""Linters on the app files and the repository's scripts, YAML and workflows."""

from __future__ import annotations

from pathlib import Path
import struct
import subprocess
import sys

from .checks import (
    ADDON,
    ROOT,
    actionlint,
    apparmor,
    hadolint,
    project_files,
    shell_scripts,
    shellcheck,
    yamllint,
)


def workflows() -> list[Path]:
    """Return the GitHub workflows (a dot-folder, so project_files does not list them)."""
    return sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))


def test_hadolint_clean() -> None:
    assert hadolint(ADDON / "Dockerfile") == []


def test_shellcheck_clean_on_every_shell_script() -> None:
    scripts = shell_scripts()
    names = {str(path.relative_to(ROOT)) for path in scripts}
    # The list must really be "every shell script", including those without a .sh suffix.
    assert {
        "addon/run.sh",
        "scripts/setup",
        "scripts/test",
        "scripts/lib/common.sh",
        ".ci/run",
    } <= names
    assert "scripts/make-addon-images" not in names  # a Python script, not a shell one
    # The app's scripts meet every level, style included; the repository's other scripts must be
    # free of warnings and errors.
    app = [p for p in scripts if ADDON in p.parents]
    assert app
    assert shellcheck(app) == []
    assert shellcheck([p for p in scripts if p not in app], severity="warning") == []


def test_yamllint_clean() -> None:
    files = [p for p in project_files() if p.suffix in {".yaml", ".yml"}]
    files += [*workflows(), ROOT / ".yamllint"]
    assert ADDON / "config.yaml" in files
    assert yamllint(files) == []


def test_actionlint_clean() -> None:
    assert {p.name for p in workflows()} >= {"ci.yaml", "build.yaml"}
    assert actionlint(workflows()) == []


def test_apparmor_profile_compiles() -> None:
    assert apparmor(ADDON / "apparmor.txt") == []


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_icon_and_logo_are_generated_by_the_repository_script(tmp_path: Path) -> None:
    width, height = png_size(ADDON / "icon.png")
    assert width == height >= 128
    assert png_size(ADDON / "logo.png") == (250, 100)
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make-addon-images"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    for name in ("icon.png", "logo.png"):
        assert (tmp_path / name).read_bytes() == (ADDON / name).read_bytes(), (
            f"addon/{name} differs from what scripts/make-addon-images draws: rerun the script"
        )
