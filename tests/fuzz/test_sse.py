"""Fuzz target (d): event streams with broken framing (streams.py).

- The decoder, a pure function of the bytes: however the bytes are split (inside CRLF pairs,
  UTF-8 sequences, anywhere), it yields the events the reference decoder reads from them in one
  go, breaks the stream exactly when a line or an event's data exceeds the limit, and raises
  nothing but HAsyncInvalidResponseError.
- The real client and listener over HTTP: they deliver exactly the valid documents of the
  stream, in order, skip everything else, survive a mid-frame disconnect or an oversized line
  by reconnecting, and log nothing above debug.
- The same stream pushed to the real coordinator in Home Assistant: invalid pushed documents
  are skipped without counting as failed updates, the entities end at the last valid document,
  and nothing is logged at info or above.
"""

import asyncio
from collections.abc import AsyncGenerator
import contextlib
import logging
from typing import Final

import aiohttp
from homeassistant.core import HomeAssistant
from hypothesis import event, example, given, strategies as st
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.hasync.client.client import HAsyncClient
from custom_components.hasync.client.errors import HAsyncInvalidResponseError
from custom_components.hasync.client.models import StatusDocument
from custom_components.hasync.client.sse import MAX_EVENT_BYTES, SSEDecoder
from custom_components.hasync.coordinator import HAsyncDataUpdateCoordinator
from custom_components.hasync.push import HAsyncEventListener
from tests.common import wait_until
from tests.conftest import INSTANCE_ID, TOKEN

from .conftest import Target, fuzz_settings, minimum
from .documents import dumps, encode, expected_document, model_view
from .ha import EVENTS_PATH, STATUS_PATH, issue_keys, json_reply, states
from .oracle import assert_states, expected_states, slow_callback_warning
from .rawserver import SSE_HEAD, RawHTTPServer, Reply, sse_chunk
from .streams import Decoded, cuts, frame, marked_document, reference_events, streams

DECODER_EXAMPLES = 1000
LISTENER_EXAMPLES = 150
PUSH_EXAMPLES = 60
FUZZ_MINIMUMS = {
    "test_decoder_framing": minimum(DECODER_EXAMPLES),
    "test_listener_over_http": minimum(LISTENER_EXAMPLES),
    "test_pushed_to_the_coordinator": minimum(PUSH_EXAMPLES),
}

LIMIT: Final = 2048
"""The decoder's size limit in the pure target, so that giant lines stay cheap to draw."""
SENTINEL: Final = 987654.25
"""server.uptime_s of the document that ends every stream of the wire targets."""
SUFFIX: Final = b"\n\n" + frame(dumps(marked_document(SENTINEL))).encode()
"""Ends whatever line and event a stream left open, then sends the sentinel document."""


def decode_pieces(pieces: list[bytes], max_size: int) -> Decoded:
    """Feed the pieces to the client's decoder until it breaks the stream."""
    decoder = SSEDecoder(max_size=max_size)
    events = []
    broken = False
    for piece in pieces:
        try:
            events.extend(decoder.feed(piece))
        except HAsyncInvalidResponseError:
            broken = True
            break
    if not broken:  # an error after the last events of a piece is raised on the next call
        try:
            decoder.raise_for_error()
        except HAsyncInvalidResponseError:
            broken = True
    return Decoded(events, broken, decoder.last_event_id, decoder.retry_ms)


@fuzz_settings(DECODER_EXAMPLES)
@given(data=st.data(), stream=streams(giant=LIMIT))
@example(data=None, stream=b"retry: " + b"9" * 5000 + b"\n")
@example(data=None, stream=b"data: 1\n\ndata: " + b"x" * (LIMIT + 1))
def test_decoder_framing(data: st.DataObject | None, stream: bytes, fuzz_examples: Target) -> None:
    """Any split of any stream decodes as the reference does, in one go or in pieces."""
    expected = reference_events(stream, LIMIT)
    fuzz_examples(
        accepted=any(
            e.event == "status" and expected_document(e.data) is not None for e in expected.events
        )
    )
    event("broken" if expected.broken else f"{len(expected.events)} events")
    assert decode_pieces([stream], LIMIT) == expected
    pieces = data.draw(cuts(stream)) if data is not None else [bytes([b]) for b in stream]
    assert decode_pieces(pieces, LIMIT) == expected
    assert decode_pieces([bytes([byte]) for byte in stream[:300]], LIMIT) == reference_events(
        stream[:300], LIMIT
    )


def delivered_documents(stream: bytes, *, close: bool) -> list[dict[str, object]]:
    """Return what the listener must deliver (read by the oracle), sentinel last.

    A stream that stays open ends with SUFFIX; one that closes is followed by a new connection
    that sends the sentinel (as is a stream broken by an oversized line).
    """
    sent = stream if close else stream + SUFFIX
    decoded = reference_events(sent, MAX_EVENT_BYTES)
    documents = [
        read
        for decoded_event in decoded.events
        if decoded_event.event == "status"
        and (read := expected_document(decoded_event.data)) is not None
    ]
    if close or decoded.broken:
        sentinel = expected_document(dumps(marked_document(SENTINEL)))
        assert sentinel is not None
        documents.append(sentinel)
    return documents


def stream_replies(pieces: list[bytes], *, close: bool, delay: float) -> list[Reply]:
    """Return the event route: the fuzzed stream first, the sentinel on the next connection."""
    first = Reply(
        [SSE_HEAD, *(sse_chunk(piece) for piece in pieces if piece)]
        + ([] if close else [sse_chunk(SUFFIX)]),
        hold=not close,
        delay=delay,
    )
    again = Reply([SSE_HEAD, sse_chunk(SUFFIX)], hold=True)
    return [first, again]


def quiet(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    """Return the records at ``level`` or above (there must be none), but slow-step warnings."""
    return [
        f"{record.name}: {record.getMessage()[:200]}"
        for record in caplog.records
        if record.levelno >= level and not slow_callback_warning(record)
    ]


@pytest.fixture
async def session() -> AsyncGenerator[aiohttp.ClientSession]:
    """Return a plain aiohttp session."""
    async with aiohttp.ClientSession() as client_session:
        yield client_session


BIG_LINE: Final = b"data: " + b"x" * (MAX_EVENT_BYTES + 10) + b"\n\n"


@pytest.mark.filterwarnings("ignore:Generating overly large repr")
@fuzz_settings(LISTENER_EXAMPLES)
@given(
    data=st.data(),
    stream=streams(giant=3000),
    close=st.booleans(),
    delay=st.sampled_from([0.0, 0.0, 0.001]),
)
@example(
    data=None, stream=frame(dumps(marked_document(1.5))).encode() + BIG_LINE, close=False, delay=0
)
@example(data=None, stream=b": " + b"y" * (MAX_EVENT_BYTES + 1), close=False, delay=0)
@example(data=None, stream=b'id: 1\nevent: status\ndata: {"schema', close=True, delay=0)
async def test_listener_over_http(  # noqa: PLR0917 - fixtures and drawn values
    raw_server: RawHTTPServer,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
    data: st.DataObject | None,
    stream: bytes,
    close: bool,
    delay: float,
    fuzz_examples: Target,
) -> None:
    """The listener delivers the stream's valid documents in order, whatever else it holds."""
    caplog.clear()
    pieces = data.draw(cuts(stream)) if data is not None else [stream]
    raw_server.routes[EVENTS_PATH] = stream_replies(pieces, close=close, delay=delay)
    expected = delivered_documents(stream, close=close)
    fuzz_examples(accepted=len(expected) > 1)
    event(f"{len(expected) - 1} documents")
    delivered: list[StatusDocument] = []
    listener = HAsyncEventListener(
        HAsyncClient(raw_server.url, TOKEN, session, request_timeout=5),
        on_status=delivered.append,
        min_backoff=0.005,
        max_backoff=0.01,
        idle_timeout=5,
    )
    task = asyncio.create_task(listener.run())
    try:
        await wait_until(lambda: any(d.server.uptime_s == SENTINEL for d in delivered))
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert [model_view(document) for document in delivered] == expected
    assert quiet(caplog, logging.INFO) == []


@pytest.mark.filterwarnings("ignore:Generating overly large repr")
@fuzz_settings(PUSH_EXAMPLES)
@given(data=st.data(), stream=streams(giant=3000), close=st.booleans())
async def test_pushed_to_the_coordinator(  # noqa: PLR0917 - fixtures and drawn values
    hass: HomeAssistant,
    raw_server: RawHTTPServer,
    entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
    data: st.DataObject,
    stream: bytes,
    close: bool,
    fuzz_examples: Target,
) -> None:
    """Pushed garbage is skipped: no failed update, no log line, the last valid document wins."""
    caplog.set_level(logging.INFO)
    coordinator: HAsyncDataUpdateCoordinator = entry.runtime_data.coordinator
    pieces = data.draw(cuts(stream))
    raw_server.routes[EVENTS_PATH] = stream_replies(pieces, close=close, delay=0)
    # The polls that the end of a stream triggers get the sentinel too: whichever comes last,
    # the entities end at it.
    raw_server.routes[STATUS_PATH] = json_reply(encode(dumps(marked_document(SENTINEL))))
    expected = delivered_documents(stream, close=close)
    ours = [read for read in expected if read["server"]["instance_id"] in (None, INSTANCE_ID)]
    event(f"{len(ours) - 1} documents pushed")
    fuzz_examples(accepted=len(ours) > 1)
    pushes = coordinator.pushes
    caplog.clear()
    raw_server.close_connections()  # the listener reconnects and gets the fuzzed stream
    # Every valid document of ours is pushed, the sentinel last; a missing one times out.
    await wait_until(lambda: coordinator.pushes - pushes == len(ours))
    await hass.async_block_till_done()
    assert coordinator.pushes - pushes == len(ours)
    assert coordinator.data.server.uptime_s == SENTINEL
    assert coordinator.consecutive_failures == 0
    assert coordinator.last_update_success
    assert_states(states(hass), expected_states(expected[-1]), "after the sentinel")
    assert not issue_keys(hass, entry.entry_id)
    assert quiet(caplog, logging.INFO) == []
    # Back to a quiet stream for the next example.
    raw_server.routes[EVENTS_PATH] = Reply([SSE_HEAD, sse_chunk(b"retry: 5000\n\n")], hold=True)
    raw_server.close_connections()
    await wait_until(lambda: raw_server.open_streams == 1 and coordinator.listener.state.connected)
    await hass.async_block_till_done()
