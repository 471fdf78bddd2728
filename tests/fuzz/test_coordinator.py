"""Fuzz target (c): the real coordinator and entities in Home Assistant, over HTTP.

A config entry points at the raw server on 127.0.0.1. Each example serves one fuzzed answer to
the status poll, refreshes the coordinator, checks the entities, the repair issues and the log,
then serves the fixture again and checks the recovery.

What is specified, and asserted:

- an answer that is not a valid document of this entry's server (invalid JSON or schema, HTML,
  gzip garbage, a 5xx, another instance) is a **failed update**: it counts towards the
  ``unreachable`` repair like an unreachable server, every entity becomes unavailable except
  ``connected``, which turns off, and no other repair issue is raised;
- a valid document is shown as sent: a null or missing figure is ``unknown``, never a number,
  and its repairs are exactly those its values call for (tests/fuzz/oracle.py);
- the log has one concise line per failure episode: one error when updates start failing (one
  line, no traceback), one info line when they recover, nothing while they keep failing;
- nothing escapes to Home Assistant: no other log record at warning or above, and no exception
  in the event loop (phcc fails the test on those).
"""

import logging
from typing import Any, Final

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from hypothesis import event, example, given, strategies as st
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.hasync.const import DOMAIN
from custom_components.hasync.coordinator import HAsyncDataUpdateCoordinator
from tests.conftest import INSTANCE_ID

from .answers import answers, reply_for
from .conftest import Target, fuzz_settings, minimum
from .documents import (
    HTML_PAGE,
    MAX_BODY_BYTES,
    bodies,
    documents,
    dumps,
    encode,
    expected_document,
    fixture,
)
from .ha import STATUS_PATH, TITLE, VALID, issue_keys, json_reply, poll, states
from .oracle import FailureLog, assert_states, expected_issues, expected_states
from .rawserver import RawHTTPServer, Reply, http_response

COORDINATOR_EXAMPLES = 250
FUZZ_MINIMUMS = {"test_polled_answers": minimum(COORDINATOR_EXAMPLES)}
FUZZ_MIXED = {"test_polled_answers"}

POLLED_ANSWERS: Final = answers(
    statuses=(*[200] * 12, 500, 502, 503, 404),
    transports=(
        *["plain"] * 6,
        *("chunked", "gzip", "http10", "gzip_garbage", "short", "garbage_status", "no_response"),
    ),
    body_strategy=st.one_of(
        bodies(),
        documents(base=st.just(fixture())).map(
            lambda case: (encode(dumps(case[0])), "; ".join(case[1]))
        ),
    ),
)
"""Answers for the polls: no 401 (it starts reauthentication, see test_no_leaks) and no 429 (its
Retry-After reschedules the poll; both are fuzzed in test_http) and no racy transport."""


@pytest.mark.filterwarnings("ignore:Generating overly large repr")
@fuzz_settings(COORDINATOR_EXAMPLES)
@given(answer=POLLED_ANSWERS)
@example(
    answer={
        "status": 200,
        "headers": [("Content-Type", "text/html")],
        "body": HTML_PAGE,
        "described": "HTML page with 200",
        "transport": "plain",
        "cut": 0,
    }
)
async def test_polled_answers(  # noqa: PLR0917 - fixtures and the drawn answer
    hass: HomeAssistant,
    raw_server: RawHTTPServer,
    entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
    answer: dict[str, Any],
    fuzz_examples: Target,
) -> None:
    """Every answer ends as specified, and the next valid document recovers."""
    caplog.set_level(logging.INFO)
    coordinator: HAsyncDataUpdateCoordinator = entry.runtime_data.coordinator
    if not coordinator.last_update_success or coordinator.consecutive_failures:
        # A failed example (while Hypothesis replays it) must not leave its outage behind.
        raw_server.routes[STATUS_PATH] = json_reply(VALID)
        await poll(hass, entry)
    caplog.clear()
    reply, received = reply_for(answer)
    described = answer["described"]
    read = None
    if received is not None and answer["status"] == 200 and len(received) <= MAX_BODY_BYTES:
        read = expected_document(received)
    ours = read is not None and read["server"]["instance_id"] in (None, INSTANCE_ID)
    event("valid" if ours else "failed update")
    log = FailureLog(caplog, TITLE)

    raw_server.routes[STATUS_PATH] = reply
    await poll(hass, entry)
    assert_states(states(hass), expected_states(read if ours else None), described)
    assert issue_keys(hass, entry.entry_id) == (expected_issues(read) if ours else set()), described
    log.check(failed=not ours, described=described)

    raw_server.routes[STATUS_PATH] = json_reply(VALID)
    await poll(hass, entry)
    assert_states(states(hass), expected_states(expected_document(VALID)), described)
    assert not issue_keys(hass, entry.entry_id), described
    log.check(recovered=not ours, described=described)
    fuzz_examples(accepted=ours)


SUSTAINED: Final = (
    json_reply(b'{"schema_version": 2}'),
    json_reply(VALID[:100]),
    Reply.of(http_response(200, HTML_PAGE, [("Content-Type", "text/html")])),
    Reply.of(http_response(502, HTML_PAGE, [("Content-Type", "text/html")])),
    Reply.of(http_response(200, b"\x1f\x8bgarbage", [("Content-Encoding", "gzip")])),
    json_reply(b'{"error": "internal", "reason": "boom"}', 500),
    json_reply(VALID.replace(INSTANCE_ID.encode(), b"00000000-0000-4000-8000-000000000000")),
    json_reply(VALID.replace(b'"uptime_s":3600.5', b'"uptime_s":NaN')),
    json_reply(b"[" * 100_000),
    Reply([]),
)


async def test_sustained_bad_answers(
    hass: HomeAssistant,
    raw_server: RawHTTPServer,
    entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Bad answers in a row: one log line, and ``unreachable`` once past the threshold only.

    An invalid answer counts as a failed update: a server that answers garbage serves no status
    either, so after ``failure_threshold`` (3) of them in a row the unreachable issue is raised,
    naming the last error in one line. No other issue comes from a bad answer.
    """
    caplog.set_level(logging.INFO)
    log = FailureLog(caplog, TITLE)
    coordinator: HAsyncDataUpdateCoordinator = entry.runtime_data.coordinator
    failed = expected_states(None)
    for count, reply in enumerate(SUSTAINED, start=1):
        raw_server.routes[STATUS_PATH] = reply
        await poll(hass, entry)
        assert coordinator.consecutive_failures == count
        assert_states(states(hass), failed, f"bad answer {count}")
        assert issue_keys(hass, entry.entry_id) == (set() if count < 3 else {"unreachable"})
        log.check(failed=count == 1, described=f"bad answer {count}")
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"{entry.entry_id}_unreachable")
    assert issue is not None
    assert issue.translation_placeholders is not None
    error = issue.translation_placeholders["error"]
    assert error.isprintable(), error
    assert len(error) <= 300, error

    raw_server.routes[STATUS_PATH] = json_reply(VALID)
    await poll(hass, entry)
    assert not issue_keys(hass, entry.entry_id)
    assert_states(states(hass), expected_states(expected_document(VALID)), "recovery")
    log.check(recovered=True, described="recovery")
