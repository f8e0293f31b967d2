"""The one HTTP client every source uses: retries, Range reads, truncation checks, byte counts, tokens.

Networking concerns live here once so each source kind only says *what* to fetch:
- retries with exponential backoff on dropped connections, cut bodies, 408/429/5xx; ``Retry-After`` is honoured;
- a dead network fails fast (``hosts``): name resolution failure, connection refused or a timeout gets one
  short probe, then the host is marked unreachable for the process and every client fails at once for it
  with one line (``cannot reach <host>: name resolution failed (offline? ...)``); a host that already answered in
  this run is in a brief outage instead, retried with backoff up to ``hosts.OUTAGE_GRACE`` (60 s);
- timeouts come from ``REAP_OMNI_HTTP_TIMEOUT`` (``READ`` or ``CONNECT,READ`` seconds; default ``10,30``);
- a body shorter than its ``Content-Length`` is detected and the missing tail refetched with a Range request;
  a JSON API answer that is cut short or not JSON is fetched again the same way;
- retry notes are one short line on the ``reap_omni.sources.http`` logger (the CLI hides them with ``--quiet``);
- every body byte received is counted (``bytes_read``), for stats and the download-efficiency benchmark;
- the Hub token (``token=``, ``HF_TOKEN`` or the cached ``hf auth login``) is sent only to ``HF_ENDPOINT``'s
  host, and is redacted from every message we produce;
- 401/403/404 become ``SourceUnavailable`` with a message that says what the user can do.
"""

from __future__ import annotations

import email.utils
import io
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter

from reap_omni.sources.base import SourceUnavailable
from reap_omni.sources.hosts import HOSTS, TRANSIENT, HostHealth, classify, http_timeout, is_hub_host
from reap_omni.sources.hosts import unreachable_message as _unreachable_message
from reap_omni.sources.http_errors import ErrorContext, http_error

__all__ = ["DEFAULT_ENDPOINT", "ErrorContext", "HttpClient", "ResumableStream", "find_token", "hub_endpoint", "pause",
           "redact", "short_url"]

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://huggingface.co"
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_NETWORK_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
_TOKEN_RE = re.compile(r"\bhf_[A-Za-z0-9]{6,}\b")
#: longest wait before the one probe of a host that just failed to connect
PROBE_DELAY = 1.0


def pause(seconds: float) -> None:
    """The wait between tries of every client built without ``sleep=`` (tests replace this one name)."""
    time.sleep(seconds)


def hub_endpoint() -> str:
    """The Hub base URL: ``HF_ENDPOINT`` (a mirror) when set, else huggingface.co."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def find_token(explicit: str | None = None) -> str | None:
    """The token to send: an explicit one, else ``HF_TOKEN`` or the cached login (via huggingface_hub)."""
    if explicit:
        return explicit
    try:
        from huggingface_hub import get_token
    except ImportError:  # pragma: no cover - huggingface_hub is a dependency
        return os.environ.get("HF_TOKEN") or None
    return get_token()


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with the given secrets and anything shaped like a Hub token replaced by ``***``."""
    for s in secrets:
        if s:
            text = text.replace(s, "***")
    return _TOKEN_RE.sub("hf_***", text)


def short_url(url: str, limit: int = 60) -> str:
    """``host/path`` of ``url`` without the query, the middle of a long path elided: for one-line messages."""
    parts = urlsplit(url)
    path = parts.path
    if len(path) > limit:
        names = path.rsplit("/", 2)[-2:]
        tail = "/".join(names) if len("/".join(names)) <= limit - 3 else names[-1]
        if len(tail) > limit - 3:
            tail = tail[:20] + "…" + tail[-(limit - 24):]
        path = "/…/" + tail
    return parts.netloc.rsplit("@", 1)[-1] + path


class HostDown(requests.ConnectionError):
    """Raised before connecting to a host already known to be unreachable (no connection is attempted)."""


class _BreakerAdapter(HTTPAdapter):
    """Refuses, without connecting, every hop (redirects included) to a host marked unreachable."""

    def __init__(self, hosts: HostHealth):
        super().__init__()
        self.hosts = hosts

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        message = self.hosts.dead(request.url or "")
        if message is not None:
            raise HostDown(message, request=request)
        return super().send(request, *args, **kwargs)


def _failed_url(exc: BaseException, url: str) -> str:
    """The URL whose connection failed (a redirect's target rather than the first URL)."""
    req = getattr(exc, "request", None)
    return getattr(req, "url", None) or url


def _retry_after(resp: requests.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time()) if when else None


class HttpClient:
    """A ``requests.Session`` with retries, Range reads, byte counting and Hub-aware error messages.

    ``timeout`` is ``(connect, read)`` seconds, by default from ``REAP_OMNI_HTTP_TIMEOUT`` (see
    ``hosts.http_timeout``). ``hosts`` is the per-host circuit breaker, shared by every client unless one
    is given.
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        endpoint: str | None = None,
        retries: int = 5,
        backoff: float = 1.0,
        max_backoff: float = 8.0,
        max_retry_after: float = 300.0,
        timeout: tuple[float, float] | None = None,
        sleep: Callable[[float], None] | None = None,
        session: requests.Session | None = None,
        hosts: HostHealth | None = None,
    ):
        self.endpoint = (endpoint or hub_endpoint()).rstrip("/")
        self._token = find_token(token)
        self.retries, self.backoff, self.max_backoff = retries, backoff, max_backoff
        self.max_retry_after, self._sleep = max_retry_after, sleep or pause
        self.timeout = tuple(timeout) if timeout is not None else http_timeout()
        self.hosts = hosts if hosts is not None else HOSTS
        if session is None:
            session = requests.Session()
            adapter = _BreakerAdapter(self.hosts)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
        self.session = session
        self.session.headers["User-Agent"] = "reap-omni (+https://github.com/reap-omni)"
        self._bytes = 0
        self._lock = threading.Lock()

    # -- accounting ----------------------------------------------------------------------------------
    @property
    def bytes_read(self) -> int:
        return self._bytes

    def count(self, n: int) -> None:
        with self._lock:
            self._bytes += n

    @property
    def has_token(self) -> bool:
        return bool(self._token)

    def redact(self, text: str) -> str:
        return redact(text, self._token)

    # -- URLs ----------------------------------------------------------------------------------------
    def resolve_url(self, repo: str, revision: str, path: str) -> str:
        return f"{self.endpoint}/datasets/{repo}/resolve/{quote(revision, safe='')}/{quote(path)}"

    def api_url(self, repo: str, *parts: str) -> str:
        return "/".join([f"{self.endpoint}/api/datasets/{repo}", *parts])

    def _headers(self, url: str, extra: dict[str, str] | None) -> dict[str, str]:
        headers = dict(extra or {})
        if self._token and urlsplit(url).netloc == urlsplit(self.endpoint).netloc:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers

    # -- requests ------------------------------------------------------------------------------------
    def _delay(self, attempt: int) -> float:
        return min(self.max_backoff, self.backoff * (2**attempt))

    def request(
        self,
        method: str,
        url: str,
        *,
        ctx: ErrorContext | None = None,
        headers: dict[str, str] | None = None,
        stream: bool = True,
        **kwargs: Any,
    ) -> requests.Response:
        """Send a request, retrying transient failures; return a 2xx response or raise ``SourceUnavailable``.

        A host that cannot be reached (name resolution, refused, timeout, ...) gets one probe after a short
        delay, not the full retries; then, or at once if it is already known to be down, one line is raised.
        A host that has answered in this run is in an outage instead: waits with backoff (not counted as
        retries) until it answers again or ``hosts.grace`` has passed.
        """
        ctx = ctx or ErrorContext()
        last = ""
        probed = False
        attempt = outages = 0
        while True:
            self._raise_if_down(url)
            try:
                resp = self.session.request(
                    method, url, headers=self._headers(url, headers), stream=stream, timeout=self.timeout, **kwargs
                )
            except HostDown as exc:  # a redirect to a host known to be down
                raise SourceUnavailable(str(exc), reason="network") from None
            except _NETWORK_ERRORS as exc:
                kind, last = classify(exc, self.timeout)
                if kind != TRANSIENT:
                    target = _failed_url(exc, url)
                    message = self.unreachable(target, last)
                    verdict = self.hosts.strike(target, message)  # the host's first message, once it is down
                    if verdict is not None:
                        raise SourceUnavailable(verdict, reason="network") from None
                    wait = self.hosts.outage_wait(target, outages)
                    if wait is not None:  # it answered earlier in this run: a brief outage, not a dead host
                        outages += 1
                        log.warning("%s: %s; it answered before, try %d in %.1fs (up to %g s)", ctx.label(),
                                    message, outages + 1, wait, self.hosts.grace)
                        self._sleep(wait)
                        continue
                    if probed:
                        raise SourceUnavailable(message, reason="network") from None
                    probed = True
                    delay = min(self.backoff, PROBE_DELAY)
                    log.info("%s (%s); one more try in %.1fs", message, self.redact(short_url(target)), delay)
                    self._sleep(delay)
                    continue
                delay = self._delay(attempt)
            else:
                if not stream:
                    self.hosts.ok(resp.url or url)  # the whole body arrived
                if resp.status_code < 400:
                    return resp
                if resp.status_code not in RETRY_STATUSES:
                    resp.close()
                    raise self._http_error(resp, url, ctx)
                last = f"HTTP {resp.status_code}"
                after = _retry_after(resp)
                delay = min(after, self.max_retry_after) if after is not None else self._delay(attempt)
                resp.close()
            if attempt == self.retries:
                break
            attempt += 1
            log.warning("%s: %s from %s; retry %d/%d in %.1fs", ctx.label(), last,
                        self.redact(short_url(url)), attempt, self.retries, delay)
            self._sleep(delay)
        raise SourceUnavailable(
            f"{ctx.label()}: {self.redact(short_url(url))} failed after {self.retries + 1} attempts ({last}); "
            "retry later",
            reason="network",
        )

    def unreachable(self, url: str, words: str) -> str:
        """The one-line message for ``url``'s host being unreachable for reason ``words``."""
        return self.redact(_unreachable_message(url, words, hub=is_hub_host(url, self.endpoint)))

    def _raise_if_down(self, url: str) -> None:
        message = self.hosts.dead(url)
        if message is not None:
            raise SourceUnavailable(message, reason="network")

    def _stalled(self, exc: BaseException, url: str) -> None:
        """A body read failed: a timeout counts against the host, and raises once the host is marked down."""
        kind, words = classify(exc, self.timeout)
        if kind != TRANSIENT:
            verdict = self.hosts.strike(url, self.unreachable(url, words))
            if verdict is not None:
                raise SourceUnavailable(verdict, reason="network") from None

    def _http_error(self, resp: requests.Response, url: str, ctx: ErrorContext) -> SourceUnavailable:
        return http_error(resp.status_code, resp.headers.get("X-Error-Code", ""), url, ctx,
                          endpoint=self.endpoint, token_sent=bool(self._token), redact=self.redact)

    def get_json(self, url: str, *, ctx: ErrorContext | None = None, **kwargs: Any) -> Any:
        return self._json(url, ctx, **kwargs)[1]

    def get_pages(self, url: str, *, ctx: ErrorContext | None = None, params: dict | None = None) -> Iterator[Any]:
        """Items of a paginated JSON list (the Hub's ``Link: <...>; rel="next"`` cursor pagination)."""
        next_url: str | None = url
        while next_url:
            resp, items = self._json(next_url, ctx, params=params)
            yield from items
            next_url, params = resp.links.get("next", {}).get("url"), None

    def _json(self, url: str, ctx: ErrorContext | None, **kwargs: Any) -> tuple[requests.Response, Any]:
        """A JSON answer; a body that is cut short or not JSON is fetched again, like a truncated file."""
        ctx = ctx or ErrorContext()
        for attempt in range(self.retries + 1):
            resp = self.request("GET", url, ctx=ctx, stream=False, **kwargs)
            self.count(len(resp.content))
            try:
                return resp, resp.json()
            except ValueError:
                size = len(resp.content)
            if attempt == self.retries:
                break
            delay = self._delay(attempt)
            log.warning("%s: invalid or cut-short JSON (%d bytes) from %s; retry %d/%d in %.1fs", ctx.label(), size,
                        self.redact(short_url(url)), attempt + 1, self.retries, delay)
            self._sleep(delay)
        raise SourceUnavailable(
            f"{ctx.label()}: {self.redact(short_url(url))} answered invalid JSON {self.retries + 1} times "
            f"({size} bytes; a proxy or captive portal?); retry later",
            reason="network",
        )

    def head_size(self, url: str, *, ctx: ErrorContext | None = None) -> int | None:
        """The size of a remote file from a HEAD request (None when the server does not say)."""
        resp = self.request("HEAD", url, ctx=ctx, stream=False, allow_redirects=True)
        value = resp.headers.get("X-Linked-Size") or resp.headers.get("Content-Length")
        return int(value) if value and value.isdigit() else None

    def get_bytes(self, url: str, start: int | None = None, end: int | None = None, *,
                  ctx: ErrorContext | None = None) -> bytes:
        """The whole body, or bytes [start, end) with a Range request; short bodies are completed by refetching."""
        buf = bytearray()
        attempts = 0
        while True:
            pos = (start or 0) + len(buf)
            if end is not None and pos >= end:
                return bytes(buf)
            headers = {}
            if pos > 0 or end is not None:
                headers["Range"] = f"bytes={pos}-" + (str(end - 1) if end is not None else "")
            resp = self.request("GET", url, ctx=ctx, headers=headers)
            expected = _expected_length(resp, pos, end)
            skip = pos if resp.status_code == 200 and pos > 0 else 0  # server ignored the Range header
            got = 0
            try:
                for chunk in resp.raw.stream(1 << 16, decode_content=False):
                    self.count(len(chunk))
                    if skip:
                        cut = min(skip, len(chunk))
                        chunk, skip = chunk[cut:], skip - cut
                    if end is not None:
                        chunk = chunk[: max(0, end - pos - got)]
                    buf += chunk
                    got += len(chunk)
            except _NETWORK_ERRORS + _urllib3_errors() as exc:
                resp.close()
                self._stalled(exc, resp.url or url)
                log.warning("%s: %s cut after %d bytes (%s); refetching the rest", (ctx or ErrorContext()).label(),
                            self.redact(short_url(url)), got, classify(exc, self.timeout)[1])
            finally:
                resp.close()
            if expected is None or got >= expected:
                self.hosts.ok(resp.url or url)
                return bytes(buf)
            attempts += 1
            if attempts > self.retries:
                raise SourceUnavailable(
                    f"{(ctx or ErrorContext()).label()}: {self.redact(short_url(url))} kept ending early "
                    f"({got} of {expected} bytes) after {attempts} attempts; retry later",
                    reason="network",
                )
            self._sleep(self._delay(attempts - 1))

    def open_stream(self, url: str, *, ctx: ErrorContext | None = None) -> ResumableStream:
        """A sequential file object over the body that resumes with a Range request when a transfer is cut."""
        return ResumableStream(self, url, ctx or ErrorContext())


def _urllib3_errors() -> tuple[type[BaseException], ...]:
    import urllib3.exceptions as e

    return (e.ProtocolError, e.ReadTimeoutError, e.IncompleteRead)


def _expected_length(resp: requests.Response, pos: int, end: int | None) -> int | None:
    """Bytes the caller should receive from this response, from Content-Range/Content-Length."""
    if resp.status_code == 206:
        m = re.match(r"bytes (\d+)-(\d+)/", resp.headers.get("Content-Range", ""))
        if m:
            return int(m.group(2)) - int(m.group(1)) + 1
    length = resp.headers.get("Content-Length")
    if length is None or not length.isdigit():
        return None
    total = int(length)
    if resp.status_code == 200:
        stop = total if end is None else min(end, total)
        return max(0, stop - pos)
    return total


class ResumableStream(io.RawIOBase):
    """Read-only, forward-only body of a GET; a cut transfer is resumed from the current offset."""

    def __init__(self, client: HttpClient, url: str, ctx: ErrorContext):
        super().__init__()
        self.client, self.url, self.ctx = client, url, ctx
        self.pos = 0
        self.total: int | None = None
        self._resp: requests.Response | None = None
        self._failures = 0

    def readable(self) -> bool:
        return True

    def _where(self) -> str:
        return self.client.redact(short_url(self.url))

    def _open(self) -> None:
        headers = {"Range": f"bytes={self.pos}-"} if self.pos else {}
        resp = self.client.request("GET", self.url, ctx=self.ctx, headers=headers)
        if self.pos and resp.status_code == 200:
            resp.close()
            raise SourceUnavailable(
                f"{self.ctx.label()}: {self._where()} was cut at byte {self.pos} and the server "
                "does not support resuming (no Range support); retry later",
                reason="network",
            )
        length = resp.headers.get("Content-Length")
        if self.total is None and length and length.isdigit():
            self.total = self.pos + int(length)
        self._resp = resp

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        while True:
            if self.total is not None and self.pos >= self.total:
                return 0
            if self._resp is None:
                self._open()
            resp = self._resp
            assert resp is not None
            try:
                data = resp.raw.read(len(view), decode_content=False)
            except _NETWORK_ERRORS + _urllib3_errors() as exc:
                self._reset()
                self.client._stalled(exc, resp.url or self.url)
                data = None
            if data:
                n = len(data)
                view[:n] = data
                self.pos += n
                self.client.count(n)
                if self.total is not None and self.pos >= self.total:
                    self.client.hosts.ok(resp.url or self.url)
                return n
            if self.total is None and data == b"":
                self.client.hosts.ok(resp.url or self.url)
                return 0  # no length known: a clean end of body is the end
            self._reset()
            self._failures += 1
            if self._failures > self.client.retries:
                raise SourceUnavailable(
                    f"{self.ctx.label()}: {self._where()} kept ending early at byte {self.pos} "
                    f"of {self.total}; retry later",
                    reason="network",
                )
            log.warning("%s: %s cut at byte %d; resuming", self.ctx.label(), self._where(), self.pos)
            self.client._sleep(self.client._delay(self._failures - 1))

    def _reset(self) -> None:
        if self._resp is not None:
            self._resp.close()
            self._resp = None

    def close(self) -> None:
        self._reset()
        super().close()
