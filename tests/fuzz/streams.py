"""Event streams with broken framing, and a reference decoder to judge them by.

``streams()`` draws the bytes of a ``/api/v1/events`` body: status frames whose data is a valid
document, an invalid one (valid JSON, wrong schema) or no JSON at all, interleaved with
comments, ``retry`` and ``id`` lines (huge ones too), unknown fields, ``data:`` without a
space, fields without a colon, frames without their blank line, giant lines, invalid UTF-8,
NUL bytes and binary garbage, each line ended by LF, CRLF or CR at random.

``reference_events()`` decodes such bytes in one go, straight from the WHATWG rules (and the
client's documented size limit); the client's incremental decoder must agree with it however
the bytes are split.
"""

import codecs
from dataclasses import dataclass
import itertools
import re
from typing import Any, Final

from hypothesis import strategies as st

from custom_components.hasync.client.sse import SSEEvent

from .documents import SCALARS, documents, dumps, fixture

LINE_ENDS: Final = st.sampled_from(["\n", "\r\n", "\r"])
_LINE_END: Final = re.compile(r"\r\n|\r|\n")


def marked_document(marker: float) -> dict[str, Any]:
    """Return the fixture with ``server.uptime_s`` set to a marker, to tell documents apart."""
    document = fixture()
    document["server"]["uptime_s"] = marker
    return document


def frame(data: str, *, event: str = "status", event_id: int = 1, end: str = "\n") -> str:
    """Return one well-formed frame."""
    return f"id: {event_id}{end}event: {event}{end}data: {data}{end}{end}"


@st.composite
def _data(draw: st.DrawFn) -> str:
    """Draw the data of a status frame: a document (valid or not), or not JSON."""
    kind = draw(st.sampled_from(["valid", "valid", "mutated", "mutated", "not_json"]))
    if kind == "valid":
        return dumps(marked_document(draw(st.integers(1, 10**6)) + 0.5))
    if kind == "mutated":
        document, _ = draw(documents(base=st.just(fixture())))
        return dumps(document)
    return dumps(draw(SCALARS)) if draw(st.booleans()) else draw(st.text(max_size=40))


_ITEM_KINDS: Final = st.sampled_from(
    [
        *("frame", "frame", "frame", "frame", "frame", "frame"),
        *("no_blank", "no_space", "multiline", "other_event", "comment", "retry", "id"),
        *("unknown", "blank", "giant", "garbage", "bad_utf8"),
    ]
)


@st.composite
def _item(draw: st.DrawFn, giant: int) -> bytes:
    """One piece of a stream: a few lines, each with its own line end, or raw bytes."""
    kind = draw(_ITEM_KINDS)
    if kind == "garbage":
        return draw(st.binary(max_size=48))
    if kind == "bad_utf8":
        return draw(
            st.sampled_from([b"data: \xff\xfe{", b"\xc3", b"data: \xed\xa0\x80", b"\x00\x00"])
        )
    if kind == "giant":
        size = draw(st.sampled_from([giant - 20, giant + 1, 2 * giant]))
        prefix = draw(st.sampled_from(["data: ", ": ", "event: ", "id: "]))
        lines = [prefix + "x" * size]
    elif kind in ("frame", "no_blank", "no_space"):
        data = draw(_data())
        colon = "data:" if kind == "no_space" else "data: "
        lines = [f"id: {draw(st.integers(0, 99))}", "event: status", colon + data]
        if kind != "no_blank":
            lines.append("")
    elif kind == "multiline":  # a document split over data lines: joined with "\n"
        data = draw(_data())
        cut = draw(st.integers(0, len(data)))
        lines = ["event: status", "data: " + data[:cut], "data: " + data[cut:], ""]
    elif kind == "other_event":
        lines = [
            f"event: {draw(st.sampled_from(['ping', '', 'Status', 'status ']))}",
            "data: x",
            "",
        ]
    elif kind == "comment":
        lines = [
            ":" + draw(st.text(max_size=20).map(lambda t: t.replace("\n", " ").replace("\r", " ")))
        ]
    elif kind == "retry":
        lines = ["retry: " + draw(st.sampled_from(["5000", "0", "-1", "1e3", "9" * 5000, ""]))]
    elif kind == "id":
        lines = ["id: " + draw(st.sampled_from(["7", "", "a\x00b", "x" * 300]))]
    elif kind == "unknown":
        lines = [draw(st.sampled_from(["foo: bar", "data", "event", "retry", "id", "Data: x"]))]
    else:
        lines = [""]
    return "".join(line + draw(LINE_ENDS) for line in lines).encode()


@st.composite
def streams(draw: st.DrawFn, giant: int) -> bytes:
    """Draw the bytes of an event stream; ``giant`` is the decoder's size limit."""
    items = draw(st.lists(_item(giant), min_size=1, max_size=8))
    prefix = b"\xef\xbb\xbf" if draw(st.integers(0, 9)) == 0 else b""
    return prefix + b"".join(items)


@st.composite
def cuts(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """Split bytes at random places (also inside CRLF pairs and UTF-8 sequences)."""
    if len(data) < 2:
        return [data]
    points = sorted(set(draw(st.lists(st.integers(1, len(data) - 1), max_size=12))))
    edges = [0, *points, len(data)]
    return [data[start:end] for start, end in itertools.pairwise(edges)]


@dataclass
class Decoded:
    """What a stream decodes to: events until the stream broke (if it did)."""

    events: list[SSEEvent]
    broken: bool
    last_event_id: str | None
    retry_ms: int | None


def reference_events(data: bytes, max_size: int) -> Decoded:
    """Decode a whole stream by the WHATWG rules, failing on lines or data over ``max_size``.

    The bytes are decoded as the stream so far: a UTF-8 sequence cut at the end is held back.
    """
    text = codecs.getincrementaldecoder("utf-8")(errors="replace").decode(data)
    text = text.removeprefix("\ufeff")
    *lines, rest = _LINE_END.split(text)
    events: list[SSEEvent] = []
    event, data_lines, size = "", [], 0
    last_id: str | None = None
    retry: int | None = None

    def result(broken: bool) -> Decoded:
        return Decoded(events, broken, last_id, retry)

    for line in lines:
        if len(line) > max_size:
            return result(True)
        if not line:
            if data_lines:
                events.append(SSEEvent(event or "message", "\n".join(data_lines), last_id))
            event, data_lines, size = "", [], 0
            continue
        if line.startswith(":"):
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            data_lines.append(value)
            size += len(value) + 1
            if size > max_size:
                return result(True)
        elif name == "event":
            event = value
        elif name == "id" and "\0" not in value:
            last_id = value
        elif name == "retry" and re.fullmatch(r"[0-9]{1,10}", value):
            retry = int(value)
    return result(len(rest) > max_size)
