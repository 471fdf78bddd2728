"""A small stand-in for the HAsync server on 127.0.0.1, speaking the API.md contract.

It serves /api/v1/status and /api/v1/events (SSE) with Bearer auth, lets a test push
documents or raw bytes on the open streams, and can be stopped and started again on the
same port, like the real server restarting.
"""

import asyncio
from collections.abc import Awaitable, Callable
import json
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

type Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def frame(document: dict[str, Any], event_id: int) -> str:
    """Return one SSE frame the way API.md describes it."""
    return f"id: {event_id}\nevent: status\ndata: {json.dumps(document)}\n\n"


class FakeHAsyncServer:
    """The HAsync API on a real local socket."""

    def __init__(self, token: str, document: dict[str, Any]) -> None:
        """Serve ``document`` to clients that present ``token``."""
        self.token = token
        self.document = document
        self.status_calls = 0
        self.event_connections = 0
        self.status_handler: Handler | None = None
        """Replaces the normal /api/v1/status answer when set."""
        self.events_handler: Handler | None = None
        """Replaces the normal /api/v1/events answer when set."""
        self.send_initial = True
        self._queues: list[asyncio.Queue[str | None]] = []
        self._event_id = 0
        self._server: TestServer | None = None
        self.port: int | None = None
        self.connected = asyncio.Event()

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Listen (again on the same port after a stop)."""
        app = web.Application()
        app.router.add_get("/api/v1/status", self._status)
        app.router.add_get("/api/v1/events", self._events)
        app.router.add_get("/health", self._health)
        self._server = TestServer(app, host="127.0.0.1", port=self.port)
        await self._server.start_server()
        self.port = self._server.port

    async def stop(self) -> None:
        """Stop listening, then end every stream, like the real server on SIGTERM."""
        if self._server is not None:
            runner = self._server.runner
            assert runner is not None
            for site in list(runner.sites):
                await site.stop()
            self.end_streams()
            await self._server.close()
            self._server = None
        self.connected.clear()

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.token}"

    @staticmethod
    def _unauthorized() -> web.Response:
        return web.json_response({"error": "unauthorized", "reason": "invalid token"}, status=401)

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _status(self, request: web.Request) -> web.StreamResponse:
        self.status_calls += 1
        if self.status_handler is not None:
            return await self.status_handler(request)
        if not self._authorized(request):
            return self._unauthorized()
        return web.json_response(self.document)

    async def _events(self, request: web.Request) -> web.StreamResponse:
        if self.events_handler is not None:
            return await self.events_handler(request)
        if not self._authorized(request):
            return self._unauthorized()
        self.event_connections += 1
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._queues.append(queue)
        try:
            await response.write(b"retry: 5000\n\n")
            if self.send_initial:
                self._event_id += 1
                await response.write(frame(self.document, self._event_id).encode())
            self.connected.set()
            while (item := await queue.get()) is not None:
                await response.write(item.encode())
        except ConnectionResetError:
            pass
        finally:
            self._queues.remove(queue)
        return response

    def push(self, document: dict[str, Any]) -> None:
        """Push a status document on every open stream, and serve it from now on."""
        self.document = document
        self._event_id += 1
        self.send_raw(frame(document, self._event_id))

    def send_raw(self, text: str) -> None:
        """Write raw text on every open stream."""
        for queue in self._queues:
            queue.put_nowait(text)

    def end_streams(self) -> None:
        """Close every open stream, leaving the server up."""
        for queue in self._queues:
            queue.put_nowait(None)

    @property
    def open_streams(self) -> int:
        """How many clients are connected to the event stream."""
        return len(self._queues)
