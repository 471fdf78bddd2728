"""translations/en.json is generated from strings.json (scripts/gen-translations) and current."""

import json
from pathlib import Path
import subprocess
import sys

import pytest

from .common import load_script_module

ROOT = Path(__file__).resolve().parents[1]
translations = load_script_module("translations")


def test_en_json_is_current() -> None:
    """en.json is exactly what the script writes from strings.json."""
    strings = translations.STRINGS.read_text(encoding="utf-8")
    assert translations.EN.read_text(encoding="utf-8") == translations.render(strings)


def test_check_fails_on_a_stale_en_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--check passes on the repository, and exits 1 once strings.json changes without en.json."""
    script = ROOT / "scripts" / "gen-translations"
    assert subprocess.run([sys.executable, script, "--check"], check=False).returncode == 0
    strings = json.loads(translations.STRINGS.read_text(encoding="utf-8"))
    strings["config"]["step"]["user"]["title"] = "Changed"
    changed = tmp_path / "strings.json"
    changed.write_text(json.dumps(strings), encoding="utf-8")
    monkeypatch.setattr(translations, "STRINGS", changed)
    assert translations.main(["--check"]) == 1
    assert "stale" in capsys.readouterr().out


def test_references_resolve_to_this_integrations_strings() -> None:
    """A [%key:…%] reference becomes the text it names, as core's script does it."""
    strings = {
        "a": {"b": "API token", "c": "[%key:component::hasync::a::b%]"},
        "d": "[%key:component::hasync::a::c%] (again)",
    }
    assert json.loads(translations.render(json.dumps(strings))) == {
        "a": {"b": "API token", "c": "API token"},
        "d": "API token (again)",
    }


@pytest.mark.parametrize(
    "reference",
    [
        "[%key:common::config_flow::data::api_token%]",  # core's common strings
        "[%key:component::hasync::no::such%]",
        "[%key:component::hasync::a%]",  # an object, not a text
    ],
)
def test_unresolvable_references_fail(reference: str) -> None:
    """Home Assistant would show the reference itself: the script refuses it."""
    with pytest.raises(ValueError, match="key:"):
        translations.render(json.dumps({"a": {"b": "x"}, "c": reference}))
