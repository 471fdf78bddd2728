"""Helpers shared by the HAsync tests."""

import asyncio
from collections.abc import Callable


async def wait_until(predicate: Callable[[], bool], limit: float = 5.0) -> None:
    """Poll the event loop until ``predicate`` holds; fail after ``limit`` seconds.

    For conditions that real sockets make true (a local aiohttp server), where there is
    no event of our own to await.
    """
    async with asyncio.timeout(limit):
        while not predicate():  # noqa: ASYNC110 - the condition has no event to await
            await asyncio.sleep(0.01)
