"""translations/en.json from strings.json, as core's ``script/translations develop`` makes it.

Home Assistant resolves ``[%key:…%]`` references only for core integrations, so a custom one ships
them resolved: a reference to another key of strings.json (``[%key:component::hasync::a::b%]``) is
replaced by that key's text here, and any other reference is an error.
"""

import json
from pathlib import Path
import re
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
STRINGS = ROOT / "custom_components" / "hasync" / "strings.json"
EN = ROOT / "custom_components" / "hasync" / "translations" / "en.json"
REFERENCE = re.compile(r"\[%key:([a-z0-9_:]+)%\]")


def _lookup(strings: dict[str, Any], key: str) -> str:
    parts = key.split("::")
    if parts[:2] != ["component", "hasync"]:
        raise ValueError(f"[%key:{key}%]: only keys of this integration's strings.json resolve")
    node: Any = strings
    for part in parts[2:]:
        if not isinstance(node, dict) or part not in node:
            raise ValueError(f"[%key:{key}%]: no such key in strings.json")
        node = node[part]
    if isinstance(node, str):
        return node
    raise ValueError(f"[%key:{key}%]: names a group of keys, not a text")


def resolve(strings: dict[str, Any], node: Any = None) -> Any:
    """Return ``node`` (all of strings.json by default) with every reference replaced."""
    node = strings if node is None else node
    if isinstance(node, dict):
        return {key: resolve(strings, value) for key, value in node.items()}
    for _ in range(10):  # a referenced text may itself hold a reference
        if not isinstance(node, str) or not REFERENCE.search(node):
            return node
        node = REFERENCE.sub(lambda match: _lookup(strings, match.group(1)), node)
    raise ValueError(f"references do not resolve: {node}")


def render(strings_text: str) -> str:
    """Return the text of en.json for the text of strings.json."""
    return json.dumps(resolve(json.loads(strings_text)), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    """Write en.json, or with --check tell whether it is current (exit 1 if not)."""
    wanted = render(STRINGS.read_text(encoding="utf-8"))
    if "--check" in argv:
        current = EN.read_text(encoding="utf-8") == wanted
        print("en.json is current" if current else "en.json is stale: run scripts/gen-translations")
        return 0 if current else 1
    EN.write_text(wanted, encoding="utf-8")
    print(f"wrote {EN.relative_to(ROOT)}")
    return 0
