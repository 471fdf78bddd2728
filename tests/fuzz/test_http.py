"""Fuzz target (b): the real client over HTTP, against a raw server on 127.0.0.1.

Each example is one answer to ``GET /api/v1/status``: a fuzzed body (documents.bodies) with a
status code, a content type and a transport, intact or broken (chunked, gzip, gzip garbage, a
Content-Length that lies, garbage instead of a status line, a connection closed without an
answer). ``client.status()`` must return what the oracle reads, or raise the HAsyncError the
contract names for that answer, with a short one-line message without the token; nothing else.
"""

from collections.abc import AsyncGenerator
from typing import Any, Final

import aiohttp
from hypothesis import event, example, given
import pytest

from custom_components.hasync.client.client import HAsyncClient
from custom_components.hasync.client.errors import (
    MAX_RETRY_AFTER,
    HAsyncAuthError,
    HAsyncConnectionError,
    HAsyncError,
    HAsyncInvalidResponseError,
    HAsyncProxyError,
    HAsyncRateLimitedError,
    HAsyncServiceUnavailableError,
    HAsyncTimeoutError,
)
from tests.conftest import TOKEN

from .answers import RACY, answers, reply_for
from .conftest import Target, fuzz_settings, minimum
from .documents import (
    HTML_PAGE,
    MAX_BODY_BYTES,
    dumps,
    encode,
    expected_document,
    fixture,
    model_view,
)
from .rawserver import RawHTTPServer, Reply, http_response

HTTP_EXAMPLES = 600
FUZZ_MINIMUMS = {"test_status_over_http": minimum(HTTP_EXAMPLES)}
FUZZ_MIXED = {"test_status_over_http"}

STATUS_PATH: Final = "/api/v1/status"

ERRORS: Final[dict[int, type[HAsyncError]]] = {
    401: HAsyncAuthError,
    403: HAsyncAuthError,
    429: HAsyncRateLimitedError,
    503: HAsyncServiceUnavailableError,
    502: HAsyncProxyError,
    504: HAsyncProxyError,
}
"""The error of each non-200 status (any other status: HAsyncInvalidResponseError)."""


def check_error(err: HAsyncError) -> None:
    """Short, one line, printable, and without the token."""
    message = str(err)
    assert message, repr(err)
    assert len(message) <= 300, message[:400]
    assert message.isprintable(), repr(message[:400])
    assert TOKEN not in message
    assert TOKEN not in repr(err)


@pytest.fixture
async def session() -> AsyncGenerator[aiohttp.ClientSession]:
    """Return a plain aiohttp session (Home Assistant injects its own, made the same way)."""
    async with aiohttp.ClientSession() as client_session:
        yield client_session


VALID_BODY: Final = encode(dumps(fixture()))


@pytest.mark.filterwarnings("ignore:Generating overly large repr")
@fuzz_settings(HTTP_EXAMPLES)
@given(answer=answers())
@example(
    answer={
        "status": 200,
        "headers": [("Content-Type", "application/json")],
        "body": b"x" * (MAX_BODY_BYTES + 1),
        "described": "over the size limit",
        "transport": "plain",
        "cut": 0,
    }
)
@example(
    answer={
        "status": 502,
        "headers": [("Content-Type", "text/html")],
        "body": HTML_PAGE,
        "described": "proxy error page",
        "transport": "plain",
        "cut": 0,
    }
)
@example(
    answer={
        "status": 200,
        "headers": [],
        "body": VALID_BODY,
        "described": "valid document, gzip",
        "transport": "gzip",
        "cut": 0,
    }
)
async def test_status_over_http(
    raw_server: RawHTTPServer,
    session: aiohttp.ClientSession,
    answer: dict[str, Any],
    fuzz_examples: Target,
) -> None:
    """Every answer gives the oracle's document, or the contract's HAsyncError."""
    reply, received = reply_for(answer)
    raw_server.routes[STATUS_PATH] = reply
    client = HAsyncClient(raw_server.url, TOKEN, session, request_timeout=10)
    described, status = answer["described"], answer["status"]
    expected = None
    if received is not None and status == 200 and len(received) <= MAX_BODY_BYTES:
        expected = expected_document(received)
    racy = answer["transport"] in RACY
    event(f"transport {answer['transport']}")
    try:
        document = await client.status()
    except HAsyncError as raised:
        err: HAsyncError | None = raised
    else:
        err = None
    if err is not None:
        assert not isinstance(err, HAsyncTimeoutError), f"timed out ({described}): {err}"
        check_error(err)
        assert expected is None or racy, f"rejected a valid document ({described}): {err}"
        event(f"error {type(err).__name__}")
        if received is not None and not racy:
            if len(received) > MAX_BODY_BYTES:
                assert isinstance(err, HAsyncInvalidResponseError), described
                assert "larger than" in str(err)
            elif status != 200:
                assert type(err) is ERRORS.get(status, HAsyncInvalidResponseError), described
        if isinstance(err, HAsyncRateLimitedError) and err.retry_after is not None:
            assert 0 <= err.retry_after <= MAX_RETRY_AFTER
        fuzz_examples(accepted=False)
        return
    assert expected is not None, f"accepted an invalid answer ({described})"
    assert model_view(document) == expected, described
    fuzz_examples(accepted=True)


async def test_stalled_answer_times_out(
    raw_server: RawHTTPServer, session: aiohttp.ClientSession
) -> None:
    """Headers, then nothing: a timeout (a connection error), not a hang."""
    head = http_response(200, b"", [("Content-Type", "application/json")], content_length=100)
    raw_server.routes[STATUS_PATH] = Reply([head], hold=True)
    client = HAsyncClient(raw_server.url, TOKEN, session, request_timeout=0.3)
    with pytest.raises(HAsyncTimeoutError) as raised:
        await client.status()
    check_error(raised.value)
    assert isinstance(raised.value, HAsyncConnectionError)
