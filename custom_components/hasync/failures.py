"""What a failed request means, in words: a translation key and its placeholders per client error.

The client's messages quote aiohttp or the server ("Cannot connect to host 127.0.0.1:8099
ssl:default [Connect call failed ('127.0.0.1', 8099)]"): they go to the debug log. Users get a
short sentence about the server instead ("Nothing answers at 127.0.0.1:8099: the app is stopped
or starting."), in the log line of a failed update, the unreachable repair and the setup forms.
The keys are exception translations (strings.json ``exceptions``), and the config flow's errors
under the same names.
"""

from yarl import URL

from .client.errors import (
    HAsyncAuthError,
    HAsyncConnectionError,
    HAsyncConnectionRefusedError,
    HAsyncError,
    HAsyncHostNotFoundError,
    HAsyncHostUnreachableError,
    HAsyncInvalidResponseError,
    HAsyncProxyError,
    HAsyncRateLimitedError,
    HAsyncServiceUnavailableError,
    HAsyncTimeoutError,
    HAsyncTLSError,
    HAsyncUnsupportedVersionError,
)
from .client.models import SCHEMA_VERSION


def server_address(url: str) -> tuple[str, str]:
    """Return the server's ``host:port`` (without a default port) and its host, for sentences."""
    target = URL(url)
    return target.host_port_subcomponent or url, target.host or url


def describe(err: HAsyncError, url: str, timeout: float) -> tuple[str, dict[str, str]]:
    """Return the translation key and placeholders that say what ``err`` means for the server.

    ``url`` is the server's, ``timeout`` the client's request timeout in seconds.
    """
    address, host = server_address(url)
    match err:  # the most specific class first: each of them is also a broader one
        case HAsyncConnectionRefusedError():
            return "connection_refused", {"address": address}
        case HAsyncHostNotFoundError():
            return "host_not_found", {"host": host}
        case HAsyncHostUnreachableError():
            return "host_unreachable", {"host": host}
        case HAsyncTLSError():
            return "tls_error", {"address": address}
        case HAsyncProxyError():
            return "proxy_error", {"address": address, "status": str(err.status)}
        case HAsyncTimeoutError():
            return "timeout", {"address": address, "seconds": f"{timeout:g}"}
        case HAsyncConnectionError():
            return "communication_error", {"address": address}
        case HAsyncAuthError():
            return "authentication_failed", {"address": address}
        case HAsyncRateLimitedError():
            return "rate_limited", {"address": address}
        case HAsyncServiceUnavailableError():
            # The server's own reason ("token store unavailable: …").
            return "service_unavailable", {"address": address, "reason": str(err)}
        case HAsyncUnsupportedVersionError():
            return "unsupported_version", {
                "address": address,
                "version": err.version,
                "supported": str(SCHEMA_VERSION),
            }
        case HAsyncInvalidResponseError():
            # The parser's words: which member is wrong, and how.
            return "invalid_response", {"address": address, "detail": str(err)}
    return "unknown_error", {"address": address, "error": str(err)}
