"""Fuzz settings, and the count of examples each fuzz target ran (printed after the run).

Every fuzz test asks for ``fuzz_examples`` and calls it once per example; the fixture checks,
when the test is done, that the target ran at least its minimum, so a strategy that silently
stops generating fails the test. The minimums add up to more than 5,000 documents.

``HASYNC_FUZZ_SCALE`` multiplies every example count (e.g. 10 for a long run), and
``HASYNC_FUZZ_RANDOM=1`` draws new examples instead of the fixed, derandomized sequence that
``scripts/test`` runs.
"""

from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass
import os
import time
from typing import Any

from homeassistant.core import HomeAssistant
from hypothesis import HealthCheck, Phase, settings
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from .ha import setup_entry
from .rawserver import RawHTTPServer

SCALE = float(os.environ.get("HASYNC_FUZZ_SCALE", "1"))
RANDOM = os.environ.get("HASYNC_FUZZ_RANDOM") == "1"


def fuzz_settings(examples: int, *, shrink: bool = True) -> Callable[[Any], Any]:
    """Hypothesis settings of a fuzz target running ``examples`` examples (times the scale)."""
    phases = [Phase.explicit, Phase.generate] + ([Phase.shrink] if shrink else [])
    return settings(
        max_examples=max(1, round(examples * SCALE)),
        deadline=None,
        derandomize=not RANDOM,
        database=None,
        phases=phases,
        print_blob=RANDOM,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


def minimum(examples: int) -> int:
    """Return the count a target must reach: its examples, scaled."""
    return max(1, round(examples * SCALE))


@dataclass
class Target:
    """The examples one fuzz target ran."""

    name: str
    minimum: int
    count: int = 0
    accepted: int = 0
    """Examples the client took as a valid document (the rest it rejected, as it had to)."""
    seconds: float = 0.0

    def __call__(self, *, accepted: bool | None = None) -> None:
        """Count one example, and whether the client had to accept it."""
        self.count += 1
        self.accepted += bool(accepted)


RESULTS: list[Target] = []


@pytest.fixture
def fuzz_examples(request: pytest.FixtureRequest) -> Generator[Target]:
    """Count the examples of this test; fail it if it ran fewer than its minimum.

    The test module names its minimum per test in ``FUZZ_MINIMUMS``.
    """
    name = request.node.name
    minimums: dict[str, int] = request.module.FUZZ_MINIMUMS
    target = Target(f"{request.module.__name__.rsplit('.', 1)[-1]}::{name}", minimums[name])
    started = time.monotonic()
    yield target
    target.seconds = time.monotonic() - started
    RESULTS.append(target)
    assert target.count >= target.minimum, (
        f"{target.name} ran {target.count} examples, fewer than {target.minimum}"
    )
    if name in getattr(request.module, "FUZZ_MIXED", ()):
        # Both outcomes must be well represented, or the target tests only one of them.
        share = target.accepted / target.count
        assert 0.05 <= share <= 0.95, f"{target.name}: {share:.0%} of its examples were valid"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the examples per fuzz target, and their total."""
    if not RESULTS:
        return
    terminalreporter.section("HAsync fuzz examples")
    for target in RESULTS:
        terminalreporter.write_line(
            f"{target.name:<58} {target.count:>6} examples ({target.accepted:>5} valid)"
            f"  {target.seconds:6.1f} s"
        )
    total = sum(target.count for target in RESULTS)
    failed = [
        report.nodeid
        for report in terminalreporter.stats.get("failed", [])
        if "tests/fuzz/" in report.nodeid
    ]
    outcome = f"{len(failed)} failing targets: {failed}" if failed else "every target passed"
    terminalreporter.write_line(f"{'total':<58} {total:>6} examples; {outcome}")


@pytest.fixture
async def raw_server(socket_enabled: None) -> AsyncGenerator[RawHTTPServer]:
    """Run the raw HTTP server on a free port of 127.0.0.1."""
    server = RawHTTPServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def entry(
    hass: HomeAssistant, raw_server: RawHTTPServer, entity_registry_enabled_by_default: None
) -> AsyncGenerator[MockConfigEntry]:
    """Set the integration up against the raw server (see ha.setup_entry); unload it after."""
    async for config_entry in setup_entry(hass, raw_server):
        yield config_entry
