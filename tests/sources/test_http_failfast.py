"""A dead network fails fast and quietly: one probe per host, then one line, for every client of the process.

Servers are on 127.0.0.1 only: a closed port (refused), a listener that never answers (deadline), a tiny
HTTP server that cuts JSON once. Name resolution failure is simulated by patching ``socket.getaddrinfo``
(the test guard would refuse a real lookup). Attempts are counted, not timed.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import urllib3.util.connection as u3conn

from reap_omni.catalog.registry import get_dataset, select
from reap_omni.cli import run
from reap_omni.errors import ReapOmniError
from reap_omni.fixtures.repos import add_spec_fixture
from reap_omni.fixtures.silent_server import SilentServer, closed_port
from reap_omni.sources.base import SourceUnavailable
from reap_omni.sources.hosts import HOSTS, HostHealth, classify, forget_unreachable_hosts, http_timeout
from reap_omni.sources.http import ErrorContext, HttpClient

API = "/api/datasets/org/repo/revision/main"


@pytest.fixture(autouse=True)
def _fresh_breaker() -> Iterator[None]:
    forget_unreachable_hosts()
    yield
    forget_unreachable_hosts()


@pytest.fixture
def connects(monkeypatch) -> Counter:
    """Connection attempts per ``host:port`` made by urllib3 (what a dead host must not get more of)."""
    seen: Counter = Counter()
    real = u3conn.create_connection

    def counting(address, *args, **kwargs):
        seen[f"{address[0]}:{address[1]}"] += 1
        return real(address, *args, **kwargs)

    monkeypatch.setattr(u3conn, "create_connection", counting)
    return seen


def one_line(text: str, limit: int = 200) -> bool:
    return "\n" not in text and len(text) <= limit and "Max retries" not in text and "Pool" not in text


# -- refused / name resolution ------------------------------------------------------------------------------
def test_refused_host_gets_one_probe_then_every_client_fails_at_once(connects):
    port = closed_port()
    url = f"http://127.0.0.1:{port}{API}"
    sleeps: list[float] = []
    c = HttpClient(endpoint=f"http://127.0.0.1:{port}", sleep=sleeps.append)
    with pytest.raises(SourceUnavailable) as exc:
        c.get_json(url, ctx=ErrorContext(dataset="demo", repo="org/repo"))
    text = str(exc.value)
    assert text.startswith(f"cannot reach 127.0.0.1:{port}: connection refused (") and one_line(text)
    assert exc.value.reason == "network"
    assert connects[f"127.0.0.1:{port}"] == 2 and len(sleeps) == 1 and sleeps[0] <= 1.0
    # another client (each source makes its own), another dataset, another path: no new connection
    other = HttpClient(sleep=sleeps.append)
    for call in (lambda: other.get_json(f"http://127.0.0.1:{port}/api/datasets/x/y"),
                 lambda: other.get_bytes(f"http://127.0.0.1:{port}/files/a.bin", 0, 10),
                 lambda: other.open_stream(f"http://127.0.0.1:{port}/files/b.bin").read()):
        with pytest.raises(SourceUnavailable) as again:
            call()
        assert str(again.value) == text
    assert connects[f"127.0.0.1:{port}"] == 2 and len(sleeps) == 1
    assert f"http://127.0.0.1:{port}" in HOSTS.unreachable()


def test_name_resolution_failure_is_one_line_and_remembered(monkeypatch, connects):
    lookups: Counter = Counter()
    real = socket.getaddrinfo

    def offline(host, *args, **kwargs):
        lookups[host] += 1
        if host.endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", offline)
    hub = "http://hub.example.invalid"
    sleeps: list[float] = []
    with pytest.raises(SourceUnavailable) as exc:
        HttpClient(endpoint=hub, sleep=sleeps.append).get_json(hub + API)
    assert str(exc.value) == ("cannot reach hub.example.invalid: name resolution failed "
                              "(offline? set HF_ENDPOINT to a Hub mirror)")
    assert lookups["hub.example.invalid"] == 2 and len(sleeps) == 1
    with pytest.raises(SourceUnavailable, match="name resolution failed"):
        HttpClient(endpoint=hub).head_size(hub + "/datasets/org/repo/resolve/main/a.parquet")
    assert lookups["hub.example.invalid"] == 2
    # a host that is not the Hub gets a hint without HF_ENDPOINT
    with pytest.raises(SourceUnavailable) as other:
        HttpClient(endpoint=hub, sleep=sleeps.append).get_bytes("https://files.example.invalid/x.tar")
    assert str(other.value) == "cannot reach files.example.invalid: name resolution failed (offline?)"


def test_a_host_that_answers_again_is_not_marked_down(hub_server, connects):
    """One refused connect followed by a completed transfer resets the host's count: flakiness is not death."""
    url = hub_server.add_file("x/data.bin", b"abc" * 100)
    hosts = HostHealth()
    c = HttpClient(hosts=hosts, sleep=lambda s: None)
    hosts.strike(url, "cannot reach it")  # as if a connect had just failed
    assert c.get_bytes(url) == b"abc" * 100
    hosts.strike(url, "cannot reach it")
    assert hosts.dead(url) is None and c.get_bytes(url, 0, 3) == b"abc"


def test_redirect_to_a_dead_host_is_not_attempted(connects):
    port = closed_port()
    dead = f"http://127.0.0.1:{port}/blob"

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(302)
            self.send_header("Location", dead)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            return

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        c = HttpClient(sleep=lambda s: None)
        for _ in range(2):
            with pytest.raises(SourceUnavailable, match=f"cannot reach 127.0.0.1:{port}: connection refused"):
                c.get_bytes(f"http://127.0.0.1:{srv.server_port}/files/x.bin")
        assert connects[f"127.0.0.1:{port}"] == 2  # the second download stopped at the redirect
    finally:
        srv.shutdown()
        srv.server_close()


# -- deadlines ------------------------------------------------------------------------------------------------
def test_timeout_setting_formats(monkeypatch):
    assert http_timeout({}) == (10.0, 30.0)
    assert http_timeout({"REAP_OMNI_HTTP_TIMEOUT": "30"}) == (10.0, 30.0)
    assert http_timeout({"REAP_OMNI_HTTP_TIMEOUT": "2.5"}) == (2.5, 2.5)
    assert http_timeout({"REAP_OMNI_HTTP_TIMEOUT": " 5 , 60 "}) == (5.0, 60.0)
    for bad in ("abc", "0", "-1", "1,2,3", "nan", "inf"):
        with pytest.raises(ReapOmniError, match="REAP_OMNI_HTTP_TIMEOUT"):
            http_timeout({"REAP_OMNI_HTTP_TIMEOUT": bad})
    monkeypatch.setenv("REAP_OMNI_HTTP_TIMEOUT", "3,7")
    assert HttpClient().timeout == (3.0, 7.0)


def test_server_that_never_answers_is_given_up_after_two_deadlines(monkeypatch):
    monkeypatch.setenv("REAP_OMNI_HTTP_TIMEOUT", "0.3")
    srv = SilentServer()
    try:
        sleeps: list[float] = []
        with pytest.raises(SourceUnavailable) as exc:
            HttpClient(endpoint=srv.url, sleep=sleeps.append).get_json(srv.url + API)
        text = str(exc.value)
        assert "no answer within 0.3 s" in text and "REAP_OMNI_HTTP_TIMEOUT" in text and one_line(text, 220)
        assert srv.accepted == 2 and len(sleeps) == 1
        # every later request to that host (any client, any unit) fails at once
        for _ in range(3):
            with pytest.raises(SourceUnavailable, match="no answer within"):
                HttpClient(sleep=sleeps.append).get_bytes(srv.url + "/files/a.bin", 0, 100)
        assert srv.accepted == 2
    finally:
        srv.close()


def test_body_that_stalls_twice_gives_up_instead_of_resuming_forever(monkeypatch):
    monkeypatch.setenv("REAP_OMNI_HTTP_TIMEOUT", "0.3")
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nAccept-Ranges: bytes\r\n\r\n" + b"x" * 10
    for read in ("get_bytes", "open_stream"):
        forget_unreachable_hosts()
        srv = SilentServer(head=head)
        try:
            c = HttpClient(sleep=lambda s: None)
            with pytest.raises(SourceUnavailable, match="no answer within 0.3 s"):
                if read == "get_bytes":
                    c.get_bytes(srv.url + "/files/a.bin")
                else:
                    with c.open_stream(srv.url + "/files/a.bin") as f:
                        f.read()
            assert srv.accepted == 2, read  # the first stall is resumed once; the second one ends it
        finally:
            srv.close()


def test_concurrent_requests_to_a_dead_host_stop_quickly(connects):
    port = closed_port()
    errors: list[str] = []

    def fetch(i: int) -> None:
        try:
            HttpClient(sleep=lambda s: None).get_json(f"http://127.0.0.1:{port}/api/datasets/d{i}/x")
        except SourceUnavailable as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=fetch, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 8 and len(set(errors)) == 1  # one message: the runner prints it once per dataset
    assert connects[f"127.0.0.1:{port}"] <= 16  # at most the first try and one probe each, not 6 each


# -- truncated JSON -------------------------------------------------------------------------------------------
class _Cutting(BaseHTTPRequestHandler):
    """JSON API answers: per path, the first answers are cut (short of Content-Length, or invalid JSON)."""

    protocol_version = "HTTP/1.1"
    plan: dict[str, list[str]] = {}
    served: Counter = Counter()

    def do_GET(self):  # noqa: N802
        path = self.path.split("?")[0]
        self.served[path] += 1
        body = json.dumps({"sha": "a" * 40, "items": list(range(200))}).encode()
        if path.endswith("/tree/main"):
            body = json.dumps([{"type": "file", "path": f"f{i}.parquet", "size": i} for i in range(50)]).encode()
        faults = self.plan.get(path, [])
        fault = faults.pop(0) if faults else None
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if fault == "short":  # promises the whole body, sends a third, hangs up
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 3])
            self.close_connection = True
            return
        if fault == "invalid":  # a complete HTTP answer whose JSON is cut
            body = body[: len(body) // 2]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        return


@pytest.fixture
def cutting_server() -> Iterator[tuple[str, type[_Cutting]]]:
    handler = type("Handler", (_Cutting,), {"plan": {}, "served": Counter()})
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}", handler
    finally:
        srv.shutdown()
        srv.server_close()


def test_truncated_json_is_fetched_again(cutting_server, caplog):
    base, handler = cutting_server
    handler.plan[API] = ["short", "invalid"]
    sleeps: list[float] = []
    c = HttpClient(endpoint=base, sleep=sleeps.append, backoff=0.5)
    with caplog.at_level(logging.WARNING, logger="reap_omni"):
        info = c.get_json(base + API, ctx=ErrorContext(dataset="demo"))
    assert info["sha"] == "a" * 40 and info["items"] == list(range(200))
    assert handler.served[API] == 3 and len(sleeps) == 2
    notes = [r.getMessage() for r in caplog.records]
    assert len(notes) == 2 and all(one_line(n, 160) for n in notes)
    assert "response cut short" in notes[0] and "invalid or cut-short JSON" in notes[1]
    assert c.hosts.dead(base) is None  # cut bodies are not a dead host


def test_truncated_listing_page_is_fetched_again(cutting_server):
    base, handler = cutting_server
    tree = "/api/datasets/org/repo/tree/main"
    handler.plan[tree] = ["invalid"]
    c = HttpClient(endpoint=base, sleep=lambda s: None)
    items = list(c.get_pages(base + tree))
    assert len(items) == 50 and handler.served[tree] == 2


def test_json_that_stays_invalid_ends_in_one_line(cutting_server):
    base, handler = cutting_server
    handler.plan[API] = ["invalid"] * 10
    with pytest.raises(SourceUnavailable) as exc:
        HttpClient(endpoint=base, sleep=lambda s: None, retries=2).get_json(base + API, ctx=ErrorContext("demo"))
    assert exc.value.reason == "network" and "invalid JSON 3 times" in str(exc.value) and one_line(str(exc.value))


# -- retry notes ----------------------------------------------------------------------------------------------
def test_retry_notes_are_one_short_line(hub_server, caplog):
    url = hub_server.add_file("x/" + "d" * 80 + "/data.bin", b"z" * 5000)
    hub_server.add_fault("*/data.bin", "drop")
    hub_server.add_fault("*/data.bin", "503")
    hub_server.add_fault("*/data.bin", "truncate", fraction=0.5)
    with caplog.at_level(logging.WARNING, logger="reap_omni"):
        assert HttpClient(sleep=lambda s: None).get_bytes(url, ctx=ErrorContext("demo")) == b"z" * 5000
    notes = [r.getMessage() for r in caplog.records]
    assert len(notes) == 3 and all(one_line(n, 160) for n in notes), notes
    assert "connection dropped" in notes[0] and "HTTP 503" in notes[1] and "cut after" in notes[2]
    assert all("/…/" in n for n in notes)  # the long path is elided


def test_classify_names_the_failure_in_a_few_words():
    import requests
    import urllib3.exceptions as u3

    t = (10.0, 30.0)
    refused = requests.ConnectionError(u3.MaxRetryError(None, "/", u3.NewConnectionError(None, "x")))
    refused.args[0].reason.__cause__ = ConnectionRefusedError(111, "Connection refused")
    assert classify(refused, t) == ("unreachable", "connection refused")
    assert classify(requests.ConnectTimeout("x"), t) == ("timeout", "no connection within 10 s")
    assert classify(requests.ReadTimeout("x"), t) == ("timeout", "no answer within 30 s")
    assert classify(requests.ConnectionError(OSError(101, "Network is unreachable")), t)[1] == "network unreachable"
    assert classify(requests.ConnectionError(ConnectionResetError(104, "reset")), t) == ("transient",
                                                                                        "connection dropped")


def test_cli_prints_retry_notes_and_quiet_hides_them(hub_server, tmp_path, capsys):
    add_spec_fixture(hub_server, get_dataset("librispeech").sources[0], shards=1, rows_per_shard=4)
    hub_server.add_fault("*/revision/*", "429", retry_after=0)
    assert run(["download", "-d", "librispeech", "-o", str(tmp_path / "a"), "-n", "2"]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if "retry 1/5" in line]
    assert len(notes) == 1 and notes[0].startswith("reap-omni: dataset 'librispeech': HTTP 429 from ")
    assert one_line(notes[0], 160)
    hub_server.add_fault("*/revision/*", "429", retry_after=0)
    assert run(["download", "-d", "librispeech", "-o", str(tmp_path / "b"), "-n", "2", "--quiet"]) == 0
    assert "retry" not in capsys.readouterr().err
    assert not any(r.kind == "429" and r.count for r in hub_server.faults)  # the fault did fire


def test_offline_quickstart_is_one_line_per_dataset(monkeypatch, tmp_path, capsys, connects):
    """Every Hub host refused, every other name unresolvable: no retries, one line per dataset."""
    lookups: Counter = Counter()
    real = socket.getaddrinfo

    def offline(host, *args, **kwargs):
        lookups[host] += 1
        if host not in ("127.0.0.1", "localhost"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", offline)
    port = closed_port()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    code = run(["quickstart", "--output", str(tmp_path / "qs"), "--workers", "1"])
    assert code != 0
    err = capsys.readouterr().err.splitlines()
    recommended = [d.name for d in select(None, "all", recommended_only=True)]
    failed = [line for line in err if line.startswith("reap-omni: ") and " rows: " in line and "stratum" not in line]
    assert sorted(line.split(":")[1].strip() for line in failed) == sorted(recommended)
    assert all(line.count(f"cannot reach 127.0.0.1:{port}: connection refused") == 1 for line in failed)
    assert all(len(line) < 400 for line in err), max(err, key=len)
    assert not any("retry" in line or "Max retries" in line for line in err)
    # with one worker, exactly the first try and one probe per host, whatever the number of sources
    assert connects[f"127.0.0.1:{port}"] == 2
    assert lookups and all(n == 2 for host, n in lookups.items() if host != "127.0.0.1")
