"""One HTTP POST with a TOTAL deadline, standard library only.

urllib's ``timeout`` bounds each socket operation, not the request: a server that sends one
byte of its answer every few seconds holds the request for as long as it likes. Here a
watchdog timer shuts the connection's socket down at the deadline (``shutdown`` acts on the
socket, so it interrupts a read or write blocked in another thread, and the TLS handshake),
and every socket operation also has its own timeout. Redirects are never followed.
DNS resolution is the one step the deadline cannot interrupt.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

MAX_ANSWER_BYTES = 4096


@functools.lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    # Created on the first HTTPS post, not at import: loading the CA bundle costs a cold start.
    return ssl.create_default_context()


class DeadlineExceeded(TimeoutError):
    """The server did not complete its answer before the deadline."""


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    retry_after: float | None
    body_excerpt: bytes


class _Watch:
    """One request's socket (a duplicate descriptor) and its deadline; ``fired`` once cut."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock.dup()  # shutdown() on a duplicate descriptor stops the same connection
        self.deadline = deadline
        self.fired = False
        self.done = False


class _Watchdog:
    """One thread for all requests of the container (no thread per request): it shuts down the
    socket of every watch whose deadline passes before the request is done."""

    def __init__(self) -> None:
        self._watches: list[_Watch] = []
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._sleeping_until = float("inf")  # when the thread wakes next on its own

    def watch(self, sock: socket.socket, deadline: float) -> _Watch:
        watch = _Watch(sock, deadline)
        with self._wake:
            self._watches.append(watch)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="http-deadline-watchdog", daemon=True)
                self._thread.start()
            elif deadline < self._sleeping_until:  # otherwise it wakes in time anyway
                self._wake.notify()
        return watch

    def release(self, watch: _Watch) -> None:
        with self._wake:
            watch.done = True
            if watch in self._watches:
                self._watches.remove(watch)
        watch.sock.close()

    def _run(self) -> None:
        with self._wake:
            while True:
                now = time.monotonic()
                for watch in [w for w in self._watches if w.deadline <= now]:
                    self._watches.remove(watch)
                    watch.fired = True
                    with contextlib.suppress(OSError):
                        watch.sock.shutdown(socket.SHUT_RDWR)
                self._sleeping_until = min((w.deadline for w in self._watches), default=float("inf"))
                wait = self._sleeping_until - now
                self._wake.wait(timeout=None if wait == float("inf") else max(0.0, wait))


_WATCHDOG = _Watchdog()


def post(
    url: str, body: bytes, headers: dict[str, str], *, deadline: float, per_operation_timeout: float
) -> HttpAnswer:
    """POST ``body``; return the status, ``Retry-After`` and the start of the answer.

    ``deadline`` is on ``time.monotonic()``. Raises DeadlineExceeded when it passes, OSError /
    http.client.HTTPException for network and protocol failures.
    """
    parts = urlsplit(url)
    https = parts.scheme == "https"
    host = parts.hostname or ""
    port = parts.port or (443 if https else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    def remaining() -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded("deadline passed before the request started")
        return min(per_operation_timeout, left)

    sock = socket.create_connection((host, port), timeout=remaining())
    watchdog = _WATCHDOG.watch(sock, deadline)
    connection: http.client.HTTPConnection | None = None
    try:
        if https:
            sock = _tls_context().wrap_socket(sock, server_hostname=host)
        connection = (http.client.HTTPSConnection if https else http.client.HTTPConnection)(
            host, port, timeout=remaining()
        )
        connection.sock = sock  # already connected: http.client does not connect again
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        retry_after = parse_retry_after(response.getheader("Retry-After"))
        try:
            excerpt = response.read(MAX_ANSWER_BYTES)
        except (OSError, http.client.HTTPException):
            # The status line decides: a 2xx means the server has the alert even if the
            # rest of its answer was cut off (sending it again would duplicate it).
            excerpt = b""
        return HttpAnswer(response.status, retry_after, excerpt)
    except (OSError, http.client.HTTPException, ValueError):
        if watchdog.fired:
            raise DeadlineExceeded("no complete answer before the deadline") from None
        raise
    finally:
        _WATCHDOG.release(watchdog)
        if connection is not None:
            connection.close()
        else:
            sock.close()


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); None if absent or invalid."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
