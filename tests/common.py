"""Helpers shared by the HAsync tests."""

import asyncio
from collections.abc import Callable
import importlib.util
from pathlib import Path
import sys
from types import ModuleType

SCRIPTS_LIB = Path(__file__).resolve().parents[1] / "scripts" / "lib"


def load_script_module(name: str) -> ModuleType:
    """Import ``scripts/lib/<name>.py``, which is no package, as the module ``name``."""
    spec = importlib.util.spec_from_file_location(name, SCRIPTS_LIB / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


async def wait_until(predicate: Callable[[], bool], limit: float = 5.0) -> None:
    """Poll the event loop until ``predicate`` holds; fail after ``limit`` seconds.

    For conditions that real sockets make true (a local aiohttp server), where there is
    no event of our own to await.
    """
    async with asyncio.timeout(limit):
        while not predicate():  # noqa: ASYNC110 - the condition has no event to await
            await asyncio.sleep(0.01)
