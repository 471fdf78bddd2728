"""Schemathesis against the server's own OpenAPI document, on a real server process.

Bounded: a fixed number of examples per operation and a fixed seed, every phase that applies
(examples, coverage, fuzzing) and every check schemathesis has. Two runs, each on a fresh server
(so on a fresh rate-limit budget for 127.0.0.1):

- authenticated: the printed token on every request. `ignored_auth` is left out here: it re-sends
  each successful request with a wrong token, and ten of those block the address for 60 s (the
  documented limit), which would turn the rest of the run into 429s. The run asserts that it saw no
  429 at all, so it really exercised the API; auth enforcement is the unauthenticated run's job.
- unauthenticated: whatever schemathesis generates, including its own Authorization headers. Secured
  operations may only answer 401, or 429 once its wrong tokens reached the limit.

Expected of both: no 5xx, and every response conforms (documented status, content type, headers,
body schema; event streams per event). The longer run is bench/fuzz/run.py.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
import json
from typing import Any

from hypothesis import HealthCheck, settings
import pytest
import schemathesis
from schemathesis.specs.openapi.checks import ignored_auth

from devtools.server import SERVER_DIR, ServerProcess

from .conftest import Started, get_json

EXAMPLES = 100
"""Examples per operation in the fuzzing phase (the coverage phase adds its own fixed cases)."""
SEED = 20261126
SECURED = {"/api/v1/status", "/api/v1/events", "/api/v1/history"}


def fuzz_config(token: str | None = None) -> Any:
    """Return the run's configuration.

    With a token, schemathesis sends it as a configured header (like `st run -H`), so it knows which
    cases drop it on purpose.
    """
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            # An event stream never ends: one event is enough to check its shape.
            "max-stream-events": 1,
            "request-timeout": 10,
            "headers": {"Authorization": f"Bearer {token}"} if token else {},
            "generation": {"max-examples": EXAMPLES, "database": "none"},
        }
    )


statuses: dict[str, Counter[tuple[str, int]]] = {"authenticated": Counter(), "anonymous": Counter()}


def served_schema(server: ServerProcess, token: str | None) -> Any:
    """Load the document the server serves (all operations, including the document itself)."""
    status, document = get_json(server.url, "/api/v1/openapi.json")
    assert status == 200
    return schemathesis.openapi.from_dict(document, config=fuzz_config(token))


@pytest.fixture
def authed_server(start_server: Started) -> Iterator[ServerProcess]:
    """Start a fresh server for the authenticated run."""
    server = start_server()
    yield server
    assert_clean_log(server)


@pytest.fixture
def anonymous_server(start_server: Started) -> Iterator[ServerProcess]:
    """Start a fresh server (fresh rate-limit budget) for the unauthenticated run."""
    server = start_server()
    yield server
    assert_clean_log(server)


@pytest.fixture
def authed_schema(authed_server: ServerProcess) -> Any:
    """Load the served document for the authenticated run."""
    assert authed_server.token
    return served_schema(authed_server, authed_server.token)


@pytest.fixture
def anonymous_schema(anonymous_server: ServerProcess) -> Any:
    """Load the served document for the unauthenticated run."""
    return served_schema(anonymous_server, None)


def assert_clean_log(server: ServerProcess) -> None:
    """Assert that fuzzing left no error in the log and the server still runs."""
    assert server.running, f"the server died during fuzzing:\n{server.output}"
    bad = [line for line in server.lines if " ERROR " in line or "uncaught" in line]
    assert not bad, "\n".join(bad)


authenticated = schemathesis.pytest.from_fixture("authed_schema")
anonymous = schemathesis.pytest.from_fixture("anonymous_schema")
FUZZ_SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@authenticated.parametrize()
@FUZZ_SETTINGS
def test_authenticated(case: Any, authed_server: ServerProcess) -> None:
    """With the token: no 5xx, every response conforms, and the limiter never triggers."""
    response = case.call(base_url=authed_server.url)
    statuses["authenticated"][(case.operation.path, response.status_code)] += 1
    assert response.status_code < 500, response.text[:500]
    assert response.status_code != 429, "the authenticated run tripped the rate limiter"
    case.validate_response(response, excluded_checks=[ignored_auth])


@anonymous.parametrize()
@FUZZ_SETTINGS
def test_anonymous(case: Any, anonymous_server: ServerProcess) -> None:
    """Without a token: no 5xx, every response conforms, secured operations only 401 or 429.

    (The coverage phase also sends methods the document does not list: 405 before any auth check.)
    """
    response = case.call(base_url=anonymous_server.url)
    path = case.operation.path
    statuses["anonymous"][(path, response.status_code)] += 1
    assert response.status_code < 500, response.text[:500]
    if path in SECURED and case.method.upper() in {"GET", "HEAD"}:
        assert response.status_code in {401, 429}, f"{path} answered {response.status_code}"
    case.validate_response(response)


def test_runs_reached_the_api() -> None:
    """The two runs above exercised every operation, with real answers (runs after them).

    Printed as the bounded summary: requests per operation and status.
    """
    authed, anon = statuses["authenticated"], statuses["anonymous"]
    assert authed, "run the whole module: the fuzz tests fill the counters"
    print("\nschemathesis (bounded), responses by operation and status:")  # noqa: T201
    for run, counter in statuses.items():
        print(f"  {run}: {sum(counter.values())} responses")  # noqa: T201
        for (path, status), count in sorted(counter.items()):
            print(f"    {path:<24} {status}: {count}")  # noqa: T201
    documented = json.loads((SERVER_DIR / "src" / "openapi.json").read_text())["paths"]
    assert {path for path, _ in authed} == set(documented)
    for path in SECURED:
        assert authed[(path, 200)] > 0, f"the authenticated run never got a 200 from {path}"
        assert not any(status == 200 for p, status in anon if p == path)
    assert authed[("/api/v1/history", 400)] > 0, "invalid windows were generated and refused"
    assert not any(status >= 500 for _, status in authed | anon)
