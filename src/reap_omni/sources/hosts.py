"""Which hosts answer: network errors sorted into short reasons, a per-host circuit breaker, the timeouts.

A dead network must fail fast and say so in one line. ``classify`` turns requests/urllib3's nested
exceptions into a kind and a few words (``name resolution failed``, ``connection refused``, ``no answer
within 30 s``). ``HostHealth`` counts consecutive *reachability* failures per host (name resolution,
refused, unroutable, untrusted TLS, proxy down, timeouts); at ``limit`` (2: the first try and one short
probe) the host is marked unreachable for the rest of the process, and every client sharing the registry
(by default all of them: each source makes its own ``HttpClient``) fails at once for that host, without a
new connection attempt. A completed transfer from the host resets its count. Dropped connections, cut
bodies and 5xx are not reachability failures: they keep the client's ordinary retries.

A brief outage is not a dead host: the fail-fast is for hosts that never answered in this run. Once a host
has completed a transfer, a reachability failure starts an outage instead; the clients wait and retry with
backoff (``outage_wait``) and the host is declared down only when it has not answered for ``grace`` seconds
(``OUTAGE_GRACE``, 60 s) since the outage began.
"""

from __future__ import annotations

import errno
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from urllib.parse import urlsplit

import requests

from reap_omni.errors import ReapOmniError

TIMEOUT_ENV = "REAP_OMNI_HTTP_TIMEOUT"
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 30.0
#: seconds a host that has answered in this run may stay unreachable before it is declared down
OUTAGE_GRACE = 60.0
#: longest wait between two tries of a host in an outage
OUTAGE_MAX_WAIT = 8.0

#: kinds returned by ``classify``
UNREACHABLE, TIMEOUT, TRANSIENT = "unreachable", "timeout", "transient"

_HUB_DOMAINS = ("huggingface.co", "hf.co")


def http_timeout(env: Mapping[str, str] | None = None) -> tuple[float, float]:
    """``(connect, read)`` seconds from ``REAP_OMNI_HTTP_TIMEOUT``; default ``(10, 30)``.

    Format: ``READ`` (e.g. ``30``: read timeout 30 s, connect timeout ``min(10, READ)``) or
    ``CONNECT,READ`` (e.g. ``10,30``). Seconds may be fractional and must be positive. The read timeout
    is the longest silence tolerated from a server (before the response headers, or between body chunks),
    not a limit on a whole transfer.
    """
    raw = (os.environ if env is None else env).get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT
    try:
        values = [float(v) for v in raw.split(",")]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or not all(0 < v < float("inf") for v in values):
        raise ReapOmniError(f"{TIMEOUT_ENV}={raw!r}: expected seconds as READ or CONNECT,READ (e.g. 30 or 10,30)")
    if len(values) == 1:
        return min(DEFAULT_CONNECT_TIMEOUT, values[0]), values[0]
    return values[0], values[1]


def host_key(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, lower-case, without credentials: what the breaker counts by."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.rsplit('@', 1)[-1].lower()}"


def host_name(url: str) -> str:
    """``host[:port]`` as shown in messages."""
    return urlsplit(url).netloc.rsplit("@", 1)[-1].lower() or url


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception nested in it (args, urllib3's ``reason``, causes and contexts)."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo.extend(x for x in (*e.args, getattr(e, "reason", None), e.__cause__, e.__context__)
                    if isinstance(x, BaseException))


def classify(exc: BaseException, timeout: tuple[float, float]) -> tuple[str, str]:
    """``(kind, words)`` for a network exception: ``UNREACHABLE``/``TIMEOUT`` count against the host."""
    import urllib3.exceptions as u3

    chain = list(_chain(exc))

    def has(*types: type[BaseException]) -> bool:
        return any(isinstance(e, types) for e in chain)

    if has(u3.NameResolutionError, socket.gaierror):
        return UNREACHABLE, "name resolution failed"
    if has(requests.exceptions.ProxyError, u3.ProxyError):
        return UNREACHABLE, "the proxy did not connect"
    if has(ssl.SSLCertVerificationError):
        return UNREACHABLE, "TLS certificate not trusted"
    if has(ConnectionRefusedError):
        return UNREACHABLE, "connection refused"
    codes = {getattr(e, "errno", None) for e in chain}
    if codes & {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.EHOSTDOWN}:
        return UNREACHABLE, "network unreachable"
    if has(requests.exceptions.ConnectTimeout) or any(
        isinstance(e, u3.ConnectTimeoutError) and not isinstance(e, u3.NewConnectionError) for e in chain
    ):
        return TIMEOUT, f"no connection within {timeout[0]:g} s"
    if has(requests.exceptions.ReadTimeout, u3.ReadTimeoutError, TimeoutError, socket.timeout):
        return TIMEOUT, f"no answer within {timeout[1]:g} s"
    if has(requests.exceptions.ChunkedEncodingError, u3.IncompleteRead, u3.ProtocolError) and not has(
        ConnectionResetError, BrokenPipeError
    ):
        return TRANSIENT, "response cut short"
    if has(ConnectionError, u3.ProtocolError, requests.exceptions.ConnectionError):
        return TRANSIENT, "connection dropped"
    return TRANSIENT, type(exc).__name__


def is_hub_host(url: str, endpoint: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host_key(url) == host_key(endpoint) or any(host == d or host.endswith("." + d) for d in _HUB_DOMAINS)


def unreachable_message(url: str, words: str, *, hub: bool) -> str:
    """One line: ``cannot reach <host>: <words> (<what to do>)``."""
    if words == "connection refused":
        hint = ("check HF_ENDPOINT or set it to a running Hub mirror" if hub and os.environ.get("HF_ENDPOINT")
                else "offline or blocked? set HF_ENDPOINT to a Hub mirror" if hub else "server down or blocked?")
    elif words == "the proxy did not connect":
        hint = "check HTTPS_PROXY/HTTP_PROXY"
    elif words == "TLS certificate not trusted":
        hint = "a proxy intercepting TLS? point REQUESTS_CA_BUNDLE at its certificate"
    elif words.startswith("no "):
        hint = f"slow or blocked? raise {TIMEOUT_ENV}" + (" or set HF_ENDPOINT to a Hub mirror" if hub else "")
    else:
        hint = "offline? set HF_ENDPOINT to a Hub mirror" if hub else "offline?"
    return f"cannot reach {host_name(url)}: {words} ({hint})"


class HostHealth:
    """Thread-safe per-host circuit breaker.

    A host that never answered in this run is marked dead after ``limit`` consecutive reachability failures.
    A host that has answered (``ok``) gets ``grace`` seconds from the first failure of an outage before it is
    marked dead; until then ``strike`` returns None and ``outage_wait`` says how long to wait before the next
    try. ``clock`` is injectable so tests drive the outage without sleeping.
    """

    def __init__(self, limit: int = 2, *, grace: float = OUTAGE_GRACE,
                 clock: Callable[[], float] = time.monotonic):
        self.limit, self.grace, self.clock = limit, grace, clock
        self._lock = threading.Lock()
        self._strikes: dict[str, int] = {}
        self._dead: dict[str, str] = {}
        self._answered: set[str] = set()
        self._down_since: dict[str, float] = {}

    def dead(self, url: str) -> str | None:
        """The message recorded when ``url``'s host was marked unreachable, else None."""
        with self._lock:
            return self._dead.get(host_key(url))

    def strike(self, url: str, message: str) -> str | None:
        """Count a reachability failure; returns the host's dead message once it is declared down.

        A never-answered host is down at ``limit`` strikes; an answered one when its outage has lasted ``grace``.
        """
        key = host_key(url)
        with self._lock:
            if key in self._dead:
                return self._dead[key]
            if key in self._answered:
                since = self._down_since.setdefault(key, self.clock())
                if self.clock() - since < self.grace:
                    return None
                message = f"{message}; no answer for {self.grace:g} s after it had answered"
                self._dead[key] = message
                return message
            n = self._strikes[key] = self._strikes.get(key, 0) + 1
            if n >= self.limit:
                self._dead[key] = message
                return message
            return None

    def outage_wait(self, url: str, tries: int) -> float | None:
        """Seconds to wait before try ``tries + 1`` of a host in an outage; None when the host never answered
        in this run (it fails fast instead). The waits double from 1 s up to ``OUTAGE_MAX_WAIT`` and never
        reach past the end of the grace period by more than a moment."""
        key = host_key(url)
        with self._lock:
            if key not in self._answered or key in self._dead:
                return None
            left = self.grace - (self.clock() - self._down_since.get(key, self.clock()))
        return max(0.05, min(OUTAGE_MAX_WAIT, 2.0**tries, left))

    def answered(self, url: str) -> bool:
        """Whether ``url``'s host has completed a transfer in this run."""
        with self._lock:
            return host_key(url) in self._answered

    def ok(self, url: str) -> None:
        """A transfer from ``url``'s host completed: its failures so far were passing, and it has answered."""
        key = host_key(url)
        with self._lock:
            self._strikes.pop(key, None)
            self._down_since.pop(key, None)
            self._answered.add(key)

    def forget(self, url: str | None = None) -> None:
        """Forget what is known about ``url``'s host (or every host): the next request tries it again."""
        with self._lock:
            for table in (self._strikes, self._dead, self._down_since):
                if url is None:
                    table.clear()
                else:
                    table.pop(host_key(url), None)
            if url is None:
                self._answered.clear()
            else:
                self._answered.discard(host_key(url))

    def unreachable(self) -> dict[str, str]:
        with self._lock:
            return dict(self._dead)


#: the registry every ``HttpClient`` uses unless given its own
HOSTS = HostHealth()


def forget_unreachable_hosts() -> None:
    """Let the next request try every host again (a long-lived process whose network came back)."""
    HOSTS.forget()
