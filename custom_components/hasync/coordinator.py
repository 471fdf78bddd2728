"""The HAsync coordinator: polls the status document and applies pushed ones at once."""

import asyncio
from collections import deque
from collections.abc import Callable
from datetime import datetime
import time
from typing import override

from homeassistant.const import CONF_TOKEN, CONF_URL
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .client.client import HAsyncClient, redact_token
from .client.errors import HAsyncAuthError, HAsyncError, HAsyncRateLimitedError
from .client.models import StatusDocument
from .const import (
    CONF_ADDON_SLUG,
    DOMAIN,
    HISTORY_MAX_AGE,
    HISTORY_MAX_SAMPLES,
    LOGGER,
    REQUEST_TIMEOUT,
)
from .data import HAsyncConfigEntry, HAsyncOptions, StatusSample
from .failures import describe
from .push import HAsyncEventListener


class HAsyncDataUpdateCoordinator(DataUpdateCoordinator[StatusDocument]):
    """Keeps the latest status document of one HAsync server, and a short history of them.

    The push stream delivers changes at once; polling (every ``scan_interval``, whatever was
    pushed) measures the response time, checks the token and is the safety net. When an open
    stream ends, the coordinator polls immediately, so a server that went away is reported
    within about a second.
    """

    config_entry: HAsyncConfigEntry

    def __init__(self, hass: HomeAssistant, entry: HAsyncConfigEntry) -> None:
        """Create the client and the push listener for the entry's server."""
        self.client = HAsyncClient(
            entry.data[CONF_URL],
            entry.data[CONF_TOKEN],
            async_get_clientsession(hass),
            request_timeout=REQUEST_TIMEOUT,
        )
        self.options = HAsyncOptions.from_options(entry.options)
        self.listener = HAsyncEventListener(
            self.client,
            on_status=self._async_handle_push,
            on_disconnect=self._async_handle_stream_end,
            redact=self.redact,
        )
        self.samples: deque[StatusSample] = deque(maxlen=HISTORY_MAX_SAMPLES)
        """Status documents received in the last HISTORY_MAX_AGE, oldest first."""
        self.consecutive_failures = 0
        self.last_success_at: datetime | None = None
        self.last_failure_at: datetime | None = None
        self.last_error: str | None = None
        self.last_response_time_ms: float | None = None
        self.last_push_at: datetime | None = None
        self.polls = 0
        self.pushes = 0
        self._sw_version: str | None = None
        self._observers: dict[int, Callable[[], None]] = {}
        self._stream_checks: set[asyncio.Task[None]] = set()
        """Tasks of the refreshes the end of the push stream triggered (see _record_failure)."""
        self._last_observer_id = 0
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=entry.title,
            update_interval=self.options.scan_interval,
        )

    @property
    def instance_id(self) -> str:
        """The server's instance id, which is the entry's unique id."""
        # Both flows set it before creating the entry.
        return self.config_entry.unique_id or ""

    @property
    def addon_slug(self) -> str | None:
        """The add-on's Supervisor slug, known when the entry came from discovery."""
        slug = self.config_entry.data.get(CONF_ADDON_SLUG)
        return slug if isinstance(slug, str) and slug else None

    @callback
    def async_add_observer(self, observer: Callable[[], None]) -> CALLBACK_TYPE:
        """Call ``observer`` after every update, failed or not, polled or pushed.

        Entities only hear about changes (DataUpdateCoordinator stays silent while failures
        repeat); rules that count consecutive failures need every outcome.
        """
        self._last_observer_id += 1
        key = self._last_observer_id
        self._observers[key] = observer

        @callback
        def remove() -> None:
            self._observers.pop(key, None)

        return remove

    @callback
    def _async_notify_observers(self) -> None:
        for observer in list(self._observers.values()):
            try:
                observer()
            except Exception:  # logged with its traceback; the other observers still run
                LOGGER.exception("Error in a HAsync update observer")

    @override
    @callback
    def _async_refresh_finished(self) -> None:
        """Tell the observers about the outcome of a poll."""
        self._async_notify_observers()

    @callback
    def async_start_push(self) -> None:
        """Start the push listener; it is cancelled with the entry's other tasks on unload."""
        self.config_entry.async_create_background_task(
            self.hass, self.listener.run(), f"{DOMAIN} event stream {self.config_entry.entry_id}"
        )

    @override
    async def _async_update_data(self) -> StatusDocument:
        """Fetch the status document."""
        started = time.monotonic()
        try:
            document = await self.client.status()
        except HAsyncError as err:
            self._record_failure(err)
            raise self._translate(err) from err
        elapsed_ms = (time.monotonic() - started) * 1000
        if not self._is_ours(document):
            error = UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="instance_mismatch",
                translation_placeholders={
                    "instance_id": self.redact(str(document.server.instance_id))
                },
            )
            self._record_failure(error)
            raise error
        self.polls += 1
        self.last_response_time_ms = round(elapsed_ms, 1)
        self._record_success(document, dt_util.utcnow())
        # The server answers again: do not let a push backoff delay the next stream.
        self.listener.reconnect_now()
        return document

    def redact(self, text: str) -> str:
        """Return ``text`` without the entry's token: the server may echo it in any text."""
        return redact_token(text, self.config_entry.data[CONF_TOKEN])

    def _is_ours(self, document: StatusDocument) -> bool:
        """Return whether the document comes from this entry's server instance.

        A server whose database is unavailable cannot tell its instance id (null). Its
        document is taken: the server accepted this entry's token, and the document is what
        reports the database problem (as a repair) instead of an outage.
        """
        instance_id = document.server.instance_id
        return instance_id is None or instance_id == self.instance_id

    def _translate(self, err: HAsyncError) -> Exception:
        """Turn a client error into the translated error Home Assistant logs and shows.

        The client's own message (aiohttp's or the server's words) goes to the debug log only.
        """
        LOGGER.debug("Updating from the HAsync server failed: %s: %s", type(err).__name__, err)
        key, placeholders = describe(err, self.client.url, self.client.request_timeout)
        if isinstance(err, HAsyncAuthError):
            return ConfigEntryAuthFailed(
                translation_domain=DOMAIN,
                translation_key=key,
                translation_placeholders=placeholders,
            )
        return UpdateFailed(
            translation_domain=DOMAIN,
            translation_key=key,
            translation_placeholders=placeholders,
            retry_after=err.retry_after if isinstance(err, HAsyncRateLimitedError) else None,
        )

    @callback
    def _async_handle_push(self, document: StatusDocument) -> None:
        """Apply a document the server pushed, without waiting for a poll.

        This is async_set_updated_data without its restart of the poll timer: the server
        pushes at least every 30 s, so that restart would stop polling altogether, and with
        it the response time and the check of the token (the server keeps a stream open
        after its token is rotated; only a poll then sees the 401 that starts reauth).
        """
        if not self._is_ours(document):
            LOGGER.debug("Ignoring a pushed document of another instance")
            return
        recovered = not self.last_update_success
        self.pushes += 1
        self.last_push_at = now = dt_util.utcnow()
        self._record_success(document, now)
        if recovered:
            # DataUpdateCoordinator logs this only for polls; push recovers first.
            self.logger.info("Fetching %s data recovered", self.name)
        self.data = document
        self.last_update_success = True
        self.async_update_listeners()
        self._async_notify_observers()

    @callback
    def _async_handle_stream_end(self) -> None:
        """Check the server at once when its stream ends: it may have gone away.

        This bypasses the refresh debouncer, whose cooldown would delay a second check by
        10 s; the listener calls this at most twice per lost stream.
        """
        self.config_entry.async_create_task(
            self.hass, self._async_stream_check(), f"{DOMAIN} refresh after stream end"
        )

    async def _async_stream_check(self) -> None:
        """Refresh in a task that _record_failure knows as a stream check."""
        task = asyncio.current_task()
        assert task is not None  # noqa: S101 - a coroutine run by a task
        self._stream_checks.add(task)
        try:
            await self.async_refresh()
        finally:
            self._stream_checks.discard(task)

    def _record_success(self, document: StatusDocument, now: datetime) -> None:
        self.consecutive_failures = 0
        self.last_success_at = now
        self.last_error = None
        self.samples.append(StatusSample(now, document))
        cutoff = now - HISTORY_MAX_AGE
        # Keep one sample at or before the cutoff, so a window of HISTORY_MAX_AGE is covered.
        while len(self.samples) > 1 and self.samples[1].received_at <= cutoff:
            self.samples.popleft()
        self._update_device(document.server.version)

    def _record_failure(self, err: Exception) -> None:
        """Count a failed update.

        The checks that follow the end of the push stream find an outage within a second; the
        polls then measure how long it lasts. So a failed stream check counts only as the first
        failure of an outage: the second check of the same lost stream, a moment later, does not
        count the same outage twice. Reconnection attempts of the stream are no updates and
        never count.
        """
        stream_check = asyncio.current_task() in self._stream_checks
        if not (stream_check and self.consecutive_failures):
            self.consecutive_failures += 1
        self.last_failure_at = dt_util.utcnow()
        self.last_error = f"{type(err).__name__}: {err}"

    def _update_device(self, version: str) -> None:
        """Keep the device's software version in step with the server (after an update)."""
        if version == self._sw_version:
            return
        first = self._sw_version is None
        self._sw_version = version
        if first:
            return  # the entities register the device with this version
        registry = dr.async_get(self.hass)
        if device := registry.async_get_device_by_identifier(
            (DOMAIN, self.instance_id), self.config_entry.entry_id
        ):
            registry.async_update_device(device.id, sw_version=version)
