"""A raw HTTP/1.1 server on 127.0.0.1 that answers with whatever bytes a fuzz test sets.

aiohttp's own server would refuse to send most of what the fuzzers need (a wrong
Content-Length, broken chunked encoding, garbage instead of a status line, a connection that
closes mid-body), so this one writes the bytes itself. Each route holds a ``Reply``: the bytes
to send, in chunks, and whether to keep the connection open afterwards (for event streams).
"""

import asyncio
from collections.abc import Iterable
import contextlib
from dataclasses import dataclass, field
from typing import Final

REASONS: Final = {
    200: "OK",
    301: "Moved Permanently",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def http_response(
    status: int,
    body: bytes,
    headers: Iterable[tuple[str, str]] = (),
    *,
    content_length: int | None = None,
    chunked: bool = False,
) -> bytes:
    """Build a response: status line, headers, body (``Connection: close`` always)."""
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Whatever')}"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    lines.append("Connection: close")
    if chunked:
        lines.append("Transfer-Encoding: chunked")
        payload = (
            (f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n") if body else b"0\r\n\r\n"
        )
    else:
        lines.append(f"Content-Length: {len(body) if content_length is None else content_length}")
        payload = body
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


SSE_HEAD: Final = http_response(200, b"", [("Content-Type", "text/event-stream")], chunked=True)[
    : -len(b"0\r\n\r\n")
]
"""The head of an endless event-stream response; its body follows as chunks (sse_chunk)."""


def sse_chunk(data: bytes) -> bytes:
    """Frame bytes of an event stream as one HTTP chunk."""
    return f"{len(data):x}\r\n".encode() + data + b"\r\n" if data else b""


@dataclass
class Reply:
    """What a route answers: raw bytes, sent in pieces; then close, or hold the connection."""

    pieces: list[bytes]
    hold: bool = False
    """Keep the connection open after the pieces (an event stream that stays up)."""
    delay: float = 0.0
    """Seconds to wait between pieces."""

    @classmethod
    def of(cls, data: bytes) -> Reply:
        """Send ``data`` at once, then close."""
        return cls([data])


@dataclass
class RawHTTPServer:
    """Serves ``routes[path]`` to every request for that path; 404 for the others.

    A route may also be a list of replies: one per connection, in order, the last one repeating.
    """

    routes: dict[str, Reply | list[Reply]] = field(default_factory=dict)
    requests: list[tuple[str, bytes]] = field(default_factory=list)
    """(path, request head) of every request, in order."""
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    _held: set[asyncio.StreamWriter] = field(default_factory=set)
    port: int = 0

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Close every connection and stop listening."""
        if self._server is not None:
            self._server.close()
            self.close_connections()
            await self._server.wait_closed()
            self._server = None

    def close_connections(self) -> None:
        """Close every open connection (ends held event streams)."""
        for writer in list(self._writers):
            writer.close()

    @property
    def open_streams(self) -> int:
        """How many connections are held open (event streams)."""
        return len(self._held)

    def count(self, path: str) -> int:
        """How many requests came for ``path``."""
        return sum(1 for requested, _ in self.requests if requested == path)

    def _reply(self, path: str) -> Reply:
        route = self.routes.get(path)
        if route is None:
            return Reply.of(http_response(404, b"not found"))
        if isinstance(route, Reply):
            return route
        return route.pop(0) if len(route) > 1 else route[0]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1].decode("latin-1")
            self.requests.append((path, head))
            reply = self._reply(path)
            for index, piece in enumerate(reply.pieces):
                if index and reply.delay:
                    await asyncio.sleep(reply.delay)
                writer.write(piece)
                await writer.drain()
            if reply.hold:
                self._held.add(writer)
                await reader.read()  # until the client goes away, or close_connections()
        except ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError:
            pass
        finally:
            self._writers.discard(writer)
            self._held.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
