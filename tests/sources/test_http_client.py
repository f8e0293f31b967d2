"""Retries, Retry-After, truncation refetch, token handling and error mapping of the shared HTTP client."""

from __future__ import annotations

import pytest

from reap_omni.sources.base import SourceUnavailable
from reap_omni.sources.http import ErrorContext, HttpClient, redact
from reap_omni.sources.range_file import RangeFile

DATA = bytes(range(256)) * 400  # 100 KiB


def client(sleeps: list[float] | None = None, **kw) -> HttpClient:
    log = sleeps if sleeps is not None else []
    return HttpClient(sleep=log.append, backoff=0.5, **kw)


def test_retry_after_is_honoured_and_5xx_backs_off(hub_server):
    url = hub_server.add_file("x/data.bin", DATA)
    hub_server.add_fault("*/data.bin", "429", retry_after=3)
    hub_server.add_fault("*/data.bin", "500", count=2)
    sleeps: list[float] = []
    assert client(sleeps).get_bytes(url) == DATA
    assert sleeps == [3.0, 1.0, 2.0]  # Retry-After, then 0.5 s doubling per attempt


def test_truncated_body_is_completed_with_a_range_request(hub_server):
    url = hub_server.add_file("x/data.bin", DATA)
    hub_server.add_fault("*/data.bin", "truncate", fraction=0.3)
    c = client()
    assert c.get_bytes(url) == DATA
    ranges = [r.range for r in hub_server.requests("*/data.bin")]
    assert ranges[0] is None and ranges[1].startswith("bytes=") and ranges[1] != "bytes=0-"
    assert hub_server.total_bytes == len(DATA) == c.bytes_read


def test_dropped_connections_are_retried_then_reported(hub_server):
    url = hub_server.add_file("x/data.bin", DATA)
    hub_server.add_fault("*/data.bin", "drop", count=2)
    assert client().get_bytes(url, 10, 20) == DATA[10:20]
    hub_server.add_fault("*/data.bin", "503", count=10)
    with pytest.raises(SourceUnavailable) as exc:
        client(retries=2).get_bytes(url)
    assert exc.value.reason == "network" and "3 attempts" in str(exc.value)


def test_stream_resumes_after_a_cut(hub_server):
    url = hub_server.add_file("x/data.bin", DATA)
    hub_server.add_fault("*/data.bin", "truncate", fraction=0.5)
    c = client()
    with c.open_stream(url) as f:
        assert f.read() == DATA
    assert [r.range for r in hub_server.requests("*/data.bin")] == [None, f"bytes={len(DATA) // 2}-"]


def test_gated_messages_are_actionable_and_token_free(hub_server):
    hub_server.add_repo("org/gated", {"a.bin": DATA}, gated=True, allowed_tokens=("hf_allowedtoken1",))
    url = hub_server.resolve_url("org/gated", "a.bin")
    ctx = ErrorContext(dataset="demo", repo="org/gated", revision="main")
    with pytest.raises(SourceUnavailable) as no_token:
        client().get_bytes(url, ctx=ctx)
    assert no_token.value.reason == "gated" and "hf auth login" in str(no_token.value)
    assert "HF_TOKEN" in str(no_token.value)
    with pytest.raises(SourceUnavailable) as wrong:
        client(token="hf_wrongsecret999").get_bytes(url, ctx=ctx)
    text = str(wrong.value)
    assert "accept the conditions" in text and f"{hub_server.endpoint}/datasets/org/gated" in text
    assert "hf_wrongsecret999" not in text
    assert client(token="hf_allowedtoken1").get_bytes(url, ctx=ctx) == DATA


def test_token_goes_only_to_the_hub_endpoint(hub_server, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_fromenvironment1")
    c = HttpClient(endpoint="http://127.0.0.2:1")  # the Hub is elsewhere: our server is a plain mirror
    url = hub_server.add_file("x/data.bin", DATA)
    c.get_bytes(url, 0, 10)
    assert not any(r.authorized for r in hub_server.requests())
    c2 = HttpClient()
    c2.get_bytes(url, 0, 10)
    assert hub_server.requests()[-1].authorized


def test_not_found_names_the_key_to_change(hub_server):
    c = client()
    with pytest.raises(SourceUnavailable) as exc:
        c.get_json(c.api_url("org/nothere", "revision", "main"), ctx=ErrorContext("demo", "org/nothere", "main"))
    assert exc.value.reason == "not_found" and "`repo`" in str(exc.value) and "org/nothere" in str(exc.value)


def test_redact():
    assert redact("Bearer hf_abcdefghijk and sk", "sk") == "Bearer hf_*** and ***"


def test_range_file_reads_only_what_is_asked(hub_server):
    url = hub_server.add_file("x/data.bin", DATA)
    c = client()
    with RangeFile(c, url, min_fetch=1000) as f:
        f.seek(-10, 2)
        assert f.read() == DATA[-10:]
        f.seek(5000)
        assert f.read(10) == DATA[5000:5010]
        assert f.read(10) == DATA[5010:5020]  # served from the 1000-byte span
        assert f.read(2000) == DATA[5020:7020]  # only the missing tail is fetched
    assert hub_server.total_bytes == c.bytes_read == 10 + 1000 + (7020 - 6000)
