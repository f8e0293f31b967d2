"""A brief outage is not a dead host: a host that answered in this run gets retries with backoff, bounded in time.

The fixture Hub leaves its port and comes back on the same one when the test says so (``go_down`` /
``come_back``, or the ``outage`` fault that takes it down right after answering one request); the clients'
waits are replaced by a function that ends the outage or advances a fake clock, so nothing races a sleep.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from reap_omni.catalog.registry import get_dataset
from reap_omni.cli import run
from reap_omni.fixtures.repos import add_spec_fixture
from reap_omni.manifest.record import iter_records
from reap_omni.sources import http as http_mod
from reap_omni.sources.base import SourceUnavailable
from reap_omni.sources.hosts import HostHealth, forget_unreachable_hosts
from reap_omni.sources.http import HttpClient


@pytest.fixture(autouse=True)
def _fresh_breaker() -> Iterator[None]:
    forget_unreachable_hosts()
    yield
    forget_unreachable_hosts()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_host_that_answered_is_waited_for_and_the_transfer_completes(hub_server, caplog):
    url = hub_server.add_file("x/data.bin", b"abc" * 1000)
    clock, waits = FakeClock(), []
    hosts = HostHealth(clock=clock)

    def wait(seconds: float) -> None:  # the outage lasts three waits, then the server is back on its port
        waits.append(seconds)
        clock.now += seconds
        if len(waits) == 3:
            hub_server.come_back()

    c = HttpClient(hosts=hosts, sleep=wait)
    assert c.get_bytes(url, 0, 3) == b"abc" and hosts.answered(url)
    hub_server.go_down()
    with caplog.at_level(logging.WARNING, logger="reap_omni"):
        assert c.get_bytes(url) == b"abc" * 1000
    assert waits == [1.0, 2.0, 4.0] and hosts.dead(url) is None
    notes = [r.getMessage() for r in caplog.records]
    assert len(notes) == 3 and all("connection refused" in n and "it answered before" in n for n in notes)
    assert all("\n" not in n and len(n) < 200 for n in notes)


def test_an_outage_longer_than_the_grace_declares_the_host_down_once(hub_server):
    url = hub_server.add_file("x/data.bin", b"z" * 100)
    clock, waits = FakeClock(), []
    hosts = HostHealth(clock=clock, grace=60.0)

    def wait(seconds: float) -> None:
        waits.append(seconds)
        clock.now += seconds

    c = HttpClient(hosts=hosts, sleep=wait)
    c.get_bytes(url)
    hub_server.go_down()
    with pytest.raises(SourceUnavailable) as exc:
        c.get_bytes(url)
    text = str(exc.value)
    assert "connection refused" in text and "no answer for 60 s after it had answered" in text and "\n" not in text
    assert sum(waits) == pytest.approx(60.0, abs=0.1) and max(waits) <= 8.0  # bounded backoff, bounded in time
    # then it is down for every client at once, like a host that never answered
    other = HttpClient(hosts=hosts, sleep=wait)
    before = len(waits)
    with pytest.raises(SourceUnavailable, match="no answer for 60 s"):
        other.get_bytes(url, 0, 10)
    assert len(waits) == before


def test_a_host_that_never_answered_still_fails_fast(hub_server):
    url = hub_server.add_file("x/data.bin", b"z" * 100)
    hub_server.go_down()
    waits: list[float] = []
    hosts = HostHealth(clock=FakeClock())
    with pytest.raises(SourceUnavailable, match="connection refused"):
        HttpClient(hosts=hosts, sleep=waits.append).get_bytes(url)
    assert len(waits) == 1 and hosts.dead(url)  # the one short probe, as before


class _EndOutageOnWait(logging.Handler):
    """Brings the server back on its port when a client says it waits for a host that answered before: only a
    refused connection leads there, so the outage is certain to have been seen, whatever the threads do."""

    def __init__(self, server):
        super().__init__(logging.WARNING)
        self.server, self.waits = server, 0

    def emit(self, record: logging.LogRecord) -> None:
        if "it answered before" in record.getMessage():
            self.waits += 1
            self.server.come_back()


def test_a_server_gone_for_a_moment_mid_download_does_not_end_the_run(hub_server, tmp_path, monkeypatch, capsys):
    """The server answers the listing and a parquet footer, then leaves its port; a client is refused, says it
    waits for a host that answered before, the server comes back on the same port, and the same run ends with
    every row (exit 0)."""
    spec = get_dataset("librispeech").sources[0]
    add_spec_fixture(hub_server, spec, shards=4, rows_per_shard=6, row_group_size=2)
    hub_server.add_fault("*/0000*.parquet", "outage", count=1)
    monkeypatch.setattr(http_mod, "pause", lambda seconds: None)  # no real waiting; the handler ends the outage
    handler = _EndOutageOnWait(hub_server)
    logger = logging.getLogger("reap_omni")
    logger.addHandler(handler)
    try:
        out = tmp_path / "out"
        code = run(["download", "-d", "librispeech", "-o", str(out), "-n", "12", "--workers", "1"])
    finally:
        logger.removeHandler(handler)
    err = capsys.readouterr().err
    assert code == 0, err
    assert handler.waits >= 1 and not hub_server.down.is_set()
    assert any(f.kind == "outage" and f.hits == 1 for f in hub_server.faults)
    outage = [line for line in err.splitlines() if "it answered before" in line]
    assert outage and all("connection refused" in line and len(line) < 220 for line in outage)
    assert len([r for _, r in iter_records(out / "calibration" / "audio.jsonl")]) == 12
