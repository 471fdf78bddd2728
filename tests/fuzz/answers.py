"""HTTP answers for the fuzz targets: a status, headers, a body, and how it travels.

The body comes from documents.bodies(); the transport is intact (plain, chunked, gzip, HTTP/1.0
read until close) or broken (gzip garbage, a Content-Length above the body, garbage instead of
a status line, a connection closed without an answer).
"""

from typing import Any, Final

from hypothesis import strategies as st

from .documents import bodies, gzipped
from .rawserver import Reply, http_response

ALL_STATUSES: Final = (*[200] * 10, 401, 403, 429, 500, 502, 503, 504, 404, 301)
ALL_TRANSPORTS: Final = (
    *["plain"] * 8,
    *("chunked", "gzip", "gzip", "long", "http10"),
    *("gzip_garbage", "deflate_garbage", "short", "garbage_status", "no_response"),
)
RACY: Final = ("long",)
"""Transports the client may read as intact or as broken: with bytes after the declared
Content-Length, aiohttp fails the response if they arrive with it, not if they come later."""


@st.composite
def answers(
    draw: st.DrawFn,
    statuses: tuple[int, ...] = ALL_STATUSES,
    transports: tuple[str, ...] = ALL_TRANSPORTS,
    body_strategy: st.SearchStrategy[tuple[bytes, str]] | None = None,
) -> dict[str, Any]:
    """Draw an HTTP answer: status, headers, body and how it travels."""
    body, described = draw(body_strategy if body_strategy is not None else bodies())
    status = draw(st.sampled_from(statuses))
    headers = []
    content_type = draw(
        st.sampled_from(
            [
                "application/json",
                "application/json; charset=utf-8",
                "text/html",
                "text/plain",
                "application/octet-stream",
                None,
            ]
        )
    )
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    if status == 429:
        retry = draw(
            st.sampled_from(["30", "0", "-1", "²", "9" * 40, "Wed, 21 Oct 2026", "", None])
        )
        if retry is not None:
            headers.append(("Retry-After", retry))
    transport = draw(st.sampled_from(transports))
    return {
        "status": status,
        "headers": headers,
        "body": body,
        "described": f"{status} {transport} {content_type}: {described}",
        "transport": transport,
        "cut": draw(st.integers(0, max(0, len(body) - 1))),
    }


def reply_for(answer: dict[str, Any]) -> tuple[Reply, bytes | None]:
    """Return the raw reply, and the body the client receives (None: the answer is broken)."""
    status, headers, body = answer["status"], answer["headers"], answer["body"]
    transport = answer["transport"]
    if transport == "plain":
        return Reply.of(http_response(status, body, headers)), body
    if transport == "chunked":
        return Reply.of(http_response(status, body, headers, chunked=True)), body
    if transport == "gzip":
        encoded = [*headers, ("Content-Encoding", "gzip")]
        return Reply.of(http_response(status, gzipped(body), encoded)), body
    if transport == "long":  # Content-Length below the body: the client reads that much
        cut = answer["cut"]
        return Reply.of(http_response(status, body, headers, content_length=cut)), body[:cut]
    if transport == "http10":  # no length: the body ends when the connection closes
        head = f"HTTP/1.0 {status} X\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
        return Reply.of(head.encode("latin-1") + b"\r\n" + body), body
    if transport in ("gzip_garbage", "deflate_garbage"):
        encoding = "gzip" if transport == "gzip_garbage" else "deflate"
        garbage = b"\x1f\x8b\x08\x00garbage" + body[:100]
        encoded = [*headers, ("Content-Encoding", encoding)]
        return Reply.of(http_response(status, garbage, encoded)), None
    if transport == "short":  # Content-Length above the body, then the connection closes
        length = len(body) + 10
        return Reply.of(http_response(status, body, headers, content_length=length)), None
    if transport == "garbage_status":
        return Reply.of(b"HTTP/1.1 two hundred\r\n\r\n" + body), None
    return Reply([]), None  # no_response
