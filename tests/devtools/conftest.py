"""Fixtures for the devtools tests: real server processes on 127.0.0.1, no Home Assistant."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Override the parent autouse fixture: these tests need no Home Assistant instance."""
